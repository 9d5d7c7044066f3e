"""``twin serve``: the scenario dashboard (Dash), built from output folders and a tileset.

:func:`create_app` reads everything it shows from its arguments into a :class:`Dashboard`
(no module globals, so several apps can live in one process, e.g. in tests) and checks the
input before any server starts. Folders are runs, ensembles, height checks, sightlines or
land-use calibration reports, told apart by their files (:mod:`viz.sources`); a folder that is
none of them raises :class:`tim.errors.StoreError`, folders on different grids raise
:class:`tim.errors.InputError` (calibration reports keep their own grids).

The page is a shell (:mod:`viz.layout`, :mod:`viz.callbacks`: header, tab bar, the controls
shared by the tabs and the 3D city) around one module per tab in :mod:`viz.tabs`, each with
``layout(board)`` and ``register_callbacks(app, board)``. Figures are pure functions in
:mod:`viz.figures` and :mod:`viz.maps`, the 3D view's content is described by
:mod:`viz.scene` and drawn by ``viz/assets/twin3d.js``; the offline CesiumJS glue (static
routes, drape images) is in :mod:`viz.cesium`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from scenarios.i18n import Translator, check_language, scenario_text
from scenarios.indicators import IndicatorDef, load_registry
from scenarios.publish import new_buildings_overlay
from scenarios.rundir import RunDirectory
from tim.errors import InputError, StoreError
from tim.model import ClassTable, Grid
from tim.store import read_manifest
from viz.overlays import TilesFolder
from viz.sources import (KINDS, Calibration, Corridor, Ensemble, HeightCheck, SightlineSet,
                         folder_kind, same_grid)

if TYPE_CHECKING:
    import dash

    from scenarios.monitoring.folders import MonitoringSet
    from viz.onemap import OneMap
    from viz.surge import Ground, SurgeRun

log = logging.getLogger(__name__)


def choice_index(value: object, count: int) -> int:
    """The index a dropdown's ``value`` names among ``count`` choices; 0 when it names none."""
    try:
        i = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return i if 0 <= i < count else 0


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
    """Everything the page shows, read once from the output folders and the tiles folder.

    Attributes
    ----------
    runs : tuple of RunDirectory
        The runs, the first one being the baseline every other run is compared with.
    labels : tuple of str
        Unique display names of the runs: their scenario titles in the page's language
        (:func:`run_labels`, per request).
    registry : mapping
        Indicator definitions (names and definitions; values, units and statuses come from
        each run's ``indicators.csv``).
    provenance : Provenance
    tiles : TilesFolder or None
        The 3D Tiles folder (``twin tiles``) served to the 3D view, with its parts and overlays.
    cesium_dir : Path
        CesiumJS ``Build/Cesium`` folder served to the browser.
    building_uses : tuple of str
        Building uses in the TIM (for the 3D colour legend); empty when unknown.
    building_heights : (float, float) or None
        Lowest and highest building height (m) in the TIM, for the 3D height ramp.
    ensembles : tuple of Ensemble
        Ensembles (``twin ensemble``): bands on the timelines, development probability.
    heights : tuple of HeightCheck
        Height checks (``twin heights``): limits, violators, view corridors.
    sightlines : tuple of SightlineSet
        Sightline sets (``twin sightline --out``), shown with the corridor they run along.
    calibrations : tuple of Calibration
        Land-use calibration reports (``twin calibrate``), on their own grids; a dashboard
        of calibrations alone has no runs.
    monitoring : MonitoringSet or None
        An assessment, change patches and a 双评价 evaluation (``twin assess``, ``changes``,
        ``evaluate``) for the Monitoring tab, on their own grid; they need no run.
    """

    runs: tuple[RunDirectory, ...]
    registry: Mapping[str, IndicatorDef]
    provenance: Provenance
    tiles: TilesFolder | None = None
    cesium_dir: Path = field(default_factory=lambda: default_cesium_dir())
    building_uses: tuple[str, ...] = ()
    building_heights: tuple[float, float] | None = None
    ensembles: tuple[Ensemble, ...] = ()
    heights: tuple[HeightCheck, ...] = ()
    sightlines: tuple[SightlineSet, ...] = ()
    calibrations: tuple[Calibration, ...] = ()
    monitoring: MonitoringSet | None = None

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
        if not self.runs:
            return self.monitoring.territory if self.monitoring else "land-use calibration"
        return str((self.baseline.manifest.get("tim") or {}).get("name") or "territory")

    @property
    def tiles_dir(self) -> Path | None:
        return None if self.tiles is None else self.tiles.path

    @property
    def tileset_extras(self) -> Mapping[str, object]:
        return {} if self.tiles is None else self.tiles.extras

    def run_index(self, index: int | str | None) -> int:
        """The index of the run ``index`` names (as a dropdown sends it); 0 when out of range."""
        return choice_index(index, len(self.runs))

    def run(self, index: int | str | None) -> RunDirectory:
        """The run at ``index`` (as the dropdown sends it); the baseline when out of range."""
        return self.runs[self.run_index(index)]

    @property
    def labels(self) -> tuple[str, ...]:
        from viz.i18n import ui

        return run_labels(self.runs, ui())

    def label(self, run: RunDirectory) -> str:
        return self.labels[self.runs.index(run)]

    def timeline_values(self) -> pd.DataFrame:
        """All runs' indicators as one long table with a ``run`` column (the run's label)."""
        return pd.concat([run.indicators.assign(run=label)
                          for run, label in zip(self.runs, self.labels)], ignore_index=True)

    def ensemble_of(self, run: RunDirectory) -> Ensemble | None:
        """The ensemble of the run's scenario (same scenario file contents, else same name)."""
        sha = run.manifest.get("scenario_sha256")
        for ensemble in self.ensembles:
            if sha and ensemble.scenario_sha256 == sha:
                return ensemble
        return next((e for e in self.ensembles if e.name == run.name), None)

    def new_buildings_tileset(self, run: RunDirectory) -> str | None:
        """Relative path of the run's published new-buildings tileset, if any."""
        if self.tiles is None:
            return None
        return self.tiles.overlay_tileset(new_buildings_overlay(run))

    def surge_run(self, index: int) -> SurgeRun:
        """The surge of run ``index`` as the flood views read it (kept: its depth series is
        read once).

        Raises
        ------
        tim.errors.StoreError
            The run has no storm surge.
        """
        surge = self._surges.get(index)
        if surge is None:
            from viz.surge import SurgeRun

            surge = SurgeRun.of(self.runs[index])
            if surge is None:
                raise StoreError(f"{self.runs[index].path}: the run has no storm surge")
            self._surges[index] = surge
        return surge

    @cached_property
    def _surges(self) -> dict[int, SurgeRun]:
        return {}

    @cached_property
    def ground(self) -> Ground | None:
        """The ground and the building footprints of the TIM the runs were made from, for
        flood depths at any level and per building (None when the TIM cannot be read: the
        views then say so)."""
        if not self.provenance.tims:
            return None
        from viz.surge import Ground

        try:
            return Ground.load(self.provenance.tims[0])
        except (StoreError, OSError) as exc:
            log.warning("the TIM %s cannot be read for the flood views: %s",
                        self.provenance.tims[0], exc)
            return None

    @cached_property
    def onemap(self) -> OneMap:
        """Planning units, control lines, zoning and amenities of the runs' TIM
        (:mod:`viz.onemap`; empty, with the problem noted, when the TIM cannot be read)."""
        from viz.onemap import load_onemap

        return load_onemap(self.provenance.tims[0] if self.provenance.tims else None)

    def corridor_sightlines(self, check: HeightCheck, corridor: Corridor
                            ) -> SightlineSet | None:
        """The sightline set that runs along ``corridor`` (viewpoint to landmark), if any."""
        return next((s for s in self.sightlines if s.matches(corridor, check.crs)), None)


