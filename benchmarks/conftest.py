"""Benchmarks: pytest-benchmark, each kernel beside its baseline at several sizes.

Run: ``.venv/bin/python -m pytest benchmarks`` (compile time is excluded: every kernel is
called once before timing). Compare rows of the same group: the ratio is the speed-up.
"""
