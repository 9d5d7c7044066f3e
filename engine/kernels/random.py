"""Counter-based random numbers: a uniform draw is a hash of (seed, step, stream, cell).

Every cell's draw depends only on its own key, never on the order in which threads visit cells,
so a kernel gives bit-identical results with any number of threads (numba's ``np.random`` keeps
one state per thread and would not). The hash is SplitMix64 (Steele, Lea & Flood 2014), whose
output passes BigCrush when fed a counter.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit, parallel_jit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U53 = 1.0 / 9007199254740992.0  # 2**-53


@jit
def splitmix64(x: np.uint64) -> np.uint64:
    z = np.uint64(x) + _GOLDEN  # a Python int would otherwise be typed int64 (then float64)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def stream_key(seed: np.uint64, step: np.uint64, stream: np.uint64) -> np.uint64:
    """The key shared by all cells of one (seed, step, stream): hashed once per kernel call."""
    return splitmix64(splitmix64(splitmix64(seed) ^ np.uint64(step)) ^ np.uint64(stream))


@jit
def stream_keys(seed: np.uint64, step: np.uint64, first: np.uint64, count: int) -> np.ndarray:
    """The keys of streams ``first .. first + count - 1`` (one call instead of ``count``)."""
    out = np.empty(count, dtype=np.uint64)
    for i in range(count):
        out[i] = stream_key(seed, step, np.uint64(first) + np.uint64(i))
    return out


@jit
def uniform_at(key: np.uint64, cell: np.uint64) -> float:
    """A draw in the open interval (0, 1) for ``cell`` under a :func:`stream_key`."""
    return ((splitmix64(np.uint64(key) ^ np.uint64(cell)) >> np.uint64(11)) + 0.5) * _U53


@jit
def uniform(seed: np.uint64, step: np.uint64, stream: np.uint64, cell: np.uint64) -> float:
    """A draw in the open interval (0, 1) keyed on its four counters."""
    return uniform_at(stream_key(seed, step, stream), cell)


@parallel_jit
def _uniform_grid(seed: np.uint64, step: np.uint64, stream: np.uint64,
                  rows: int, cols: int) -> np.ndarray:
    key = stream_key(seed, step, stream)
    out = np.empty((rows, cols), dtype=np.float64)
    for r in prange(rows):
        for c in range(cols):
            out[r, c] = uniform_at(key, np.uint64(r * cols + c))
    return out


def uniform_grid(seed: int, step: int, stream: int, shape: tuple[int, int]) -> np.ndarray:
    """Uniform (0, 1) draws for every cell of a grid; cell ``i`` (row-major) uses key ``i``.

    Examples
    --------
    >>> a = uniform_grid(7, 0, 0, (2, 3))
    >>> bool(((a > 0) & (a < 1)).all()), a.shape
    (True, (2, 3))
    >>> bool((a == uniform_grid(7, 0, 0, (2, 3))).all())
    True
    """
    return _uniform_grid(np.uint64(seed), np.uint64(step), np.uint64(stream),
                         int(shape[0]), int(shape[1]))


@parallel_jit
def _uniform_ids(ids: np.ndarray, seed: np.uint64, step: np.uint64,
                 stream: np.uint64) -> np.ndarray:
    key = stream_key(seed, step, stream)
    out = np.empty(ids.size, dtype=np.float64)
    for i in prange(ids.size):
        out[i] = uniform_at(key, np.uint64(ids[i]))
    return out


def uniform_ids(ids: np.ndarray, seed: int, step: int, stream: int) -> np.ndarray:
    """One uniform (0, 1) draw per id (e.g. a household's stable id), independent of order.

    Examples
    --------
    >>> a = uniform_ids(np.array([5, 9]), 1, 2, 3)
    >>> bool(a[1] == uniform_ids(np.array([9]), 1, 2, 3)[0])
    True
    """
    return _uniform_ids(np.ascontiguousarray(ids, dtype=np.int64), np.uint64(seed),
                        np.uint64(step), np.uint64(stream))