def default_cesium_dir() -> Path:
    """``viz/node_modules/cesium/Build/Cesium`` (``npm install`` in ``viz/`` puts it there)."""
    return Path(__file__).resolve().parent / "node_modules" / "cesium" / "Build" / "Cesium"


def run_labels(runs: Sequence[RunDirectory], t: Translator) -> tuple[str, ...]:
    """Scenario titles in ``t``'s language, made unique with the seed or the folder name when
    two runs share one."""
    titles = [scenario_text(r.title, t) for r in runs]
    labels = []
    for run, title in zip(runs, titles):
        if titles.count(title) > 1:
            title = t.gettext("{title} (seed {seed}, {folder})", title=title,
                              seed=run.manifest.get("seed"), folder=run.path.name)
        labels.append(title)
    return tuple(labels)


def load_dashboard(folders: Sequence[str | Path], tiles_dir: str | Path | None = None, *,
                   ensembles: Sequence[str | Path] = (), heights: Sequence[str | Path] = (),
                   sightlines: Sequence[str | Path] = (),
                   calibrations: Sequence[str | Path] = (), monitoring: Sequence[str | Path] = (),
                   cesium_dir: Path | None = None) -> Dashboard:
    """Open and check the folders (and the tiles) the dashboard will show.

    ``folders`` may mix runs, ensembles, height checks, sightlines and calibration reports in
    any order (each is recognised by its files, :func:`viz.sources.folder_kind`); runs keep
    their order, the first being the baseline. ``ensembles``, ``heights``, ``sightlines`` and
    ``calibrations`` name folders of that kind explicitly (anything else there is an error).
    Calibration reports alone make a dashboard without runs, and so do monitoring folders
    (``monitoring``, or recognised among ``folders``: :class:`MonitoringSet`).

    Raises
    ------
    tim.errors.StoreError
        A folder that none of the ``twin`` commands wrote, a folder of the wrong kind, or a
        tiles folder without ``tileset.json``.
    tim.errors.InputError
        No runs (and no calibration), or folders on different grids (they cannot be compared
        cell by cell).
    """
    from scenarios.monitoring.folders import MonitoringSet

    by_kind: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for folder in folders:
        by_kind[folder_kind(folder)].append(Path(folder))
    reports = tuple(Calibration.open(p) for p in [*by_kind["calibration"], *calibrations])
    watched = MonitoringSet.open([*by_kind["monitoring"], *monitoring])
    if not by_kind["run"] and (reports or watched) and not (by_kind["ensemble"] or ensembles
                                               or by_kind["heights"] or heights
                                               or by_kind["sightlines"] or sightlines):
        if tiles_dir is not None:
            raise InputError("3D tiles are shown with scenario runs: give a run directory too, "
                             "or leave --tiles out", field="--tiles", value=str(tiles_dir))
        return Dashboard(runs=(), registry=load_registry(),
                         provenance=Provenance(), tiles=None,
                         cesium_dir=cesium_dir or default_cesium_dir(), calibrations=reports,
                         monitoring=watched)
    if not by_kind["run"]:
        raise InputError("give at least one run directory (from 'twin run'); the first is "
                         "the baseline", field="RUN_DIR")
    runs = tuple(RunDirectory.open(p) for p in by_kind["run"])
    base = runs[0]
    for run in runs[1:]:
        _same_grid(run.path, run.grid, base)
    found_ensembles = tuple(Ensemble.open(p) for p in [*by_kind["ensemble"], *ensembles])
    for ensemble in found_ensembles:
        _same_grid(ensemble.path, ensemble.grid, base)
    checks = tuple(HeightCheck.open(p) for p in [*by_kind["heights"], *heights])
    for check in checks:
        _same_grid(check.path, check.grid, base)
    lines = tuple(SightlineSet.open(p) for p in [*by_kind["sightlines"], *sightlines])
    tiles = TilesFolder.open(tiles_dir) if tiles_dir is not None else None
    provenance = read_provenance(runs)
    uses, span = building_summary(provenance.tims[0]) if provenance.tims else ((), None)
    return Dashboard(runs=runs, registry=load_registry(),
                     provenance=provenance, tiles=tiles,
                     cesium_dir=cesium_dir or default_cesium_dir(), building_uses=uses,
                     building_heights=span, ensembles=found_ensembles, heights=checks,
                     sightlines=lines, calibrations=reports, monitoring=watched)


