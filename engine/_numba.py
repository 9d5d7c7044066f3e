"""The one place that configures Numba for the engine's kernels.

``jit`` compiles a serial kernel, ``parallel_jit`` a kernel with ``prange`` outer loops. Both cache
their machine code next to the module, so Dask workers and later runs load it instead of
recompiling. Kernels take and return arrays only: no objects, I/O, logging or globals, and they
never call ``np.random`` (numba's generator state is per thread; see ``kernels/random.py``).
"""

from __future__ import annotations

import llvmlite.ir
import numba
import numba.extending

jit = numba.njit(cache=True, nogil=True)
parallel_jit = numba.njit(cache=True, nogil=True, parallel=True)
prange = numba.prange


@numba.extending.intrinsic
def _float_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (an LLVM bitcast: free, vectorisable)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvmlite.ir.IntType(64))
    return numba.types.int64(numba.types.float64), codegen


@numba.extending.intrinsic
def _bits_float(typingctx, i):
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvmlite.ir.DoubleType())
    return numba.types.float64(numba.types.int64), codegen


@numba.njit(cache=True, inline="always")
def cbrt(x: float) -> float:
    """Cube root of a positive normal float64, ~3x faster than libm's and branch-free.

    The exponent bits divided by three give a first guess within a few per cent (Kahan's
    trick); two Halley steps, each cubing the number of correct digits, bring it to a few ulp
    (relative error < 1e-14). Used where a kernel needs ``h ** (7/3)`` per face.
    """
    y = _bits_float(_float_bits(x) // 3 + 0x2A9F7893782DA1CE)
    for _ in range(2):
        y3 = y * y * y
        y = y * (y3 + 2.0 * x) / (2.0 * y3 + x)
    return y


if numba.config.DISABLE_JIT:  # intrinsics only exist compiled; plain Python gets the libm root
    def cbrt(x: float) -> float:  # noqa: F811
        return x ** (1.0 / 3.0)
