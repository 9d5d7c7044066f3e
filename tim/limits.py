"""Memory estimates made before the big arrays are allocated.

A tiny ``--cell-size`` over a city, or a hostile count in a scenario, would otherwise be found
out by the operating system's out-of-memory killer (taking other work on a shared server with
it) or by a ``MemoryError`` traceback. The functions here refuse such work up front with a
message that names the setting and the numbers.
"""

from __future__ import annotations

import os

from tim.errors import InputError

#: Share of the machine's available memory one job may plan to use.
MEMORY_SHARE = 0.8


def available_memory() -> int:
    """Bytes of memory available now (``$TWIN_MAX_MEMORY`` overrides, e.g. in tests)."""
    override = os.environ.get("TWIN_MAX_MEMORY")
    if override:
        return int(float(override))
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_memory(nbytes: float, what: str, *, field: str | None = None,
                 hint: str | None = None) -> None:
    """Refuse work that would need ``nbytes`` when more than :data:`MEMORY_SHARE` of the
    available memory.

    Examples
    --------
    >>> check_memory(1e6, "a small grid")
    >>> check_memory(1e18, "a grid of 1e17 cells", field="--cell-size")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tim.errors.InputError: --cell-size: a grid of 1e17 cells needs about 1,000,000,000 GB ...
    """
    budget = MEMORY_SHARE * available_memory()
    if nbytes > budget:
        raise InputError(f"{what} needs about {nbytes / 1e9:,.0f} GB of memory, more than the "
                         f"{budget / 1e9:,.1f} GB available", field=field, hint=hint)
