"""Benchmarks of the supervisor as a real process on temporary nodes.

``python -m tests.benchmarks.run`` measures idle cost, reaction times, start-up
and behaviour under bursts; ``python -m tests.benchmarks.importtime`` profiles
the start path. No module here is named ``test_*``, so pytest never collects
them; nothing in them asserts on timings.
"""
