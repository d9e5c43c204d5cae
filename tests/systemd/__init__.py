"""Tests of multus-config.service under a real systemd booted in new namespaces."""
