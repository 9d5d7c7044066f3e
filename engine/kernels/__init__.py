"""Array-only Numba kernels, one operation family per module, each behind a typed public function."""
