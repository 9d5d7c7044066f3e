"""The tiles folder as the 3D view sees it: its parts and its overlays.

A tiles folder (``twin tiles``) has a root ``tileset.json`` whose ``asset.extras.parts`` lists
the child tilesets (``buildings``, ``terrain``, ``points``, ``meshes/<name>``), each loadable
alone, and ``overlays/index.json`` listing what was published on top (:mod:`tim.tiles.overlay`,
:mod:`scenarios.publish`): per-feature property files and small overlay tilesets, such as a
run's new buildings (:func:`scenarios.publish.new_buildings_overlay`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tim.errors import StoreError


@dataclass(frozen=True)
class TilesFolder:
    """A tiles folder: where its parts and overlays are (paths relative to the folder)."""

    path: Path
    extras: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, str] = field(default_factory=dict)
    overlays: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> TilesFolder:
        """Read the root tileset and the overlay index.

        Raises
        ------
        tim.errors.StoreError
            No (readable) ``tileset.json``.
        """
        path = Path(path).resolve()
        root = path / "tileset.json"
        if not root.is_file():
            raise StoreError(f"{path}: not a tiles folder (no tileset.json); create one "
                             "with 'twin tiles TIM_DIR --out TILES_DIR'")
        try:
            extras = json.loads(root.read_text()).get("asset", {}).get("extras", {}) or {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"{root}: cannot read the tileset: {exc}") from exc
        parts = dict(extras.get("parts") or {})
        if not parts:  # tiles written before the root listed its parts: look for them
            parts = {p.parent.name: f"{p.parent.name}/tileset.json"
                     for p in sorted(path.glob("*/tileset.json")) if p.parent.name != "overlays"}
        index = path / "overlays" / "index.json"
        overlays: dict[str, dict[str, Any]] = {}
        if index.is_file():
            try:
                overlays = json.loads(index.read_text()).get("overlays", {})
            except (OSError, ValueError) as exc:
                raise StoreError(f"{index}: cannot read the overlay index: {exc}") from exc
        return cls(path, extras, parts, overlays)

    @property
    def geoid_height(self) -> float:
        """Metres added to the TIM's heights to place them (entities must add it too)."""
        return float(self.extras.get("geoidHeight", 0.0) or 0.0)

    def overlay_tileset(self, name: str) -> str | None:
        """Relative path of the overlay tileset ``name``, if it was published."""
        entry = self.overlays.get(name)
        if not entry or entry.get("kind") != "tileset":
            return None
        relative = f"overlays/{entry['file']}"
        return relative if (self.path / relative).is_file() else None
