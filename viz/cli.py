"""``twin``: the command line, a thin layer over typed library functions.

Each subcommand converts its arguments and calls one public function; errors the library raises
on purpose (:class:`tim.errors.TwinError`) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tim.errors import TwinError

log = logging.getLogger("twin")


def cmd_tim_build(args: argparse.Namespace) -> None:
    from tim.build import build_from_catalog, build_territory
    from tim.ingest.catalog import load_catalog, source_from_argument
    from tim.store import save_territory

    if args.catalog and args.sources:
        raise TwinError("give SOURCE files or --catalog, not both")
    if args.catalog:
        territory = build_from_catalog(load_catalog(args.catalog), crs=args.crs,
                                       cell_size=args.cell_size)
    elif args.sources:
        territory = build_territory([source_from_argument(s) for s in args.sources],
                                    crs=args.crs, cell_size=args.cell_size,
                                    name=args.name or Path(args.out).name)
    else:
        raise TwinError("nothing to build: give SOURCE files or --catalog catalog.yaml")
    save_territory(territory, args.out)
    print(f"TIM written to {args.out}: {territory.grid.shape[0]} x {territory.grid.shape[1]} "
          f"cells in {territory.grid.crs}, {len(territory.fields)} fields, "
          f"{len(territory.layers)} vector layers")


def cmd_tim_info(args: argparse.Namespace) -> None:
    from tim.info import describe

    print(describe(args.tim))


def cmd_tiles(args: argparse.Namespace) -> None:
    from tim.store import load_territory
    from tim.tiles import write_tiles

    summary = write_tiles(load_territory(args.tim), Path(args.out))
    print(f"3D Tiles written to {args.out}: {summary.buildings} buildings in {summary.tiles} "
          f"tiles ({summary.triangles} triangles)")


def cmd_run(args: argparse.Namespace) -> None:
    from scenarios.rundir import write_run
    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario
    from tim.store import load_territory

    scenario = load_scenario(args.scenario)
    result = run_scenario(load_territory(args.tim), scenario, seed=args.seed)
    write_run(result, args.out, tim=args.tim, command=sys.argv)
    final = result.indicators[result.indicators["year"] == result.years[-1]]
    flagged = final[final["status"].isin(["yellow", "red"])]
    print(f"{scenario.name}: {result.years[0]}-{result.years[-1]} simulated in "
          f"{result.timings['total_s']:.2f} s, written to {args.out}")
    for _, row in flagged.iterrows():
        print(f"  {row['status'].upper():6} {row['indicator']} = {row['value']:.1f} {row['unit']}")


def cmd_compare(args: argparse.Namespace) -> None:
    from scenarios.compare import compare_runs

    comparison = compare_runs(args.runs, args.out)
    print(f"report written to {Path(args.out) / 'report.html'} "
          f"({len(comparison.runs)} runs, {len(comparison.warnings)} warnings)")


def cmd_calibrate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from scenarios.calibrate import CalibrationSetup, run_calibration, write_calibration
    from scenarios.landuse_data import DriverSpec, derived_specs

    maps = dict(_year_path(m) for m in args.map)
    drivers = [DriverSpec.parse(d) for d in args.driver]
    drivers += derived_specs(args.slope_from, args.distance_to or [])
    setup = CalibrationSetup(maps=maps, drivers=drivers, constraint=args.constraint,
                             conversion=args.conversion, classes=_codes(args.classes),
                             method=args.method,
                             samples=args.samples, seed=args.seed, maxiter=args.maxiter,
                             popsize=args.popsize)
    with tqdm(desc="calibrating", unit="sim", disable=args.no_progress) as bar:
        def progress(done: int, planned: int, best: float) -> None:
            bar.total = max(planned, done)
            bar.set_postfix(best_fom=f"{best:.4f}", refresh=False)
            bar.update(done - bar.n)

        report = run_calibration(setup, progress=progress)
    write_calibration(report, args.out)
    print(f"calibration written to {args.out} ({report.result.evaluations} simulations)")
    for p in report.periods:
        m = {k: p.metrics[k]["overall"] for k in ("model", "null_no_change", "null_random")}
        print(f"  {p.name} {p.years[0]}-{p.years[1]}: FoM {m['model']['figure_of_merit']:.4f} "
              f"(no change {m['null_no_change']['figure_of_merit']:.4f}, random "
              f"{m['null_random']['figure_of_merit']:.4f}); Kappa simulation "
              f"{m['model']['kappa_simulation']:.4f} (no change "
              f"{m['null_no_change']['kappa_simulation']:.4f}, random "
              f"{m['null_random']['kappa_simulation']:.4f})")


def cmd_simulate(args: argparse.Namespace) -> None:
    from scenarios.forecast import run_forecast, write_forecast
    from scenarios.landuse_data import DriverSpec

    result = run_forecast(args.start, args.start_year, args.params, args.demand,
                          drivers=[DriverSpec.parse(d) for d in args.driver],
                          constraint=args.constraint, zones=args.zones, seed=args.seed,
                          tolerance=args.tolerance)
    write_forecast(result, args.start, args.out)
    t = result.summary["timings_s"]
    print(f"simulated {result.years[0] - 1}-{result.years[-1]} ({len(result.years)} years, "
          f"{t['per_year']:.2f} s per year), written to {args.out}")
    for note in result.summary["notes"]:
        print(f"  note: {note}")


def _year_path(text: str) -> tuple[int, str]:
    year, sep, path = text.partition("=")
    if not sep or not year.strip().isdigit():
        raise TwinError(f"--map takes YEAR=PATH, got {text!r}")
    return int(year), path


def _codes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(c) for c in text.split(",")]
    except ValueError:
        raise TwinError(f"--classes takes codes separated by commas, got {text!r}") from None


def cmd_serve(args: argparse.Namespace) -> None:
    from viz.app import serve

    serve([Path(p) for p in args.runs], tiles_dir=args.tiles, host=args.host, port=args.port)


def cmd_demo(args: argparse.Namespace) -> None:
    from viz.demo import run_demo

    run_demo(Path(args.out), port=args.port, host=args.host, serve_app=not args.no_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin", description="Territory Twin: territory "
                                     "information model, scenarios and dashboard.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    tim = sub.add_parser("tim", help="build or inspect a Territory Information Model")
    tim_sub = tim.add_subparsers(dest="tim_command", required=True)
    build = tim_sub.add_parser("build", help="ingest sources into a TIM store")
    build.add_argument("sources", nargs="*", metavar="SOURCE",
                       help="ROLE=PATH or PATH (role from the file name); roles: elevation, "
                            "land_use, population, buildings, control_lines, planning_units")
    build.add_argument("--catalog", help="catalog.yaml naming the sources instead")
    build.add_argument("--out", required=True, help="TIM directory to write")
    build.add_argument("--crs", help="project CRS (EPSG:xxxx or WKT); also assigned to "
                                     "sources that declare none")
    build.add_argument("--cell-size", type=float, help="grid cell size in CRS units")
    build.add_argument("--name", help="territory name (default: the output directory name)")
    build.set_defaults(func=cmd_tim_build)
    info = tim_sub.add_parser("info", help="describe a TIM store")
    info.add_argument("tim", metavar="TIM_DIR")
    info.set_defaults(func=cmd_tim_info)

    tiles = sub.add_parser("tiles", help="export the TIM's buildings as 3D Tiles")
    tiles.add_argument("tim", metavar="TIM_DIR")
    tiles.add_argument("--out", required=True, metavar="TILES_DIR")
    tiles.set_defaults(func=cmd_tiles)

    run = sub.add_parser("run", help="simulate a scenario on a TIM")
    run.add_argument("scenario", metavar="SCENARIO",
                     help="scenario YAML file, or a built-in name (baseline, high-growth, "
                          "storm-surge)")
    run.add_argument("--tim", required=True, metavar="TIM_DIR")
    run.add_argument("--out", required=True, metavar="RUN_DIR")
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="compare runs; the first is the baseline")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--out", required=True, metavar="REPORT_DIR")
    compare.set_defaults(func=cmd_compare)

    cal = sub.add_parser("calibrate", help="learn suitability and fit the land-use CA on one "
                                           "pair of maps, validate on the next")
    cal.add_argument("--map", action="append", required=True, metavar="YEAR=PATH",
                     help="land-use map of a year (two or three, on one grid)")
    cal.add_argument("--driver", action="append", default=[], metavar="NAME=PATH",
                     help="driver raster; append :categorical for category codes")
    cal.add_argument("--slope-from", metavar="NAME", help="add slope of this elevation driver")
    cal.add_argument("--distance-to", type=int, action="append", metavar="CODE",
                     help="add the distance to this class (from each period's start map)")
    cal.add_argument("--constraint", metavar="PATH", help="raster: 0 = cell never changes")
    cal.add_argument("--conversion", metavar="CSV",
                     help="from,<code>,...: transition costs in [0, 1], x = forbidden")
    cal.add_argument("--classes", metavar="C1,C2,...", help="class codes (default: found)")
    cal.add_argument("--method", default="random_forest",
                     choices=["random_forest", "logistic"])
    cal.add_argument("--samples", type=int, default=20000,
                     help="training cells per class")
    cal.add_argument("--maxiter", type=int, default=8, help="generations of the search")
    cal.add_argument("--popsize", type=int, default=4,
                     help="candidates per generation, per parameter")
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument("--no-progress", action="store_true", help="no progress bar")
    cal.add_argument("--out", required=True, metavar="REPORT_DIR")
    cal.set_defaults(func=cmd_calibrate)

    sim = sub.add_parser("simulate", help="run a calibrated land-use model to the years of a "
                                          "demand table; writes a GeoTIFF")
    sim.add_argument("--start", required=True, metavar="PATH", help="start land-use map")
    sim.add_argument("--start-year", type=int, required=True)
    sim.add_argument("--driver", action="append", default=[], metavar="NAME=PATH",
                     help="the driver rasters the model was calibrated with")
    sim.add_argument("--constraint", metavar="PATH", help="raster: 0 = cell never changes")
    sim.add_argument("--params", required=True, metavar="parameters.yaml",
                     help="written by twin calibrate")
    sim.add_argument("--demand", required=True, metavar="CSV",
                     help="year[,zone],<code>,...: class areas in cells")
    sim.add_argument("--zones", metavar="PATH", help="raster of demand zones 0..N-1")
    sim.add_argument("--tolerance", type=float, default=0.01,
                     help="largest relative gap between demand total and study area that is "
                          "spread over the classes (default 0.01)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, metavar="OUT.tif")
    sim.set_defaults(func=cmd_simulate)

    serve = sub.add_parser("serve", help="start the dashboard on localhost")
    serve.add_argument("runs", nargs="*", metavar="RUN_DIR")
    serve.add_argument("--tiles", type=Path, metavar="TILES_DIR",
                       help="3D Tiles for the 3D view (from 'twin tiles')")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="build the sample territory, tile it, run the sample "
                                       "scenarios, compare them and serve the dashboard")
    demo.add_argument("--out", default="demo-output", help="working directory")
    demo.add_argument("--port", type=int, default=8050)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--no-serve", action="store_true", help="stop before starting the server")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    try:
        args.func(args)
    except TwinError as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    log.info("done in %.1f s", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
