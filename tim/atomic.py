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
from typing import Iterator


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
