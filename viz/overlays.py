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
from pathlib import Path, PurePosixPath
from typing import Any

from tim.errors import StoreError
from tim.tiles.overlay import OVERLAYS


@dataclass(frozen=True)
class TilesFolder:
    """A tiles folder: where its parts and overlays are (paths relative to the folder)."""

    path: Path
    extras: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, str] = field(default_factory=dict)
    overlays: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Security level of each part, from its own tileset (``restricted`` when it records none:
    #: tiles written before levels existed; :mod:`tim.tiles.security`).
    levels: dict[str, str] = field(default_factory=dict)

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
        levels = {name: _recorded_level(path / relative) for name, relative in parts.items()}
        return cls(path, extras, parts, overlays, levels)

    def level_of(self, relative: str) -> str:
        """The security level of the file ``relative`` (a path inside the folder, as the tiles
        route receives it): that of the part or overlay it belongs to; the root tileset and the
        overlay index take the most restrictive level of what they list; anything else is
        ``restricted`` (refuse when in doubt).

        Examples
        --------
        >>> t = TilesFolder(Path("/t"), parts={"buildings": "buildings/tileset.json",
        ...                                    "meshes/a": "meshes/a/tileset.json"},
        ...                 overlays={"z": {"kind": "feature-properties", "file": "z.json",
        ...                                 "security": "public"}},
        ...                 levels={"buildings": "internal", "meshes/a": "public"})
        >>> [t.level_of(p) for p in ("buildings/r0.b3dm", "meshes/a/x.b3dm", "overlays/z.json",
        ...                          "tileset.json", "overlays/index.json", "x/y")]
        ['internal', 'public', 'public', 'internal', 'public', 'restricted']
        """
        from tim.tiles.security import most_restrictive

        path = PurePosixPath(relative)
        if path.is_absolute() or any(p in ("..", ".") for p in path.parts) or not path.parts:
            return "restricted"
        if path.as_posix() == "tileset.json":
            return most_restrictive([*self.levels.values()] or ["restricted"])
        if path.as_posix() == f"{OVERLAYS}/index.json":
            return most_restrictive([self.overlay_level(n) for n in self.overlays]
                                    or ["public"])
        for name, tileset in self.parts.items():
            if path.is_relative_to(PurePosixPath(tileset).parent):
                return self.levels.get(name, "restricted")
        if path.parts[:1] == (OVERLAYS,) and len(path.parts) > 1:
            for name, entry in self.overlays.items():
                file = PurePosixPath(str(entry.get("file", "")))
                inside = file.parent if entry.get("kind") == "tileset" else file
                if path.relative_to(OVERLAYS).is_relative_to(inside) and str(inside) != ".":
                    return self.overlay_level(name)
        return "restricted"

    def overlay_level(self, name: str) -> str:
        """The level the overlay index gives overlay ``name`` (``restricted`` if none)."""
        level = (self.overlays.get(name) or {}).get("security")
        return level if isinstance(level, str) else "restricted"

    def cleared(self, relative: str, clearance: str | None = None) -> bool:
        """Whether the request's user (or ``clearance``) may read the file ``relative``."""
        from viz.server import current_clearance, visible

        return visible(self.level_of(relative),
                       current_clearance() if clearance is None else clearance)

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
        if not self.cleared(relative):  # not listed to a user it would be refused to
            return None
        return relative if (self.path / relative).is_file() else None


def _recorded_level(tileset: Path) -> str:
    """``asset.extras.security.level`` of a tileset, ``restricted`` if it has none."""
    try:
        extras = json.loads(tileset.read_text()).get("asset", {}).get("extras", {}) or {}
        level = (extras.get("security") or {}).get("level")
    except (OSError, ValueError, AttributeError):
        return "restricted"
    return level if isinstance(level, str) else "restricted"
