"""``twin serve``: the scenario dashboard (Dash), built from run directories and a tileset.

:func:`create_app` reads everything it shows from its arguments into a :class:`Dashboard`
(no module globals, so several apps can live in one process, e.g. in tests) and checks the
input before any server starts: a directory that is not a run raises
:class:`tim.errors.StoreError`, runs on different grids raise :class:`tim.errors.InputError`.

The page is put together in :mod:`viz.layout`, made interactive in :mod:`viz.callbacks`; the
figures are pure functions in :mod:`viz.figures` and the offline CesiumJS glue (static routes,
drape images) is in :mod:`viz.cesium`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from scenarios.indicators import IndicatorDef, load_registry
from scenarios.rundir import RunDirectory
from tim.errors import InputError, StoreError
from tim.model import ClassTable, Grid
from tim.store import read_manifest

if TYPE_CHECKING:
    import dash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceLayer:
    """One ingested source of a TIM, as its manifest history records it."""

    role: str
    source: str
    kind: str
    licence: str
    synthetic: bool | None  # None: the manifest does not say


@dataclass(frozen=True)
class Provenance:
    """Where the runs' territory came from: the TIM stores and the sources ingested into them.

    ``problems`` lists what could not be read (a moved TIM, an old manifest); the page shows
    them rather than pretending the data are known.
    """

    tims: tuple[str, ...] = ()
    layers: tuple[SourceLayer, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def synthetic(self) -> int:
        """Number of layers recorded as synthetic."""
        return sum(layer.synthetic is True for layer in self.layers)

    @property
    def real(self) -> int:
        """Number of layers recorded as real (measured or surveyed) data."""
        return sum(layer.synthetic is False for layer in self.layers)

    @property
    def all_synthetic(self) -> bool:
        return bool(self.layers) and self.synthetic == len(self.layers)


def read_provenance(runs: Sequence[RunDirectory]) -> Provenance:
    """The "ingest" entries of the TIM manifest(s) the runs were made from.

    Each run manifest's ``tim.path`` names its TIM directory. A missing or unreadable TIM is
    reported in :attr:`Provenance.problems`, not raised: the results are still worth showing.
    """
    tims: list[str] = []
    layers: list[SourceLayer] = []
    problems: list[str] = []
    for run in runs:
        path = (run.manifest.get("tim") or {}).get("path")
        if not path:
            problems.append(f"run {run.name!r} does not record the TIM it was made from")
            continue
        if path in tims:
            continue
        tims.append(path)
        try:
            manifest = read_manifest(path)
        except StoreError as exc:
            problems.append(f"run {run.name!r}: {exc}")
            continue
        for entry in manifest.get("history", []):
            if entry.get("action") != "ingest":
                continue
            synthetic = entry.get("synthetic")
            layers.append(SourceLayer(
                role=str(entry.get("role", "?")), source=str(entry.get("source", "?")),
                kind=str(entry.get("kind", "?")), licence=str(entry.get("licence", "unknown")),
                synthetic=None if synthetic is None else bool(synthetic)))
    return Provenance(tuple(tims), tuple(layers), tuple(problems))


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows, read once from the run directories and the tiles folder.

    Attributes
    ----------
    runs : tuple of RunDirectory
        The runs, the first one being the baseline every other run is compared with.
    labels : tuple of str
        Unique display names of the runs (scenario titles).
    registry : mapping
        Indicator definitions (names and definitions; values, units and statuses come from
        each run's ``indicators.csv``).
    provenance : Provenance
    tiles_dir : Path or None
        Folder holding ``tileset.json`` (from ``twin tiles``), served to the 3D view.
    cesium_dir : Path
        CesiumJS ``Build/Cesium`` folder served to the browser.
    tileset_extras : mapping
        ``asset.extras`` of the root tileset (territory, vertical datum, height convention).
    building_uses : tuple of str
        Building uses in the TIM (for the 3D colour legend); empty when unknown.
    building_heights : (float, float) or None
        Lowest and highest building height (m) in the TIM, for the 3D height ramp.
    """

    runs: tuple[RunDirectory, ...]
    labels: tuple[str, ...]
    registry: Mapping[str, IndicatorDef]
    provenance: Provenance
    tiles_dir: Path | None = None
    cesium_dir: Path = field(default_factory=lambda: default_cesium_dir())
    tileset_extras: Mapping[str, object] = field(default_factory=dict)
    building_uses: tuple[str, ...] = ()
    building_heights: tuple[float, float] | None = None

    @property
    def baseline(self) -> RunDirectory:
        return self.runs[0]

    @property
    def grid(self) -> Grid:
        return self.baseline.grid

    @property
    def classes(self) -> ClassTable:
        return self.baseline.classes

    @property
    def territory_name(self) -> str:
        return str((self.baseline.manifest.get("tim") or {}).get("name") or "territory")

    def run(self, index: int | str | None) -> RunDirectory:
        """The run at ``index`` (as the dropdown sends it); the baseline when out of range."""
        try:
            i = int(index)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return self.baseline
        return self.runs[i] if 0 <= i < len(self.runs) else self.baseline

    def timeline_values(self) -> pd.DataFrame:
        """All runs' indicators as one long table with a ``run`` column (the run's label)."""
        return pd.concat([run.indicators.assign(run=label)
                          for run, label in zip(self.runs, self.labels)], ignore_index=True)


