"""Write a directory or a file all at once: build it beside its destination, then swap it in.

A crash, an error or Ctrl-C while writing leaves the previous directory or file (if any)
untouched and no half-written one behind; readers never see a mixture of old and new files.

Three guarantees hold even against ``kill -9``:

* **One writer.** Each destination has a lock (``.<name>.lock`` beside it, an ``flock`` the
  kernel drops when its process dies): a second writer fails at once with
  :class:`OutputBusyError` naming the process that holds it, instead of both "succeeding" and
  the last one silently winning.
* **Never nothing.** A directory is swapped in with one ``renameat2(RENAME_EXCHANGE)`` where the
  file system supports it, so at every instant the final name holds the old or the new result.
  Elsewhere it takes two renames; a kill between them leaves the old result as
  ``.<name>.old-<token>``, which the next writer (or :func:`recover`) puts back.
* **No litter.** Staging folders are named ``.<name>.tmp-<token>``: the next writer of the same
  destination, holding its lock, knows that no one else is writing and removes them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Literal

from tim.errors import InputError, TwinError


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_held: dict[str, int] = {}  # lock path -> depth, for the locks this process holds
_held_lock = threading.Lock()
_locks: dict[str, int] = {}  # lock path -> open descriptor


class OutputBusyError(TwinError):
    """Another process is writing the same output."""


def lock_path(destination: str | os.PathLike) -> Path:
    """The lock file of ``destination`` (``.<name>.lock`` in the same folder)."""
    destination = Path(destination).absolute()
    return destination.with_name(f".{destination.name}.lock")


@contextlib.contextmanager
def output_lock(destination: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of ``destination`` for the block; re-entrant within a process.

    Raises
    ------
    OutputBusyError
        Another process holds it (the message names its process id).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with output_lock(out), output_lock(out):
    ...     lock_path(out).exists()
    True
    >>> lock_path(out).exists()  # removed on release
    False
    """
    path = lock_path(destination)
    key = str(path)
    with _held_lock:
        if key in _held:
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_lock:
                _held[key] -= 1
        return
    if not path.parent.is_dir():
        # Nothing can be written there yet (and a failed command must not leave the folder
        # behind); the atomic writers create the parent, then lock.
        yield
        return
    fd = _acquire(path, destination)
    with _held_lock:
        _held[key], _locks[key] = 1, fd
    try:
        yield
    finally:
        with _held_lock:
            del _held[key], _locks[key]
        # Unlink while still locked: a process that opened the old file then finds, once it
        # has the lock, that the path no longer names its file, and retries (see _acquire).
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path, destination: str | os.PathLike) -> int:
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputBusyError(
                f"{destination}: another process (pid {holder}) is writing this output; "
                "wait for it to finish or choose another output") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)  # the holder removed it meanwhile: take the new one
    raise OutputBusyError(f"{destination}: cannot take the output lock ({path})")


def recover(destination: str | os.PathLike) -> None:
    """Clean up after writers of ``destination`` that were killed: put a retired result back
    if the final name is empty, and remove staging and retired folders.

    Call it only while holding :func:`output_lock` (the atomic writers do), so that no live
    writer's folders are touched.
    """
    destination = Path(destination).absolute()
    parent = destination.parent
    if not parent.is_dir():
        return
    pattern = re.compile(rf"\.{re.escape(destination.name)}\.(tmp|old)-[0-9a-f]{{8}}")
    litter = sorted((p for p in parent.iterdir() if pattern.fullmatch(p.name)),
                    key=lambda p: p.lstat().st_mtime, reverse=True)
    if not os.path.lexists(destination):
        retired = [p for p in litter if pattern.fullmatch(p.name).group(1) == "old"]
        if retired:
            os.replace(retired[0], destination)
            litter.remove(retired[0])
    for item in litter:
        _remove(item)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def atomic_directory(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory that replaces ``destination`` when the block succeeds.

    Holds the destination's :func:`output_lock` throughout and first cleans up after killed
    writers (:func:`recover`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> (out / "a.txt").read_text(), [p.name for p in out.parent.iterdir()]
    ('done', ['result'])
    """
    destination = Path(destination).absolute()
    destination.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(destination):
        recover(destination)
        token = uuid.uuid4().hex[:8]
        staging = destination.with_name(f".{destination.name}.tmp-{token}")
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if destination.is_dir() and not destination.is_symlink() \
                and _exchange(staging, destination):
            shutil.rmtree(staging, ignore_errors=True)  # now holds the old result
            return
        retired = destination.with_name(f".{destination.name}.old-{token}")
        if os.path.lexists(destination):
            os.replace(destination, retired)
        os.replace(staging, destination)
        _remove(retired)


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
    destination = Path(destination).absolute()
    destination.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(destination):
        recover(destination)
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
