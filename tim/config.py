"""Configuration files - catalogs, class maps, plans, height rules, scenarios, land-use
parameters, the indicator registry - read the same way: YAML parsed with errors that name the
file, and pydantic validation failures turned into an :class:`~tim.errors.InputError` naming
the file, the key (dotted path) and the value.

This is the input gate for YAML: a file from outside is read here only, as UTF-8 text of at most
:data:`MAX_YAML_BYTES`, parsed with PyYAML's safe loader (no Python objects), and refused when
its aliases would expand past :data:`MAX_YAML_NODES` values (a "billion laughs" file of a few
hundred bytes otherwise expands to billions of values in whatever walks it next) or refer to
themselves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from tim.errors import InputError

#: Largest configuration file accepted (bytes): real ones are a few kB; a hydrograph table of
#: ten thousand records is about 300 kB.
MAX_YAML_BYTES = 4 * 1024 * 1024
#: Most values a document may hold once its aliases are expanded.
MAX_YAML_NODES = 1_000_000


def read_text(path: str | Path, what: str, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The text of a UTF-8 file (a byte-order mark allowed), size-capped.

    Raises
    ------
    InputError
        The file is missing, unreadable, larger than ``max_bytes`` or not UTF-8 text; the
        message names the file and, for the encoding, the first bad byte and its offset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "latin1.yaml"
    >>> _ = p.write_bytes("name: caf\\xe9".encode("latin-1"))
    >>> read_text(p, "scenario file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tim.errors.InputError: ...latin1.yaml: the scenario file is not UTF-8 text (byte 0xe9 at offset 9; ...)
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"the {what} is not a regular file", source=path)
        if size > max_bytes:
            raise InputError(f"the {what} is too large ({size:,} bytes; at most "
                             f"{max_bytes:,})", source=path)
        data = path.read_bytes()[:max_bytes + 1]
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror or exc}", source=path) from exc
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"the {what} is UTF-16 text; save it as UTF-8", source=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}; save it as UTF-8)", source=path) from None


def read_yaml(path: str | Path, what: str, *, not_a_mapping: str | None = None) -> Any:
    """The parsed YAML document of ``path``, through the input gate (see the module).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for the messages ("catalog file", "plan", ...).
    not_a_mapping : str, optional
        If given, a document that is not a mapping is an error with this message.

    Raises
    ------
    InputError
        ``<path>: <what> not found``, ``<path>: cannot read the <what>: ...``,
        ``<path>: not valid YAML: ...``, too large, not UTF-8, aliases expanding too far, or
        ``<path>: <not_a_mapping>``.

    Examples
    --------
    >>> read_yaml("nowhere.yaml", "plan")
    Traceback (most recent call last):
    ...
    tim.errors.InputError: nowhere.yaml: plan not found
    """
    path = Path(path)
    text = read_text(path, what)
    raw = parse_yaml(text, source=path)
    if not_a_mapping is not None and not isinstance(raw, dict):
        raise InputError(not_a_mapping, source=path)
    return raw


def parse_yaml(text: str, *, source: str | Path | None = None,
               max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse YAML text safely: no Python objects, aliases bounded (see the module).

    Examples
    --------
    >>> parse_yaml("a: &x [1, 2]\\nb: *x")
    {'a': [1, 2], 'b': [1, 2]}
    >>> bomb = "a: &a [x, x]\\n" + "".join(
    ...     f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\\n"
    ...     for p, c in zip("abcdefgh", "bcdefghi"))
    >>> parse_yaml(bomb, source="bomb.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tim.errors.InputError: bomb.yaml: g: aliases expand the document past 1,000,000 values ...
    """
    import yaml

    try:
        raw = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_short(' '.join(str(exc).split()))}",
                         source=source) from None
    except RecursionError:
        raise InputError("not valid YAML: nested too deeply", source=source) from None
    _check_expansion(raw, source, max_nodes)
    return raw


def _loader() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class GateLoader(base):  # type: ignore[misc, valid-type]
        """The safe loader; constructs nothing but plain values."""

    return GateLoader


