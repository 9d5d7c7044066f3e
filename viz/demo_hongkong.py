"""``twin demo --city hongkong``: Hong Kong end to end from ``$TWIN_DATA/hongkong``, then the
dashboard. The same library functions as the ``twin`` commands, into ``OUT``::

    tim/                 twin tim build --catalog hongkong (70 m, EPSG:2326)
    series/              twin tim series: nine epochs, roads and built-up areas of each
    calibration/         twin calibrate --series series --epochs 2003-2007,2008-2012,2013-2017
                         (a smaller search than the command's default, see CALIBRATION_SEARCH)
    scenarios/*.yaml     the three Hong Kong presets naming the series' 2013-17 drivers
    runs/<scenario>/     natural development, ecological protection, urban development
                         priority (2017 -> 2030 on the calibrated model) and Typhoon Hato's
                         level as a bathtub (hongkong-hato-bathtub: the full inertial run is
                         twin run hongkong-hato, about 13 minutes)
    report/              twin compare of the three land-use scenarios (English and Chinese)
    monitoring/          twin assess over the nine epochs, twin changes between successive
                         epochs inside the protected areas in force then
    tim-ridgeline/       Hong Kong Island's towers against its ridgeline from Tsim Sha Tsui
    tim-access/          residents within reach of schools, kindergartens, clinics, parks,
                         elderly centres and MTR stations, per district and constituency area:
                         a straight line (upper bound) and along the roads (lower bound)
    (both beside the TIM, where the dashboard's Heights & views tab reads them)
    tiles/               terrain with land use and the protected areas draped (no buildings)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

SEED = 42
#: Calibrated, validated period of the demo (the last three epochs).
EPOCHS = ("2003-2007", "2008-2012", "2013-2017")
#: A smaller search than twin calibrate's default (8, 3): the demo's time budget.
CALIBRATION_SEARCH = (3, 2)
SCENARIOS = ("hongkong-natural-development", "hongkong-ecological-protection",
             "hongkong-urban-development-priority")
#: The harbour vantage point: Tsim Sha Tsui promenade (22.2933 N, 114.1722 E), one of the
#: vantage points from which the Urban Design Guidelines protect Hong Kong Island's ridgeline.
VANTAGE = (835786.0, 817154.0, "Tsim Sha Tsui promenade 尖沙咀海濱")
ISLAND_DISTRICTS = ("Central & Western", "Wan Chai", "Eastern", "Southern")


def scenario_files(series: Path, out: Path) -> list[Path]:
    """The presets as files naming the drivers as of the scenarios' start (2013-17; for the
    urban development priority, the built-up areas with the planned new towns)."""
    import yaml

    from scenarios.calibration.series import DATED_DRIVERS, read_series

    index = read_series(series)
    last = index["epochs"][-1]["files"]
    drivers = {name: str((series / last[key]).resolve()) for name, key in DATED_DRIVERS.items()
               if key in last}
    out.mkdir(parents=True, exist_ok=True)
    from scenarios.schema import load_scenario

    files = []
    for name in SCENARIOS:
        own = dict(drivers)
        if name.endswith("urban-development-priority") and "planned" in index:
            own["builtup"] = str((series / index["planned"]["builtup"]).resolve())
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"extends": name, "name": name,
                                        "title": load_scenario(name).title,
                                        "land_use": {"drivers": own}}, sort_keys=False,
                                       allow_unicode=True),
                        encoding="utf-8")
        files.append(path)
    return files


def hato_bathtub() -> Any:
    """hongkong-hato with the bathtub engine at its peak level (seconds, not minutes)."""
    from scenarios.schema import load_scenario

    hato = load_scenario("hongkong-hato")
    surge = hato.surge.model_copy(update={"engine": "bathtub"})
    return hato.model_copy(update={"name": "hongkong-hato-bathtub", "surge": surge,
                                   "title": hato.title + " (bathtub)"})


def run_hongkong_demo(out: Path, *, port: int = 8050, host: str = "127.0.0.1",
                      serve_app: bool = True) -> dict[str, float]:
    """Build, calibrate, simulate and monitor Hong Kong under ``out`` (module doc), then
    serve it. Returns seconds per stage and ``total``."""
    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.data import derived_specs, DriverSpec
    from scenarios.calibration.report import write_calibration
    from scenarios.calibration.series import calibration_inputs, monitor_series, write_series
    from scenarios.compare import compare_runs
    from scenarios.planning.facility_access import (SUFFIX as ACCESS, facility_access,
                                                    network_access, write_access)
    from scenarios.planning.ridgeline import (SUFFIX as RIDGELINE, Vantage,
                                              towers_against_ridgeline, write_ridgeline)
    from scenarios.rundir import write_run
    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario
    from tim.build import build_from_catalog
    from tim.errors import InputError
    from tim.ingest.catalog import load_catalog
    from tim.store import save_territory
    from tim.tiles import write_tiles

    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        print(f"  {name:44s} {timings[name]:6.1f} s", flush=True)

    out = Path(out)
    command = ["twin", "demo", "--city", "hongkong"]
    print(f"Territory Twin demo of Hong Kong in {out.resolve()}")
    t0 = time.perf_counter()
    catalog = load_catalog("hongkong")
    if not all(Path(p).is_file() for p in catalog.observed.values()):
        raise InputError("the Hong Kong data are not there (set TWIN_DATA to the shared data "
                         "folder)", field="observed",
                         source=next(iter(catalog.observed.values()), None))
    territory = build_from_catalog(catalog)
    save_territory(territory, out / "tim")
    stage("TIM build (70 m)", t0)
    t = time.perf_counter()
    write_series(territory, catalog, out / "series")
    stage("epoch series (9 epochs, dated drivers)", t)

    t = time.perf_counter()
    maps, dated, drivers_at = calibration_inputs(out / "series", EPOCHS)
    dem = DriverSpec("dem", str(out / "tim" / "rasters" / "terrain__elevation.tif"))
    maxiter, popsize = CALIBRATION_SEARCH
    setup = CalibrationSetup(maps=maps, drivers=[dem, *dated, *derived_specs("dem", [7])],
                             drivers_at=drivers_at, maxiter=maxiter, popsize=popsize, seed=0)
    calibration = write_calibration(run_calibration(setup), out / "calibration")
    stage("calibration 2005->2010, validation ->2015", t)

    runs = []
    for path in scenario_files(out / "series", out / "scenarios"):
        t = time.perf_counter()
        result = run_scenario(territory, load_scenario(path), seed=SEED,
                              calibration=calibration)
        runs.append(write_run(result, out / "runs" / path.stem, tim=out / "tim",
                              command=command))
        stage(f"run {path.stem}", t)
    t = time.perf_counter()
    surge = write_run(run_scenario(territory, hato_bathtub(), seed=SEED),
                      out / "runs" / "hongkong-hato-bathtub", tim=out / "tim", command=command)
    stage("run hongkong-hato (bathtub)", t)
    t = time.perf_counter()
    compare_runs(runs, out / "report", langs=("en", "zh_CN"), stills=False)
    stage("compare + report (en, zh_CN)", t)
    t = time.perf_counter()
    monitoring = monitor_series(out / "tim", out / "series", out / "monitoring",
                                command=command)
    stage("monitoring (assess, changes x 8)", t)
    t = time.perf_counter()
    towers = territory.layers["tall_buildings"]
    island = towers[towers["dc2001"].isin(ISLAND_DISTRICTS)]
    x, y, name = VANTAGE
    vantage = Vantage(x, y, 1.6, name)
    write_ridgeline(towers_against_ridgeline(territory, vantage, island), vantage,
                    out / f"tim{RIDGELINE}")
    stage("towers against the ridgeline", t)
    t = time.perf_counter()
    straight = facility_access(territory)
    stage("facilities within a straight line", t)
    t = time.perf_counter()
    write_access([straight, network_access(territory)], territory, out / f"tim{ACCESS}")
    stage("facilities along the roads (life circle)", t)
    t = time.perf_counter()
    write_tiles(territory, out / "tiles", drape=True)
    stage("3D Tiles (terrain, land use draped)", t)
    timings["total"] = time.perf_counter() - t0
    print(f"  {'total':44s} {timings['total']:6.1f} s")
    print(f"Report: {(out / 'report' / 'report.html').resolve()} (中文: report.zh_CN.html)")
    if serve_app:
        from viz.app import serve

        # the monitoring folders have their own HTML reports (the dashboard reads runs)
        serve([*runs, surge, calibration], tiles_dir=out / "tiles", host=host, port=port)
    return timings
