"""The one place that configures Numba for the engine's kernels.

``jit`` compiles a serial kernel, ``parallel_jit`` a kernel with ``prange`` outer loops. Both cache
their machine code next to the module, so Dask workers and later runs load it instead of
recompiling. Kernels take and return arrays only: no objects, I/O, logging or globals, and they
never call ``np.random`` (numba's generator state is per thread; see ``kernels/random.py``).
"""

from __future__ import annotations

import numba

jit = numba.njit(cache=True, nogil=True)
parallel_jit = numba.njit(cache=True, nogil=True, parallel=True)
prange = numba.prange
