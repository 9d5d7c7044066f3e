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
                          "storm-surge, surge-100y, surge-100y-seawall, surge-100y-slr)")
    run.add_argument("--tim", required=True, metavar="TIM_DIR")
    run.add_argument("--out", required=True, metavar="RUN_DIR")
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="compare runs; the first is the baseline")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--out", required=True, metavar="REPORT_DIR")
    compare.set_defaults(func=cmd_compare)

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
