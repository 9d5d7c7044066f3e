"""The tiles folder as the 3D view sees it: its parts, its overlays, and a run's new buildings.

A tiles folder (``twin tiles``) has a root ``tileset.json`` whose ``asset.extras.parts`` lists
the child tilesets (``buildings``, ``terrain``, ``points``, ``meshes/<name>``), each loadable
alone, and ``overlays/index.json`` listing what was published on top (:mod:`tim.tiles.overlay`):
per-feature property files and small overlay tilesets.

A run's new buildings (developers' ``buildings_new.gpkg``) are published as the overlay tileset
``overlays/new-buildings-<run name>/`` by :func:`publish_new_buildings` (``twin publish RUN_DIR
--tiles TILES_DIR --new-buildings``), in the base tiles' frame, standing on the same terrain.
Each new building keeps its id (``P<year>-<cell>``), storeys and height; its ``use`` says
``new building`` or ``redevelopment``. The buildings a redevelopment replaces stay in the base
tiles: the 3D view hides them by style from the project's year on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tim.errors import InputError, StoreError

if TYPE_CHECKING:
    from scenarios.rundir import RunDirectory
    from tim.model import Territory

NEW_BUILDINGS_PREFIX = "new-buildings-"
#: The ``use`` a published new building gets, by project kind (projects.csv ``kind``).
PROJECT_USES = {"new": "new building", "redevelopment": "redevelopment"}


def new_buildings_overlay(run_name: str) -> str:
    """Name of the overlay tileset holding the new buildings of the run ``run_name``.

    Examples
    --------
    >>> new_buildings_overlay("far-up")
    'new-buildings-far-up'
    """
    return NEW_BUILDINGS_PREFIX + run_name


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


def new_buildings_layer(run: RunDirectory) -> Any:
    """The run's new buildings as a buildings layer :func:`tim.tiles.write_tiles` accepts.

    Raises
    ------
    tim.errors.InputError
        The run has no new buildings.
    """
    frame = run.new_buildings()
    if frame is None or len(frame) == 0:
        raise InputError("the run has no new buildings (buildings_new.gpkg) to publish",
                         source=run.path, field="outputs.new_buildings",
                         hint="developers build in scenarios with agents; see projects.csv")
    out = frame[["building_id", "height", "storeys", "unit_id", "geometry"]].copy()
    out["use"] = frame["kind"].map(PROJECT_USES).fillna("new building")
    out["height_source"] = "scenario"
    return out


def publish_new_buildings(run_dir: str | Path, tiles_dir: str | Path, *,
                          territory: Territory | None = None) -> Path:
    """Write the run's new buildings as ``overlays/new-buildings-<run>/tileset.json``.

    Parameters
    ----------
    run_dir : path
        A run directory with ``buildings_new.gpkg``.
    tiles_dir : path
        The tiles folder of the TIM the run was made from (its base tiles are not touched).
    territory : Territory, optional
        That TIM, if already loaded (its terrain places the buildings); read from the run's
        manifest otherwise.

    Returns
    -------
    Path
        The overlay's ``tileset.json``.
    """
    from scenarios.rundir import RunDirectory
    from tim.tiles.overlay import write_overlay_buildings

    run = RunDirectory.open(run_dir)
    layer = new_buildings_layer(run)
    if territory is None:
        from tim.store import load_territory

        tim = (run.manifest.get("tim") or {}).get("path")
        if not tim:
            raise InputError("the run does not record the TIM it was made from", source=run_dir,
                             field="tim.path")
        territory = load_territory(tim)
    return write_overlay_buildings(territory, layer, tiles_dir,
                                   new_buildings_overlay(run.name))
