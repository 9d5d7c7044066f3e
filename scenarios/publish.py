"""Publish a run's per-building results onto a tiles folder, without re-tiling the city.

``twin publish RUN_DIR --tiles TILES_DIR`` writes ``TILES_DIR/overlays/<run name>.json`` (the
feature-property format of :mod:`tim.tiles.overlay`) from the run's ``buildings.csv``: every
numeric or boolean column becomes a property keyed by building id, e.g. ``surge_depth_m`` and
``flooded`` for a storm-surge run.
"""

from __future__ import annotations

from pathlib import Path

from scenarios.rundir import RunDirectory
from tim.errors import InputError
from tim.tiles.overlay import write_feature_properties

#: Units of the per-building columns the runner writes.
UNITS = {"surge_depth_m": "m", "flooded": "1"}


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
        description=f"per-building results of run {run.title!r}", source=str(Path(run_dir)))
