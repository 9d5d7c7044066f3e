"""Write a directory or a file all at once: build it beside its destination, then swap it in.

A crash, an error or Ctrl-C while writing leaves the previous directory or file (if any)
untouched and no half-written one behind; readers never see a mixture of old and new files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Literal

from tim.errors import InputError


@contextlib.contextmanager
def atomic_directory(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory that replaces ``destination`` when the block succeeds.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> (out / "a.txt").read_text()
    'done'
    """
    destination = Path(destination).absolute()
    destination.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = destination.with_name(f".{destination.name}.tmp-{token}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = destination.with_name(f".{destination.name}.old-{token}")
    if destination.exists():
        os.replace(destination, retired)
    os.replace(staging, destination)
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging path beside ``destination`` to write; it replaces ``destination`` when
    the block succeeds and is removed when it fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> out.read_text(), [p.name for p in out.parent.iterdir()]
    ('{}', ['a.json'])
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield staging
        os.replace(staging, destination)
    finally:
        staging.unlink(missing_ok=True)


def check_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], *,
                 kind: Literal["directory", "file"] = "directory", option: str = "--out") -> Path:
    """``output`` resolved, if writing it can harm nothing that is read or worked in.

    An output is replaced whole (:func:`atomic_directory`), so an output that *is* an input,
    *contains* one, or contains the working directory would delete it, and one that lies
    *inside* an input folder would change that input. A directory output may not be an existing
    file, nor a file output an existing directory. Links are resolved first, so a link cannot
    hide an input. Inputs that do not exist are skipped (their own reader reports them).

    Raises
    ------
    InputError
        Naming ``option``, the output and the input it would harm.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tim = pathlib.Path(tempfile.mkdtemp())
    >>> check_output(tim / "rasters", [tim])
    Traceback (most recent call last):
    ...
    tim.errors.InputError: --out: lies inside the input ... (got '...rasters'; ...)
    """
    given = Path(output).expanduser()
    out = given.resolve()
    if kind == "directory" and out.is_file():
        raise InputError("is an existing file, not a directory", field=option,
                         value=str(given), hint="give a new or existing directory")
    if kind == "file" and out.is_dir():
        raise InputError("is an existing directory, not a file", field=option,
                         value=str(given), hint="give a file name")
    hint = "write the output somewhere else"
    for item in inputs:
        source = Path(item).expanduser()
        if not source.exists():
            continue
        source = source.resolve()
        if out == source:
            raise InputError(f"is the input {source}: writing would replace it", field=option,
                             value=str(given), hint=hint)
        if source.is_relative_to(out):
            raise InputError(f"contains the input {source}: writing would replace it",
                             field=option, value=str(given), hint=hint)
        if source.is_dir() and out.is_relative_to(source):
            raise InputError(f"lies inside the input {source}", field=option,
                             value=str(given), hint=hint)
    if Path.cwd().resolve().is_relative_to(out):
        raise InputError("contains the working directory: writing would replace it",
                         field=option, value=str(given), hint=hint)
    return out
