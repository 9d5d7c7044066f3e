"""Publish a run's results onto a tiles folder, without re-tiling the city.

* ``twin publish RUN_DIR --tiles TILES_DIR`` writes ``TILES_DIR/overlays/<run name>.json`` (the
  feature-property format of :mod:`tim.tiles.overlay`) from the run's ``buildings.csv``: every
  numeric or boolean column becomes a property keyed by building id, e.g. ``surge_depth_m``
  and ``flooded`` for a storm-surge run (:func:`publish_run`).
* ``twin publish RUN_DIR --tiles TILES_DIR --new-buildings`` writes the buildings the run's
  developers added (``buildings_new.gpkg``) as the overlay tileset
  ``overlays/new-buildings-<run name>-<run key>/`` in the base tiles' frame, standing on the
  same terrain (:func:`publish_new_buildings`). Each new building keeps its id
  (``P<year>-<cell>``), storeys and height; its ``use`` says ``new building`` or
  ``redevelopment``. The buildings a redevelopment replaces stay in the base tiles: a viewer
  hides them by style from the project's year on. The run key (:func:`run_key`) tells apart
  two runs of one scenario (other seeds, other folders) and a run re-written since it was
  published, whose overlay would show buildings it no longer has.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios.rundir import RunDirectory
from tim.errors import InputError
from tim.tiles.overlay import write_feature_properties
from tim.tiles.security import run_level, territory_level

if TYPE_CHECKING:
    from tim.model import Territory

#: Units of the per-building columns the runner writes.
UNITS = {"surge_depth_m": "m", "flooded": "1"}
NEW_BUILDINGS_PREFIX = "new-buildings-"
#: The ``use`` a published new building gets, by project kind (projects.csv ``kind``).
PROJECT_USES = {"new": "new building", "redevelopment": "redevelopment"}
#: Hex digits of the manifest's sha256 in a run key.
KEY_DIGITS = 10


def publish_run(run_dir: str | Path, tiles_dir: str | Path, *, name: str | None = None) -> Path:
    """Write the run's per-building results as an overlay of ``tiles_dir``; returns its path."""
    run = RunDirectory.open(run_dir)
    table = run.buildings()
    if table is None:
        raise InputError("the run has no per-building results (buildings.csv) to publish",
                         source=run_dir, field="outputs.buildings",
                         hint="only scenarios with per-building results (e.g. a storm surge) "
                              "have them")
    if not (Path(tiles_dir) / "tileset.json").is_file():
        raise InputError("not a tiles folder (no tileset.json)", source=tiles_dir,
                         hint="write one with 'twin tiles TIM_DIR --out TILES_DIR'")
    columns = ["building_id"] + [c for c in table.columns if c != "building_id"
                                 and (table[c].dtype.kind in "biuf")]
    return write_feature_properties(
        tiles_dir, name or run.name, table[columns], {c: UNITS.get(c, "") for c in columns},
        description=f"per-building results of run {run.title!r}", source=str(Path(run_dir)),
        security=run_level(run.manifest))


def run_key(run: RunDirectory) -> str:
    """A short key of this very run: the start of the sha256 of its ``manifest.json``.

    The manifest holds the scenario, the seed, the TIM and the time the run was written, so
    two runs of one scenario get different keys, and so does a run written again.
    """
    try:
        data = (run.path / "manifest.json").read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the run's manifest: {exc}", source=run.path,
                         field="manifest.json") from exc
    return hashlib.sha256(data).hexdigest()[:KEY_DIGITS]


def new_buildings_overlay(run: RunDirectory) -> str:
    """Name of the overlay tileset holding the new buildings of ``run``:
    ``new-buildings-<scenario name>-<run key>``."""
    return f"{NEW_BUILDINGS_PREFIX}{run.name}-{run_key(run)}"


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
    out["use"] = frame["kind"].map(PROJECT_USES).fillna(PROJECT_USES["new"])
    out["height_source"] = "scenario"
    return out


def publish_new_buildings(run_dir: str | Path, tiles_dir: str | Path, *,
                          territory: Territory | None = None) -> Path:
    """Write the run's new buildings as ``overlays/<new_buildings_overlay(run)>/tileset.json``.

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
    return write_overlay_buildings(territory, layer, tiles_dir, new_buildings_overlay(run),
                                   security=territory_level(territory))
