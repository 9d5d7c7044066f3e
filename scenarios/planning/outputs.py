"""The folder a planners' check writes (``twin sunlight``, ``twin lifecircle``) and reads back:
tables, rasters under ``rasters/`` and a ``manifest.json`` naming its ``kind``, written
atomically; found beside the TIM or run it checks (``<DIR><suffix>``, e.g. ``run-a-sunlight``)
and opened with its kind checked. One shape for both, so that the dashboard, the review and
the command line find and trust them alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from tim.errors import InputError
from tim.model import Grid


def file_record(path: str | Path, **fields: Any) -> dict[str, Any]:
    """``fields``, the file's path and its SHA-256: which rule file or input a check used."""
    path = Path(path)
    return {**fields, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@contextmanager
def check_folder(out: str | Path, manifest: dict[str, Any], grid: Grid,
                 rasters: Mapping[str, np.ndarray] | None = None) -> Iterator[Path]:
    """Write a check's folder ``out`` atomically: the block writes the tables into the folder
    it is given; ``rasters`` (name: values on ``grid``) go to ``rasters/<name>.tif`` as float32
    with NaN for no data, and ``manifest`` to ``manifest.json`` once the block has succeeded
    (a failed block leaves ``out`` as it was)."""
    from tim.atomic import atomic_directory
    from tim.store import write_raster

    with atomic_directory(out) as tmp:
        if rasters:
            (tmp / "rasters").mkdir()
            for name, values in rasters.items():
                write_raster(tmp / "rasters" / f"{name}.tif", values.astype(np.float32), grid,
                             float("nan"))
        yield tmp
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False,
                                                      default=str))


def read_check_manifest(path: str | Path, kind: str, what: str) -> dict[str, Any]:
    """The manifest of a check's folder ``path``; InputError unless it is one of ``kind``
    (written by ``twin <kind>``; ``what`` names it in the message)."""
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the manifest: {exc}", source=path / "manifest.json",
                         field="manifest") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != kind:
        raise InputError(f"not a {what} folder (twin {kind} --out)", source=path,
                         field="manifest.kind",
                         value=manifest.get("kind") if isinstance(manifest, dict) else None)
    return manifest


def folder_beside(base: str | Path, suffix: str) -> Path | None:
    """The check folder written beside a TIM or run folder ``base`` (``<base><suffix>``), or
    None when there is none."""
    base = Path(base)
    folder = base.with_name(base.name + suffix)
    return folder if (folder / "manifest.json").is_file() else None


F = TypeVar("F", bound="CheckFolder")


@dataclass(frozen=True)
class CheckFolder:
    """A check's folder read back: its manifest and the tables a subclass lists in ``TABLES``
    (field name: file, what it holds, pandas dtypes), one dataclass field each."""

    KIND: ClassVar[str]
    WHAT: ClassVar[str]
    SUFFIX: ClassVar[str]
    TABLES: ClassVar[dict[str, tuple[str, str, dict[str, Any]]]]

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls: type[F], path: str | Path) -> F:
        from tim.config import read_csv

        path = Path(path)
        manifest = read_check_manifest(path, cls.KIND, cls.WHAT)
        tables = {name: read_csv(path / file, f"{cls.WHAT} {what}", dtype=dtype)
                  for name, (file, what, dtype) in cls.TABLES.items()}
        return cls(path, manifest, **tables)

    @classmethod
    def beside(cls: type[F], base: str | Path) -> F | None:
        """The check written beside a TIM or run folder ``base`` (``SUFFIX``), or None."""
        folder = folder_beside(base, cls.SUFFIX)
        return None if folder is None else cls.open(folder)
