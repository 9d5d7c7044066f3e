"""Benchmarks: pytest-benchmark, each kernel beside its baseline at several sizes.

Run: ``.venv/bin/python -m pytest benchmarks`` (compile time is excluded: every kernel is
called once before timing). Compare rows of the same group: the ratio is the speed-up.
"""

import sys
from pathlib import Path

# The slow references (e.g. tests/flood_reference.py) are the benchmarks' baselines too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