def default_cesium_dir() -> Path:
    """``viz/node_modules/cesium/Build/Cesium`` (``npm install`` in ``viz/`` puts it there)."""
    return Path(__file__).resolve().parent / "node_modules" / "cesium" / "Build" / "Cesium"


def run_labels(runs: Sequence[RunDirectory]) -> tuple[str, ...]:
    """Scenario titles, made unique with the seed or the folder name when two runs share one."""
    titles = [r.title for r in runs]
    labels = []
    for run, title in zip(runs, titles):
        if titles.count(title) > 1:
            title = f"{title} (seed {run.manifest.get('seed')}, {run.path.name})"
        labels.append(title)
    return tuple(labels)


def load_dashboard(run_dirs: Sequence[str | Path], tiles_dir: str | Path | None = None,
                   *, cesium_dir: Path | None = None) -> Dashboard:
    """Open and check the runs (and the tiles) the dashboard will show.

    Raises
    ------
    tim.errors.StoreError
        A directory that is not a run, or a tiles folder without ``tileset.json``.
    tim.errors.InputError
        No runs, or runs on different grids (they cannot be compared cell by cell).
    """
    if not run_dirs:
        raise InputError("give at least one run directory (from 'twin run'); the first is "
                         "the baseline", field="RUN_DIR")
    runs = tuple(RunDirectory.open(p) for p in run_dirs)
    base = runs[0]
    for run in runs[1:]:
        if run.grid != base.grid:
            raise InputError(
                f"run {run.path} is on another grid ({run.grid.crs}, shape "
                f"{run.grid.shape}, origin {run.grid.transform[2]}, {run.grid.transform[5]}) "
                f"than the baseline {base.path} ({base.grid.crs}, shape {base.grid.shape}, "
                f"origin {base.grid.transform[2]}, {base.grid.transform[5]})",
                source=run.path, field="grid",
                hint="serve runs made from the same TIM together")
    extras: Mapping[str, object] = {}
    if tiles_dir is not None:
        # Absolute: Flask resolves relative folders against the package, not the working dir.
        tiles_dir = Path(tiles_dir).resolve()
        tileset = tiles_dir / "tileset.json"
        if not tileset.is_file():
            raise StoreError(f"{tiles_dir}: not a tiles folder (no tileset.json); create one "
                             "with 'twin tiles TIM_DIR --out TILES_DIR'")
        extras = _tileset_extras(tileset)
    provenance = read_provenance(runs)
    uses, heights = building_summary(provenance.tims[0]) if provenance.tims else ((), None)
    return Dashboard(runs=runs, labels=run_labels(runs), registry=load_registry(),
                     provenance=provenance, tiles_dir=tiles_dir,
                     cesium_dir=cesium_dir or default_cesium_dir(), tileset_extras=extras,
                     building_uses=uses, building_heights=heights)


