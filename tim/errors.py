"""Typed errors shared by every package. Each one names the input at fault and, where known, the
file, the field (or key) and the offending value, so the CLI can print it as is and exit non-zero.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

#: Longest quotation of a value in a message (characters): a hostile file's value may be
#: megabytes long or, through YAML aliases, practically endless.
MAX_QUOTE = 120


class TwinError(Exception):
    """Base of every error Territory Twin raises on purpose."""


class InputError(TwinError, ValueError):
    """Bad input: a file, a field (column, key or layer) in it, and what is wrong.

    The message reads ``<file>: <field>: <problem> (got <value>; <hint>)`` so that a user sees
    at once where to look and what was found.
    """

    def __init__(self, problem: str, *, source: str | Path | None = None,
                 field: str | None = None, value: Any = None, hint: str | None = None):
        self.problem = problem
        self.source = str(source) if source is not None else None
        self.field = field
        self.value = value
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        where = ": ".join(str(p) for p in (self.source, self.field) if p)
        text = f"{where}: {self.problem}" if where else self.problem
        notes = [f"got {quote(self.value)}"] if self.value is not None else []
        notes += [self.hint] if self.hint else []
        return f"{text} ({'; '.join(notes)})" if notes else text


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """A short ``repr`` of ``value`` for a message: at most ``limit`` characters, long strings,
    lists and mappings cut with ``...`` (never walks more than a few items, so it is cheap even
    for a huge or deeply nested value).

    Examples
    --------
    >>> quote("x" * 1000)[:20], len(quote("x" * 1000)) <= MAX_QUOTE
    ("'xxxxxxxxxxxxxxxxxxx", True)
    >>> quote([1.5, [2, [3, [4, [5]]]]])
    '[1.5, [2, [3, [...]]]]'
    """
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = max(limit - 10, 10)
    shortener.maxlevel, shortener.maxlist, shortener.maxtuple = 3, 6, 6
    shortener.maxdict = shortener.maxset = 4
    text = shortener.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class CRSError(InputError):
    """A layer without a CRS, with an unknown CRS, or in a CRS that does not match."""


class GeometryError(InputError):
    """Invalid, empty or unusable geometry."""


class MissingFieldError(InputError, KeyError):
    """A territory lacks a field that an operation needs."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return self.args[0]


class StoreError(TwinError):
    """A TIM store or run directory that cannot be read: missing, corrupt or of another version."""
