"""Stress runs of real supervisor processes. Each module also runs as a command."""