def _same_grid(path: Path, grid: Grid, base: RunDirectory) -> None:
    if not same_grid(grid, base.grid):
        b = base.grid
        raise InputError(
            f"{path} is on another grid ({grid.crs}, shape {grid.shape}, origin "
            f"{grid.transform[2]}, {grid.transform[5]}) than the baseline run {base.path} "
            f"({b.crs}, shape {b.shape}, origin {b.transform[2]}, {b.transform[5]})",
            source=path, field="grid", hint="serve runs made from the same TIM together")


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


def create_app(folders: Sequence[str | Path], tiles_dir: str | Path | None = None, *,
               ensembles: Sequence[str | Path] = (), heights: Sequence[str | Path] = (),
               sightlines: Sequence[str | Path] = (), calibrations: Sequence[str | Path] = (),
               monitoring: Sequence[str | Path] = (), lang: str | None = None) -> dash.Dash:
    """The dashboard as a Dash app (not started).

    Parameters
    ----------
    folders : sequence of Path
        Run directories (``twin run``; the first is the baseline) and, in any order among
        them, ensembles, height checks and sightline folders (see :func:`load_dashboard`).
    tiles_dir : Path, optional
        3D Tiles folder (``twin tiles``) for the 3D view; without it the 3D panel says so.
    ensembles, heights, sightlines, calibrations, monitoring : sequence of Path
        Folders of that kind, named explicitly (monitoring: ``twin assess``, ``changes``,
        ``evaluate`` folders, one of each at most).
    lang : str, optional
        The page's default language (``en``, ``zh_CN``); a page asks for another with
        ``?lang=`` (see :mod:`viz.i18n`).

    Returns
    -------
    dash.Dash
        Its Flask server (``app.server``) also serves CesiumJS under ``/cesium/``, the tiles
        under ``/tiles/`` and map images under ``/twin/`` (:mod:`viz.cesium`).

    Raises
    ------
    tim.errors.StoreError, tim.errors.InputError
        See :func:`load_dashboard`; raised before anything is served.
    """
    import dash

    from viz import callbacks, cesium, downloads, i18n, layout

    check_language(lang, source="twin serve --lang")
    board = load_dashboard(folders, tiles_dir, ensembles=ensembles, heights=heights,
                           sightlines=sightlines, calibrations=calibrations,
                           monitoring=monitoring)
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
    downloads.register_routes(app.server, board)
    i18n.install(app.server, lang)

    def page() -> Any:
        # Built per page load: the words are those of the page's language (viz.i18n).
        return layout.build_layout(board, with_3d=with_3d)

    app.layout = page
    callbacks.register_callbacks(app, board, with_3d=with_3d)
    return app


def serve(folders: Sequence[str | Path], tiles_dir: str | Path | None = None,
          host: str = "127.0.0.1", port: int = 8050, *, ensembles: Sequence[str | Path] = (),
          heights: Sequence[str | Path] = (), sightlines: Sequence[str | Path] = (),
          calibrations: Sequence[str | Path] = (), monitoring: Sequence[str | Path] = (),
          security: Any = None, lang: str | None = None) -> None:
    """Check the input, print the URL and run the dashboard until interrupted.

    Raises
    ------
    tim.errors.TwinError
        Bad input (see :func:`load_dashboard`), before the server starts.
    """
    from viz import server

    app = create_app(folders, tiles_dir, ensembles=ensembles, heights=heights,
                     sightlines=sightlines, calibrations=calibrations,
                     monitoring=monitoring, lang=lang)
    security = security or server.Security(host=host)
    server.secure(app, security)  # headers, Host allow-list, login (see viz.server)
    warning = server.warn_if_exposed(host, security.users)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    # 0.0.0.0 listens everywhere but is not an address a browser can open.
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
    print(f"Territory Twin dashboard: {url}  (Ctrl+C to stop)", flush=True)
    server.run(app, host=host, port=port, security=security)  # waitress, no version banner