def _check_expansion(raw: Any, source: str | Path | None, max_nodes: int) -> None:
    """Refuse a document whose values, aliases expanded, exceed ``max_nodes`` or that holds a
    value inside itself; counted once per distinct object (memoised), so linear in the file."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any, key: str) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        ident = id(value)
        if ident in sizes:
            return sizes[ident]
        if ident in open_:
            raise InputError("an alias refers to the value that contains it (a cycle)",
                             source=source, field=key or None)
        open_.add(ident)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        total = 1
        for k, v in items:
            total += size(v, f"{key}.{k}" if key else str(k))
            if total > max_nodes:
                raise InputError(f"aliases expand the document past {max_nodes:,} values "
                                 "(an alias bomb?)", source=source, field=key or str(k),
                                 hint="write the values out, or use fewer nested aliases")
        open_.discard(ident)
        sizes[ident] = total
        return total

    try:
        size(raw, "")
    except RecursionError:
        raise InputError("nested too deeply", source=source) from None


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


#: Largest CSV table accepted (bytes).
MAX_CSV_BYTES = 256 * 1024 * 1024


def read_csv(path: str | Path, what: str, **options: Any) -> Any:
    """A CSV file as a pandas ``DataFrame``, through the input gate: size-capped, UTF-8 (a BOM
    allowed), and every parse failure an :class:`InputError` naming the file.

    ``options`` go to :func:`pandas.read_csv`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty.csv"
    >>> _ = p.write_text("")
    >>> read_csv(p, "demand table")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tim.errors.InputError: ...empty.csv: the demand table is empty (no header row)
    """
    import io

    import pandas as pd

    text = read_text(path, what, max_bytes=MAX_CSV_BYTES)
    if not text.strip():
        raise InputError(f"the {what} is empty (no header row)", source=path)
    try:
        return pd.read_csv(io.StringIO(text), **options)
    except (ValueError, pd.errors.ParserError, OverflowError) as exc:
        raise InputError(f"cannot read the {what} as CSV: {_short(str(exc), 200)}",
                         source=path) from None


def numeric_column(table: Any, column: str, source: str | Path, *, integer: bool = False,
                   low: float = -math.inf, high: float = math.inf, blank: bool = False) -> Any:
    """``table[column]`` as finite floats (or integers) in ``[low, high]``; the first cell that
    is not is an error naming the file, the column and the row (as a spreadsheet counts it:
    the header is row 1). ``blank`` lets empty cells through as NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_column(pd.DataFrame({"z": ["1", "ten"]}), "z", "t.csv")
    Traceback (most recent call last):
    ...
    tim.errors.InputError: t.csv: z: row 3: not a number (got 'ten')
    """
    import numpy as np
    import pandas as pd

    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    empty = raw.isna() | (raw.astype(str).str.strip() == "")
    ok = np.isfinite(values) & (values >= low) & (values <= high)
    if integer:
        ok &= values == np.round(values)
    bad = ~ok & ~(empty & blank)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        number = np.isfinite(values.iloc[i])
        problem = ("not a number" if not number else
                   f"must be {'an integer' if integer else 'a number'} in [{low:g}, {high:g}]")
        raise InputError(f"row {i + 2}: {problem}", source=source, field=column,
                         value=raw.iloc[i])
    return values.astype("int64") if integer and not blank else values


def validation_error(exc: Any, source: str | Path, *, prefix: Sequence[Any] = (),
                     skip: int = 0) -> InputError:
    """The first error of a pydantic ``ValidationError`` as an :class:`InputError`.

    The field is the error's location joined by dots (``prefix`` put in front, its first
    ``skip`` parts dropped); the problem is pydantic's message without its "Value error, "
    prefix, or "required key is missing"; the value is the input at fault (none for a missing
    key or a whole mapping).
    """
    error = exc.errors()[0]
    key = ".".join(str(p) for p in (*prefix, *error["loc"][skip:])) or None
    if error["type"] == "missing":
        return InputError("required key is missing", source=source, field=key)
    value = error.get("input")
    return InputError(error["msg"].removeprefix("Value error, "), source=source, field=key,
                      value=None if isinstance(value, dict) else value)