def building_summary(tim_dir: str | Path) -> tuple[tuple[str, ...], tuple[float, float] | None]:
    """Uses (most common first) and height range of the TIM's buildings, for the 3D legends.

    Only the attribute table is read (no geometry). Anything unreadable gives empty values:
    the 3D view then falls back to default colours rather than refusing to start.
    """
    try:
        meta = read_manifest(tim_dir)["layers"]["buildings"]
        import pyogrio

        frame = pyogrio.read_dataframe(Path(tim_dir) / meta["file"], layer=meta["layer"],
                                       columns=["use", "height"], read_geometry=False)
    except (StoreError, KeyError, OSError, RuntimeError, ValueError) as exc:
        # pyogrio's errors are RuntimeErrors; any failure only costs the legend its details.
        log.info("building attributes not read from %s: %s", tim_dir, exc)
        return (), None
    uses = tuple(str(u) for u in frame["use"].dropna().value_counts().index)
    heights = frame["height"].dropna()
    span = (float(heights.min()), float(heights.max())) if len(heights) else None
    return uses, span


def _tileset_extras(path: Path) -> Mapping[str, object]:
    try:
        return json.loads(path.read_text()).get("asset", {}).get("extras", {}) or {}
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: cannot read the tileset: {exc}") from exc


def create_app(run_dirs: list[Path], tiles_dir: Path | None = None) -> dash.Dash:
    """The dashboard as a Dash app (not started).

    Parameters
    ----------
    run_dirs : list of Path
        Run directories (``twin run``); the first is the baseline.
    tiles_dir : Path, optional
        3D Tiles folder (``twin tiles``) for the 3D view; without it the 3D panel says so.

    Returns
    -------
    dash.Dash
        Its Flask server (``app.server``) also serves CesiumJS under ``/cesium/``, the tiles
        under ``/tiles/`` and land-use drapes under ``/twin/drape/``.

    Raises
    ------
    tim.errors.StoreError, tim.errors.InputError
        See :func:`load_dashboard`; raised before anything is served.
    """
    import dash

    from viz import callbacks, cesium, layout

    board = load_dashboard(run_dirs, tiles_dir)
    with_3d = board.tiles_dir is not None and cesium.cesium_missing(board.cesium_dir) is None
    app = dash.Dash(
        __name__, title=f"Territory Twin - {board.territory_name}", update_title=None,
        assets_folder=str(Path(__file__).resolve().parent / "assets"),
        # Cesium.js is large: load it only when there is something to show in 3D.
        external_scripts=[cesium.CESIUM_ROUTE + "Cesium.js"] if with_3d else [],
        external_stylesheets=[cesium.CESIUM_ROUTE + "Widgets/widgets.css"] if with_3d else [],
        index_string=cesium.index_string(),
        serve_locally=True)
    cesium.register_routes(app.server, board)
    app.layout = layout.build_layout(board, with_3d=with_3d)
    callbacks.register_callbacks(app, board, with_3d=with_3d)
    return app


def serve(run_dirs: list[Path], tiles_dir: Path | None = None, host: str = "127.0.0.1",
          port: int = 8050) -> None:
    """Check the input, print the URL and run the dashboard until interrupted.

    Raises
    ------
    tim.errors.TwinError
        Bad input (see :func:`load_dashboard`), before the server starts.
    """
    app = create_app(run_dirs, tiles_dir)
    # 0.0.0.0 listens everywhere but is not an address a browser can open.
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
    print(f"Territory Twin dashboard: {url}  (Ctrl+C to stop)", flush=True)
    # No debug reloader: it would start a second process and re-run the input checks.
    # The version check would ask dash-version.plotly.com: the page must not leave localhost.
    app.run(host=host, port=port, debug=False, use_reloader=False,
            dev_tools_disable_version_check=True)
