"""``twin``: the command line, a thin layer over typed library functions.

Each subcommand converts its arguments and calls one public function; errors the library raises
on purpose (:class:`tim.errors.TwinError`) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

from tim.errors import TwinError

log = logging.getLogger("twin")


def _number(low: float, high: float, *, integer: bool = False, low_open: bool = False,
            ) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` if
    ``low_open``), an integer if ``integer``. argparse turns its error into
    ``twin <cmd>: error: argument --x: ...`` and exit status 2."""
    def convert(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{'an integer' if integer else 'a number'} expected, got {text[:40]!r}"
            ) from None
        inside = (low < value if low_open else low <= value) and value <= high
        if not (math.isfinite(value) and inside):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"must be a finite number in {bracket}{_fmt(low)}, {_fmt(high)}], "
                f"got {text[:40]!r}")
        return value
    convert.__name__ = "integer" if integer else "number"
    return convert


def _fmt(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


#: Seeds are 32-bit: the counter-based random streams hash them as unsigned 32-bit words.
SEED = _number(0, 2**32 - 1, integer=True)


def cmd_tim_build(args: argparse.Namespace) -> None:
    from tim.build import build_from_catalog, build_territory
    from tim.info import FEATURE_ACTIONS, report_lines
    from tim.ingest.catalog import catalog_inputs, load_catalog, source_from_argument
    from tim.ingest.layers import HeightRules
    from tim.store import save_territory

    if args.catalog and args.sources:
        raise TwinError("give SOURCE files or --catalog, not both")
    if args.store:  # a malformed store URL is refused before the build, not after it
        from tim.postgis import PostGISStore

        PostGISStore.from_url(args.store)
    if args.catalog:
        from tim.atomic import check_output

        catalog = load_catalog(args.catalog)
        check_output(args.out, catalog_inputs(catalog))
        territory = build_from_catalog(catalog, crs=args.crs, cell_size=args.cell_size)
    elif args.sources:
        heights = HeightRules(storey_height=args.storey_height) if args.storey_height \
            else HeightRules()
        territory = build_territory([source_from_argument(s) for s in args.sources],
                                    crs=args.crs, cell_size=args.cell_size,
                                    name=args.name or Path(args.out).name, heights=heights)
    else:
        raise TwinError("nothing to build: give SOURCE files or --catalog catalog.yaml")
    save_territory(territory, args.out, store=args.store)
    extra = [f"{len(c):,} points" for c in territory.point_clouds.values()]
    extra += [f"mesh {n} ({len(m):,} triangles)" for n, m in territory.meshes.items()]
    print(f"TIM written to {args.out}: {territory.grid.shape[0]} x {territory.grid.shape[1]} "
          f"cells in {territory.grid.crs} (heights: {territory.vertical_datum}), "
          f"{len(territory.fields)} fields, {len(territory.layers)} vector layers"
          + "".join(f", {e}" for e in extra))
    for h in territory.history:
        if h.action == "warning":
            print(f"  warning: {h.detail['message']}")
    issues = [h for h in territory.history if h.action in FEATURE_ACTIONS]
    for line in report_lines(issues):
        print(f"  {line}")


def cmd_tim_series(args: argparse.Namespace) -> None:
    from tim.ingest.catalog import catalog_inputs, load_catalog
    from scenarios.calibration.series import write_series
    from tim.store import load_territory

    catalog = load_catalog(args.catalog)
    from tim.atomic import check_output

    check_output(args.out, catalog_inputs(catalog) + [Path(args.tim)])
    index = write_series(load_territory(args.tim), catalog, args.out,
                         catalog_path=args.catalog)
    print(f"series written to {args.out}: {len(index['epochs'])} epochs "
          f"({', '.join(e['label'] for e in index['epochs'])}) on the {index['shape'][0]} x "
          f"{index['shape'][1]} grid of {args.tim}; land use, distance to main and secondary "
          f"roads, built-up and protected areas as of each epoch (series.json)")


def cmd_tim_info(args: argparse.Namespace) -> None:
    from tim.info import describe

    print(describe(args.tim))


def cmd_tiles(args: argparse.Namespace) -> None:
    from tim.store import load_territory
    from tim.tiles import write_tiles

    parts = args.parts.split(",") if args.parts else None
    summary = write_tiles(load_territory(args.tim), Path(args.out), parts=parts, lod=args.lod,
                          geoid_height=args.geoid_height, point_jobs=args.jobs,
                          drape=args.drape, version=args.spec, jobs=args.jobs)
    print(f"3D Tiles written to {Path(args.out) / 'tileset.json'}:")
    for part in summary.parts.values():
        what = (f"{part.points:,} points" if part.points else
                f"{part.features:,} features, {part.triangles:,} triangles" if part.features
                else f"{part.triangles:,} triangles")
        print(f"  {part.tileset:34s} {part.tiles:5d} tiles, {what}")
    for overlay in summary.overlays:
        print(f"  {overlay}")
    if summary.geoid_height:
        print(f"  heights: {summary.vertical_datum} + {summary.geoid_height:g} m placed as "
              "ellipsoidal (recorded in asset.extras)")


def cmd_publish(args: argparse.Namespace) -> None:
    if args.new_buildings:
        from scenarios.publish import publish_new_buildings

        path = publish_new_buildings(args.run, args.tiles)
    else:
        from scenarios.publish import publish_run

        path = publish_run(args.run, args.tiles, name=args.name)
    print(f"overlay written to {path}")


def cmd_export(args: argparse.Namespace) -> None:
    from tim.export import export_territory

    if args.tiles and args.format != "tim":
        raise TwinError("--tiles tiles a TIM copy: use it with --format tim")
    summary = export_territory(args.tim, args.out, args.level, args.format)
    print(f"{summary.level} copy written to {summary.path}: {len(summary.kept)} kept, "
          f"dropped {', '.join(summary.dropped) or 'nothing'}"
          + "".join(f"; {name} generalised to {tol:g} m" for name, tol in
                    summary.generalised.items())
          + (f" ({summary.features_dropped} features vanished)" if summary.features_dropped
             else ""))
    if args.tiles:
        from tim.store import load_territory
        from tim.tiles import write_tiles

        # Tiled afresh from the copy: parts of dropped items are absent, generalised layers are
        # tiled generalised, and every tileset records a level at most --level.
        tiles = write_tiles(load_territory(summary.path), summary.path / "tiles")
        print(f"3D Tiles of the copy written to {tiles.tileset}: "
              f"{', '.join(tiles.parts) or 'nothing'}")


def cmd_run(args: argparse.Namespace) -> None:
    from scenarios.rundir import write_run
    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario
    from tim.store import load_territory

    scenario = load_scenario(args.scenario)
    result = run_scenario(load_territory(args.tim), scenario, seed=args.seed,
                          calibration=args.calibration)
    write_run(result, args.out, tim=args.tim, command=sys.argv)
    if result.calibration is not None:
        print(f"  land use: calibrated model {result.calibration['path']} "
              f"(parameters sha256 {result.calibration['parameters_sha256'][:12]})")
    final = result.indicators[result.indicators["year"] == result.years[-1]]
    flagged = final[final["status"].isin(["yellow", "red"])]
    print(f"{scenario.name}: {result.years[0]}-{result.years[-1]} simulated in "
          f"{result.timings['total_s']:.2f} s, written to {args.out}")
    for _, row in flagged.iterrows():
        print(f"  {row['status'].upper():6} {row['indicator']} = {row['value']:.1f} {row['unit']}")


def cmd_ensemble(args: argparse.Namespace) -> None:
    from scenarios.ensemble import SerialExecutor, dask_executor, run_ensemble
    from scenarios.runner import resolve_calibration
    from scenarios.schema import load_scenario

    # Each member resolves the calibration again from the scenario: it travels as a path.
    scenario, _ = resolve_calibration(load_scenario(args.scenario), args.calibration)
    if args.seed + args.members > 2**32:
        raise TwinError(f"--seed {args.seed} + --members {args.members} runs past the largest "
                        f"seed {2**32 - 1}")
    seeds = list(range(args.seed, args.seed + args.members))
    if args.serial:
        executor_context = contextlib.nullcontext(SerialExecutor())
    else:
        executor_context = dask_executor(args.scheduler, workers=args.workers)
    with executor_context as executor:
        result = run_ensemble(args.tim, scenario, seeds, args.out, executor)
    final = max(result.probability)
    p = result.probability[final]
    print(f"{scenario.name}: {len(seeds)} members on {executor.name}, written to {args.out}; "
          f"{int((p > 0).sum())} cells developed in at least one member by {final}, "
          f"{int((p >= 0.5).sum())} in at least half")


def cmd_example(args: argparse.Namespace) -> None:
    from scenarios.places import write_example

    out = Path(args.out)
    catalog = write_example(args.place, out)
    print(f"sources, catalog and scenario written to {out}; now:\n"
          f"  twin tim build --catalog {catalog} --out {out / 'tim'}\n"
          f"  twin run {out / 'surge.yaml'} --tim {out / 'tim'} --out {out / 'run'}")


def cmd_compare(args: argparse.Namespace) -> None:
    from scenarios.compare import compare_runs

    langs = [lang for value in (args.lang or ["en"]) for lang in value.split(",") if lang]
    comparison = compare_runs(args.runs, args.out, pdf=args.pdf, langs=langs,
                              stills=not args.no_3d, ensembles=args.ensemble or ())
    names = ["report"] + [f"report.{lang}" for lang in langs[1:]]
    written = ", ".join(str(Path(args.out) / f"{n}.{ext}") for n in names
                        for ext in (("html", "pdf") if args.pdf else ("html",)))
    print(f"report written to {written} "
          f"({len(comparison.runs)} runs, {len(comparison.warnings)} warnings)")


def cmd_calibrate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.report import write_calibration
    from scenarios.calibration.data import DriverSpec, derived_specs
    from scenarios.monitoring.reports import languages

    languages(args.lang)  # a language not available is refused before the search runs
    maps = dict(_year_path(m) for m in args.map or [])
    drivers = [DriverSpec.parse(d) for d in args.driver]
    drivers_at: dict = {}
    if args.series:  # the epochs' maps and their dated drivers (roads, built-up areas)
        from scenarios.calibration.series import calibration_inputs

        if maps or not args.epochs:
            raise TwinError("give --series DIR with --epochs A,B[,C], and no --map")
        maps, dated, drivers_at = calibration_inputs(args.series, args.epochs.split(","))
        drivers += dated
    drivers += derived_specs(args.slope_from, args.distance_to or [])
    setup = CalibrationSetup(maps=maps, drivers=drivers, constraint=args.constraint,
                             conversion=args.conversion, classes=_codes(args.classes),
                             method=args.method,
                             samples=args.samples, seed=args.seed, maxiter=args.maxiter,
                             popsize=args.popsize, search=args.search,
                             drivers_at=drivers_at)
    executor_context = contextlib.nullcontext(None)
    if args.scheduler or args.workers:  # candidates on Dask, as twin ensemble runs members
        from scenarios.ensemble import dask_executor
        executor_context = dask_executor(args.scheduler, workers=args.workers or 2)
    with executor_context as executor, \
            tqdm(desc="calibrating", unit="sim", disable=args.no_progress) as bar:
        def progress(done: int, planned: int, best: float) -> None:
            bar.total = max(planned, done)
            bar.set_postfix(best_fom=f"{best:.4f}", refresh=False)
            bar.update(done - bar.n)

        report = run_calibration(setup, progress=progress, executor=executor)
    write_calibration(report, args.out, langs=args.lang or ["en"], pdf=args.pdf)
    print(f"calibration written to {args.out} ({report.result.evaluations} simulations); "
          f"report: {_monitoring_reports(args)}")
    for p in report.periods:
        m = {k: p.metrics[k]["overall"] for k in ("model", "null_no_change", "null_random")}
        print(f"  {p.name} {p.years[0]}-{p.years[1]}: FoM {m['model']['figure_of_merit']:.4f} "
              f"(no change {m['null_no_change']['figure_of_merit']:.4f}, random "
              f"{m['null_random']['figure_of_merit']:.4f}); Kappa simulation "
              f"{m['model']['kappa_simulation']:.4f} (no change "
              f"{m['null_no_change']['kappa_simulation']:.4f}, random "
              f"{m['null_random']['kappa_simulation']:.4f})")


def cmd_simulate(args: argparse.Namespace) -> None:
    from scenarios.calibration.forecast import run_forecast, write_forecast
    from scenarios.calibration.data import DriverSpec

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
    from viz.server import serve_options

    security = serve_options(args.host, args.auth, args.allowed_host or (), args.audit_log,
                             clearance=args.clearance)
    serve([Path(p) for p in args.runs], tiles_dir=args.tiles, host=args.host, port=args.port,
          ensembles=args.ensemble or (), heights=args.heights or (),
          sightlines=args.sightlines or (), calibrations=args.calibration or (),
          monitoring=args.monitoring or (), security=security, lang=args.lang)


def cmd_users_add(args: argparse.Namespace) -> None:
    import getpass

    from viz.server import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise TwinError("the passwords differ")
    add_user(args.file, args.name, password, args.role, args.clearance)
    print(f"{args.name} ({args.role}, clearance {args.clearance}) written to {args.file}")


def cmd_demo(args: argparse.Namespace) -> None:
    if args.city == "hongkong":  # the real coastal city from $TWIN_DATA (docs/hongkong.md)
        from viz.demo_hongkong import run_hongkong_demo

        run_hongkong_demo(Path(args.out), port=args.port, host=args.host,
                          serve_app=not args.no_serve)
        return
    from viz.demo import run_demo

    run_demo(Path(args.out), port=args.port, host=args.host, serve_app=not args.no_serve,
             members=args.members, dask=args.dask, calibration=not args.no_calibration)


def _numbers(text: str, option: str, counts: tuple[int, ...]) -> tuple[float, ...]:
    """``"X,Y"`` or ``"X,Y,Z"`` as floats; anything else is an error naming the option."""
    from tim.errors import InputError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in counts or not all(map(math.isfinite, values)):
        shape = " or ".join(",".join("XYZ"[:n]) for n in counts)
        raise InputError(f"expected {shape} (numbers in the CRS, no spaces)", field=option,
                         value=text)
    return values


def cmd_viewshed(args: argparse.Namespace) -> None:
    from engine.analysis.viewshed import Observer, ViewshedOptions
    from scenarios.planning.views import read_observers, viewshed_to_file

    observers = []
    for text in args.observer or []:
        xyz = _numbers(text, "--observer", (2, 3))
        observers.append(Observer(xyz[0], xyz[1], args.height, xyz[2] if len(xyz) == 3
                                  else None))
    if args.observers:
        observers += read_observers(args.observers, height=args.height)
    if not observers:
        raise TwinError("no observer: give --observer X,Y (repeatable) or --observers FILE.csv")
    options = ViewshedOptions(target_height=args.target_height,
                              max_distance=args.max_distance or math.inf,
                              curvature=not args.flat_earth, refraction=args.refraction)
    summary = viewshed_to_file(args.source, observers, args.out, options)
    what = ("seen" if summary.observers == 1
            else f"seen by at least one of {summary.observers} observers")
    print(f"viewshed written to {summary.path} ({summary.field}): {summary.seen_cells} of "
          f"{summary.cells} cells {what} ({100 * summary.seen_share:.1f} %) in "
          f"{summary.seconds:.2f} s")


def cmd_heights(args: argparse.Namespace) -> None:
    from scenarios.planning.height_rules import load_rules, rules_from_zoning_layer
    from scenarios.planning.heights import check_heights, read_proposals, write_heights
    from tim.store import load_territory

    territory = load_territory(args.tim)
    rules = (load_rules(args.rules, territory) if args.rules
             else rules_from_zoning_layer(territory))
    proposals = read_proposals(args.proposals, territory) if args.proposals else None
    report = check_heights(territory, rules, proposals)
    out = Path(args.out) if args.out else Path(args.tim).with_name(Path(args.tim).name +
                                                                   "-heights")
    write_heights(report, territory, out, command=sys.argv)
    c = report.counts
    print(f"{rules.name}: {c['violations']} of {c['buildings']} buildings over their height "
          f"limit, {c['far_violations']} of {c['parcels']} parcels over their FAR; written to "
          f"{out}")
    for row in report.violations.head(args.top).itertuples():
        print(f"  {row.building_id:>16} ({row.source}, unit {row.unit or '-'}): "
              f"{row.height_m:6.2f} m, limit {row.max_height_m:6.2f} m, "
              f"over by {row.excess_m:5.2f} m ({row.rule})")
    if len(report.violations) > args.top:
        print(f"  ... and {len(report.violations) - args.top} more in {out / 'violations.csv'}")
    for row in report.units[report.units["violations"] > 0].itertuples():
        print(f"  unit {row.unit or '(none)'}: {row.violations} of {row.buildings} buildings "
              f"over, up to {row.max_excess_m:.2f} m, {row.excess_volume_m3:.0f} m3 above")


def cmd_sightline(args: argparse.Namespace) -> None:
    from scenarios.planning.sightlines import (blocker_name, point_at, read_targets,
                                      territory_sightlines, write_sightlines)
    from tim.store import load_territory

    territory = load_territory(args.tim)
    xyz = _numbers(args.source, "--from", (2, 3))
    viewpoint = point_at(territory, xyz[0], xyz[1], xyz[2] if len(xyz) == 3 else None,
                         args.from_height, "viewpoint")
    targets = []
    for k, text in enumerate(args.to or []):
        xyz = _numbers(text, "--to", (2, 3))
        targets.append(point_at(territory, xyz[0], xyz[1], xyz[2] if len(xyz) == 3 else None,
                                args.to_height, f"target {k + 1}"))
    if args.targets:
        targets += read_targets(territory, args.targets, args.to_height)
    if not targets:
        raise TwinError("no target: give --to X,Y[,Z] (repeatable) or --targets FILE.csv")
    lines = territory_sightlines(territory, viewpoint, targets, method=args.method,
                                 facing=args.facing, field_of_view=args.fov)
    print(f"{len(lines)} sightline(s) from ({viewpoint.x:.1f}, {viewpoint.y:.1f}, "
          f"{viewpoint.z:.2f}) by the {args.method} method: "
          f"{sum(line.visible for line in lines)} free")
    for k, line in enumerate(lines):
        t = line.target
        head = (f"  {k + 1:>3} to ({t.x:.1f}, {t.y:.1f}, {t.z:.2f}), "
                f"{line.viewpoint.distance(t):.0f} m:")
        if line.visible:
            print(f"{head} free (clearance {line.clearance:.2f} m)")
            continue
        print(f"{head} BLOCKED")
        for b in line.blockers:
            print(f"        {blocker_name(territory, b.label):>24}  lower by {b.lower_by:7.2f} m"
                  f"  at {b.distance:.0f} m")
    if args.out:
        write_sightlines(territory, lines, args.out, command=sys.argv)
        print(f"written to {args.out}")


def cmd_changes(args: argparse.Namespace) -> None:
    from scenarios.monitoring.changes import run_changes

    r = run_changes(args.tim, args.before, args.after, args.out, min_area_ha=args.min_area,
                    connectivity=args.connectivity, derive_lines=args.derive_lines,
                    water_constraint=args.water_constraint, pdf=args.pdf, langs=args.lang,
                    command=sys.argv[1:])
    counts = r.patches["severity"].value_counts()
    print(f"{len(r.patches):,} change patches {r.before} -> {r.after} written to {args.out} ("
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("critical", "high", "medium", "low"))
          + f"); report: {_monitoring_reports(args)}")


def cmd_assess(args: argparse.Namespace) -> None:
    from scenarios.monitoring.assess import run_assessment
    from scenarios.monitoring.observed import read_series_file

    observed, population, scale = args.observed or [], args.population or [], \
        args.population_scale
    if args.series:
        if observed or population:
            raise TwinError("give --series or --observed/--population, not both")
        observed, population, scale = read_series_file(args.series)
    if not observed:
        raise TwinError("nothing to assess: give --observed YEAR=PATH... or --series FILE")
    r = run_assessment(args.tim, observed, args.out, population=population,
                       population_scale=scale, registry=args.registry,
                       derive_lines=args.derive_lines, water_constraint=args.water_constraint,
                       pdf=args.pdf, langs=args.lang, command=sys.argv[1:])
    counts = r.warnings["status"].value_counts()
    print(f"assessment of {', '.join(map(str, r.years))} written to {args.out} "
          f"({counts.get('red', 0)} red, {counts.get('yellow', 0)} yellow warnings); "
          f"report: {_monitoring_reports(args)}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import warnings

    from scenarios.monitoring.evaluation import run_evaluation

    with warnings.catch_warnings():  # the factors left out are printed below, once
        warnings.simplefilter("ignore", UserWarning)
        r = run_evaluation(args.tim, args.out, rules=args.rules, flood=args.flood,
                           soil=args.soil, land_use=args.land_use, into_tim=args.into_tim,
                           red_line_grade=args.red_line_grade, pdf=args.pdf, langs=args.lang,
                           command=sys.argv[1:])
    for item in r.left_out:
        print(f"  warning: {item['message']}")
    print(f"双评价 of {', '.join(r.grades)} written to {args.out}"
          + (f"; fields stored in {args.tim}" if args.into_tim else "")
          + f"; report: {_monitoring_reports(args)}")


def cmd_review(args: argparse.Namespace) -> None:
    from scenarios.monitoring.review import run_review

    r = run_review(args.tim, args.proposals, args.out, rules=args.rules,
                   height_rules=args.height_rules, derive_lines=args.derive_lines,
                   water_constraint=args.water_constraint, pdf=args.pdf, langs=args.lang,
                   command=sys.argv[1:], sunlight=args.sunlight)
    failed = int((r.proposals["result"] == "fail").sum())
    print(f"{len(r.proposals)} proposals reviewed, {failed} fail at least one rule; written to "
          f"{args.out}; report: {_monitoring_reports(args)}")


def _monitoring_reports(args: argparse.Namespace) -> str:
    """The report files a monitoring command wrote (first language: report.html)."""
    from scenarios.monitoring.reports import languages

    langs = languages(args.lang)
    names = ["report"] + [f"report.{lang}" for lang in langs[1:]]
    return ", ".join(str(Path(args.out) / f"{n}.{ext}") for n in names
                     for ext in (("html", "pdf") if args.pdf else ("html",)))


def _monitoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--derive-lines", action="store_true",
                   help="derive the control lines the TIM lacks from the earliest observed map "
                        "(documented stand-ins, labelled derived)")
    p.add_argument("--water-constraint", metavar="PATH",
                   help="raster whose 0 cells restrict conversion (the water line stand-in)")
    p.add_argument("--pdf", action="store_true", help="also print report.pdf (Chromium)")
    _report_languages(p)


def _report_languages(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", action="append", metavar="LANG",
                   help="report language: en (default) or zh_CN; repeat or give a comma "
                        "list (en,zh_CN): the first is report.html, the others "
                        "report.<lang>.html")


# -- planners' analyses: sunlight hours (日照) and the 15-minute life circle ------------------
def cmd_sunlight(args: argparse.Namespace) -> None:
    from scenarios.planning.heights import read_proposals
    from scenarios.planning.sunlight import (check_sunlight, load_sunlight_rules,
                                             read_run_buildings, write_sunlight)
    from tim.store import load_territory

    if args.proposals and args.run:
        raise TwinError("give --proposals FILE or --run RUN_DIR, not both")
    territory = load_territory(args.tim)
    rules, path = load_sunlight_rules(args.rules, climate_zone=args.climate_zone,
                                      urban_population=args.population)
    proposals = (read_proposals(args.proposals, territory) if args.proposals
                 else read_run_buildings(args.run) if args.run else None)
    report = check_sunlight(territory, proposals, rules, path, date=args.date,
                            shadow_map=not args.no_map, all_floors=args.all_floors)
    write_sunlight(report, territory, args.out, command=sys.argv, proposals_file=args.proposals)
    c = report.counts
    print(f"{report.day_label} {report.sun.day.isoformat()}, {rules.site.climate_zone} "
          f"climate zone, at least {report.threshold_hours:g} h: {c['points']} façade points "
          f"on {c['buildings']} buildings ({c['points_not_facing_sun']} facing away from the "
          f"sun left out); failing {c['failing_before']} before and {c['failing_after']} "
          f"after the {c['proposals']} proposal(s), {c['broken']} broken by them; written to "
          f"{args.out}")
    for row in report.buildings[report.buildings["broken"]].head(args.top).itertuples():
        print(f"  {row.building_id:>16}: least {row.min_hours_before:.2f} h before, "
              f"{row.min_hours_after:.2f} h after, broken by {row.broken_by}")


def cmd_lifecircle(args: argparse.Namespace) -> None:
    from scenarios.planning.lifecircle import (check_lifecircle, facilities_from_frame,
                                               load_standards, network_of, read_facilities,
                                               write_lifecircle)
    from scenarios.rundir import RunDirectory
    from tim.store import load_territory

    territory = load_territory(args.tim)
    standards, path = load_standards(args.standards, walking_speed=args.speed)
    crs = territory.grid.crs
    network, source = network_of(territory, args.network or args.osm)
    amenities = territory.layers.get("amenities")
    if args.facilities or args.osm:
        where = args.facilities or args.osm
        facilities = read_facilities(where, standards, crs, type_column=args.type_column or "type")
    elif amenities is not None:
        where = "the TIM's amenities layer"
        facilities = facilities_from_frame(amenities, standards, crs, source=where,
                                           type_column=args.type_column or "kind")
    else:
        raise TwinError("give --facilities FILE or --osm FILE.pbf: the TIM has no amenities")
    new = RunDirectory.open(args.run).new_buildings() if args.run else None
    report = check_lifecircle(territory, network, facilities, standards, path,
                              new_buildings=new)
    write_lifecircle(report, territory, args.out, command=sys.argv, network=str(source),
                     facilities=str(where))
    c = report.counts
    print(f"{c['buildings']} residential buildings ({c['residents']} residents, "
          f"{c['new_buildings']} new), {c['facilities']} facilities, a network of "
          f"{c['nodes']} nodes and {c['edges']} edges at {standards.walking_speed_m_s:g} m/s; "
          f"written to {args.out}")
    total = report.coverage.groupby("type", sort=False)[["residents", "covered",
                                                         "unreachable_residents"]].sum()
    for key, row in total.iterrows():
        spec = standards.facilities[str(key)]
        if not (report.facilities["type"] == key).any():
            print(f"  {key:>16} ({spec.minutes:g} min): none in the data")
            continue
        share = row.covered / row.residents if row.residents else float("nan")
        print(f"  {key:>16} ({spec.minutes:g} min): {100 * share:5.1f} % of residents "
              f"covered, {row.unreachable_residents:.0f} unreachable")


def _planning_commands(sub: argparse._SubParsersAction) -> None:
    """The planners' subcommands (sunlight, lifecircle)."""
    sun = sub.add_parser("sunlight", help="sunlight hours (日照) of residential façades before "
                                          "and after proposals, against GB 50180-2018")
    sun.add_argument("tim", metavar="TIM_DIR")
    sun.add_argument("--proposals", metavar="FILE",
                     help="proposed buildings (footprints with height or storeys)")
    sun.add_argument("--run", metavar="RUN_DIR", help="check a run's new buildings instead")
    sun.add_argument("--date", metavar="dahan|dongzhi|YYYY-MM-DD",
                     help="standard day (大寒日, 冬至日) or a date (default: the rule's day for "
                          "the climate zone and city size)")
    sun.add_argument("--rules", metavar="FILE",
                     help="rules YAML (default: scenarios/planning/sunlight_rules.yaml)")
    sun.add_argument("--climate-zone", choices=("I", "II", "III", "IV", "V", "VI", "VII"),
                     help="建筑气候区划 of the site (default: the rule file's)")
    sun.add_argument("--population", type=_number(0, 1e9), metavar="N",
                     help="城区常住人口 (urban resident population; default: the rule file's)")
    sun.add_argument("--all-floors", action="store_true",
                     help="sample the window sill of every floor, not only the ground floor's")
    sun.add_argument("--no-map", action="store_true", help="skip the ground shadow map")
    sun.add_argument("--top", type=_number(0, 1_000_000, integer=True), default=10,
                     help="broken buildings to print")
    sun.add_argument("--out", required=True, metavar="DIR")
    sun.set_defaults(func=cmd_sunlight, writes=("out", "directory"),
                     reads=("tim", "proposals", "run", "rules"))

    life = sub.add_parser("lifecircle", help="15-minute community life circle (TD/T "
                                             "1062-2021): walking times to facilities, "
                                             "coverage per unit, gaps")
    life.add_argument("tim", metavar="TIM_DIR")
    life.add_argument("--osm", metavar="FILE.pbf",
                      help="OSM extract: its walkable ways and tagged facilities")
    life.add_argument("--network", metavar="FILE|synthetic",
                      help="walking network: a line layer (noded at junctions), an OSM PBF, "
                           "or 'synthetic' (a 100 m stand-in street grid over the land, for "
                           "a demo on data without streets); default: the TIM's streets "
                           "layer")
    life.add_argument("--facilities", metavar="FILE",
                      help="facilities: points/areas with a type column, or an OSM PBF "
                           "(default: --osm, else the TIM's amenities layer)")
    life.add_argument("--type-column",
                      help="column naming the facility type (default: type; kind for the "
                           "TIM's amenities)")
    life.add_argument("--standards", metavar="FILE", help="standards YAML (default: "
                      "scenarios/planning/lifecircle_standards.yaml)")
    life.add_argument("--speed", type=_number(0, 10, low_open=True), metavar="M/S",
                      help="walking speed (default: the standards', 1.0 m/s)")
    life.add_argument("--run", metavar="RUN_DIR", help="count a run's new buildings too")
    life.add_argument("--out", required=True, metavar="DIR")
    life.set_defaults(func=cmd_lifecircle, writes=("out", "directory"),
                      reads=("tim", "osm", "network", "facilities", "standards", "run"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin", description="Territory Twin: territory "
                                     "information model, scenarios and dashboard.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    tim = sub.add_parser("tim", help="build or inspect a Territory Information Model")
    tim_sub = tim.add_subparsers(dest="tim_command", required=True)
    build = tim_sub.add_parser("build", help="ingest sources into a TIM store")
    build.add_argument("sources", nargs="*", metavar="SOURCE",
                       help="ROLE=PATH or PATH (role from the file: CityJSON -> city_model, "
                            ".osm.pbf -> osm, .las/.laz -> points, .obj/.gltf/.glb/.ply -> "
                            "mesh, rasters and vectors from their name); roles: elevation, "
                            "surface, land_use, population, buildings, control_lines, "
                            "planning_units, zoning, city_model, osm, points, mesh")
    build.add_argument("--catalog", help="catalog.yaml naming the sources instead")
    build.add_argument("--out", required=True, help="TIM directory to write")
    build.add_argument("--crs", help="project CRS (EPSG:xxxx or WKT); also assigned to "
                                     "sources that declare none")
    build.add_argument("--cell-size", type=_number(0, 100_000, low_open=True),
                       help="grid cell size in CRS units")
    build.add_argument("--name", help="territory name (default: the output directory name)")
    build.add_argument("--store", metavar="URL",
                       help="keep the vector layers and metadata in PostGIS: "
                            "postgresql://[user@]host[:port]/db?schema=NAME (password from "
                            "PGPASSWORD or ~/.pgpass); rasters stay in --out")
    build.add_argument("--storey-height", type=_number(2, 10),
                       help="metres per storey for buildings with storeys but no height (3)")
    build.set_defaults(func=cmd_tim_build, writes=("out", "directory"),
                       reads=("sources", "catalog"))
    series = tim_sub.add_parser("series", help="land-use epochs of a catalog's 'observed' "
                                "section and drivers as of each epoch, as GeoTIFFs on a TIM's "
                                "grid")
    series.add_argument("--catalog", required=True, help="catalog (file or built-in name)")
    series.add_argument("--tim", required=True, help="TIM built from that catalog")
    series.add_argument("--out", required=True, help="folder to write")
    series.set_defaults(func=cmd_tim_series, writes=("out", "directory"),
                        reads=("tim", "catalog"))
    info = tim_sub.add_parser("info", help="describe a TIM store")
    info.add_argument("tim", metavar="TIM_DIR")
    info.set_defaults(func=cmd_tim_info)

    tiles = sub.add_parser("tiles", help="export the TIM as 3D Tiles (buildings, terrain, "
                                         "point cloud, meshes under one root tileset)")
    tiles.add_argument("tim", metavar="TIM_DIR")
    tiles.add_argument("--out", required=True, metavar="TILES_DIR")
    tiles.add_argument("--parts", help="comma-separated subset of buildings,terrain,points,"
                                       "meshes (default: all the TIM has)")
    tiles.add_argument("--lod", choices=("auto", "1"), default="auto",
                       help="auto: city-model surfaces (LoD2 roofs) where the TIM has them")
    tiles.add_argument("--geoid-height", type=_number(-200, 200), default=0.0, metavar="N",
                       help="add N metres to every height (ellipsoidal = datum height + N, "
                            "e.g. 43 for NAP near Den Haag); recorded in the tilesets")
    tiles.add_argument("--jobs", type=_number(1, 256, integer=True),
                       help="worker processes: the buildings' tiles (default: the CPUs from "
                            "50,000 buildings) and py3dtiles for points")
    tiles.add_argument("--drape", action="store_true",
                       help="colour the terrain by land use, tinted where the ecological red "
                            "line (or its stand-in) lies")
    tiles.add_argument("--spec-version", dest="spec", choices=("1.0", "1.1"), default="1.0",
                       help="3D Tiles version: 1.0 (b3dm, the default) or 1.1 (glb with "
                            "EXT_mesh_features/EXT_structural_metadata, implicit quadtree "
                            "for the buildings)")
    tiles.set_defaults(func=cmd_tiles, writes=("out", "directory"), reads=("tim",))

    publish = sub.add_parser("publish", help="publish a run's per-building results as an "
                                             "overlay of a tiles folder (no re-tiling)")
    publish.add_argument("run", metavar="RUN_DIR")
    publish.add_argument("--tiles", required=True, metavar="TILES_DIR")
    publish.add_argument("--name", help="overlay name (default: the run's scenario name)")
    publish.add_argument("--new-buildings", action="store_true",
                         help="publish the buildings developers added (buildings_new.gpkg) as "
                              "the overlay tileset overlays/new-buildings-<run>/ instead")
    publish.set_defaults(func=cmd_publish, writes=("tiles", "directory"), reads=("run",))

    export = sub.add_parser("export", help="a desensitised copy of a TIM for a security "
                                           "level (restricted layers dropped, listed layers "
                                           "generalised)")
    export.add_argument("tim", metavar="TIM_DIR")
    export.add_argument("--level", required=True, choices=("public", "internal", "restricted"))
    export.add_argument("--format", choices=("tim", "geoparquet"), default="tim",
                        help="a TIM folder (default), or the vector layers as GeoParquet "
                             "files for analytics")
    export.add_argument("--out", required=True, metavar="DIR")
    export.add_argument("--tiles", action="store_true",
                        help="also write the copy's 3D Tiles to OUT/tiles (tiles of the "
                             "original TIM would carry what the copy drops or generalises)")
    export.set_defaults(func=cmd_export, writes=("out", "directory"), reads=("tim",))

    run = sub.add_parser("run", help="simulate a scenario on a TIM")
    run.add_argument("scenario", metavar="SCENARIO",
                     help="scenario YAML file, or a built-in name (baseline, high-growth, "
                          "storm-surge, surge-100y, surge-100y-seawall, surge-100y-slr)")
    run.add_argument("--tim", required=True, metavar="TIM_DIR")
    run.add_argument("--out", required=True, metavar="RUN_DIR")
    run.add_argument("--seed", type=SEED, default=0)
    run.add_argument("--calibration", metavar="CALIBRATION_DIR",
                     help="run the land-use model calibrated by twin calibrate --out DIR "
                          "(the scenario then sets only demand, control lines, protected "
                          "groups and conversion rules)")
    run.set_defaults(func=cmd_run, writes=("out", "directory"),
                     reads=("tim", "scenario", "calibration"))

    ensemble = sub.add_parser("ensemble", help="run a scenario with many seeds (on Dask)")
    ensemble.add_argument("scenario", metavar="SCENARIO")
    ensemble.add_argument("--tim", required=True, metavar="TIM_DIR")
    ensemble.add_argument("--out", required=True, metavar="ENSEMBLE_DIR")
    ensemble.add_argument("--members", type=_number(1, 10_000, integer=True), default=10,
                          help="number of seeds")
    ensemble.add_argument("--seed", type=SEED, default=0, help="first seed")
    ensemble.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                          help="an existing Dask scheduler (default: a local cluster)")
    ensemble.add_argument("--workers", type=_number(1, 256, integer=True), default=2,
                          help="local cluster workers")
    ensemble.add_argument("--serial", action="store_true", help="no Dask: one after another")
    ensemble.add_argument("--calibration", metavar="CALIBRATION_DIR",
                          help="the calibrated land-use model (as for twin run)")
    ensemble.set_defaults(func=cmd_ensemble, writes=("out", "directory"),
                          reads=("tim", "scenario", "calibration"))

    example = sub.add_parser("example", help="write a real-data surge example (Den Haag, "
                                             "Delft) from $TWIN_DATA")
    example.add_argument("place", choices=["denhaag", "delft"])
    example.add_argument("out", metavar="OUT_DIR")
    example.set_defaults(func=cmd_example, writes=("out", "directory", "OUT_DIR"),
                         reads_data=True)

    compare = sub.add_parser("compare", help="compare runs; the first is the baseline")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--out", required=True, metavar="REPORT_DIR")
    compare.add_argument("--pdf", action="store_true", help="also print report.pdf (A4, Chromium)")
    compare.add_argument("--lang", action="append", metavar="LANG",
                         help="report language: en (default) or zh_CN; repeat or give a comma "
                              "list (en,zh_CN) for several: the first is report.html, the "
                              "others report.<lang>.html")
    compare.add_argument("--no-3d", action="store_true",
                         help="leave out the 3D stills (pyvista) of each scenario")
    compare.add_argument("--ensemble", action="append", metavar="ENSEMBLE_DIR",
                         help="an ensemble (twin ensemble --out) of a compared scenario: its "
                              "P10-P90 band and median on the report's charts")
    compare.set_defaults(func=cmd_compare, writes=("out", "directory"),
                         reads=("runs", "ensemble"))

    cal = sub.add_parser("calibrate", help="learn suitability and fit the land-use CA on one "
                                           "pair of maps, validate on the next")
    cal.add_argument("--map", action="append", metavar="YEAR=PATH",
                     help="land-use map of a year (two or three, on one grid)")
    cal.add_argument("--series", metavar="DIR", help="a twin tim series folder: the maps of "
                     "--epochs and their roads and built-up areas as of each start epoch")
    cal.add_argument("--epochs", metavar="A,B[,C]", help="epoch labels of --series")
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
    cal.add_argument("--samples", type=_number(10, 10_000_000, integer=True), default=20000,
                     help="training cells per class")
    cal.add_argument("--maxiter", type=_number(0, 10_000, integer=True), default=8,
                     help="generations of the search")
    cal.add_argument("--popsize", type=_number(1, 1000, integer=True), default=3,
                     help="candidates per generation, per parameter")
    cal.add_argument("--seed", type=SEED, default=0)
    cal.add_argument("--search", default="screen_refine", choices=["screen_refine", "scipy_de"],
                     help="screen on the densest-change window, refine on the full grid, "
                          "stop when converged (default); or the first version's scipy DE")
    cal.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="evaluate candidates on this Dask scheduler's workers")
    cal.add_argument("--workers", type=_number(1, 256, integer=True),
                     help="evaluate candidates on a local Dask cluster of N workers "
                          "(default: in-process)")
    cal.add_argument("--no-progress", action="store_true", help="no progress bar")
    cal.add_argument("--pdf", action="store_true", help="also print report.pdf (A4, Chromium)")
    _report_languages(cal)
    cal.add_argument("--out", required=True, metavar="REPORT_DIR")
    cal.set_defaults(func=cmd_calibrate, writes=("out", "directory"),
                     reads=("map", "driver", "constraint", "conversion", "series"))

    sim = sub.add_parser("simulate", help="run a calibrated land-use model to the years of a "
                                          "demand table; writes a GeoTIFF")
    sim.add_argument("--start", required=True, metavar="PATH", help="start land-use map")
    sim.add_argument("--start-year", type=_number(1000, 3000, integer=True), required=True)
    sim.add_argument("--driver", action="append", default=[], metavar="NAME=PATH",
                     help="the driver rasters the model was calibrated with")
    sim.add_argument("--constraint", metavar="PATH", help="raster: 0 = cell never changes")
    sim.add_argument("--params", required=True, metavar="parameters.yaml",
                     help="written by twin calibrate")
    sim.add_argument("--demand", required=True, metavar="CSV",
                     help="year[,zone],<code>,...: class areas in cells")
    sim.add_argument("--zones", metavar="PATH", help="raster of demand zones 0..N-1")
    sim.add_argument("--tolerance", type=_number(0, 1, low_open=True), default=0.01,
                     help="largest relative gap between demand total and study area that is "
                          "spread over the classes (default 0.01)")
    sim.add_argument("--seed", type=SEED, default=0)
    sim.add_argument("--out", required=True, metavar="OUT.tif")
    sim.set_defaults(func=cmd_simulate, writes=("out", "file"),
                     reads=("start", "driver", "constraint", "params", "demand", "zones"))

    serve = sub.add_parser("serve", help="start the dashboard on localhost")
    serve.add_argument("runs", nargs="*", metavar="DIR",
                       help="run directories (the first is the baseline) and, in any order, "
                            "ensembles, height checks, sightline folders, land-use "
                            "calibration reports and monitoring folders (recognised by their "
                            "files); calibration reports or monitoring folders alone need no "
                            "run")
    serve.add_argument("--tiles", type=Path, metavar="TILES_DIR",
                       help="3D Tiles for the 3D view (from 'twin tiles')")
    serve.add_argument("--ensemble", action="append", type=Path, metavar="ENSEMBLE_DIR",
                       help="an ensemble (twin ensemble): bands and development probability")
    serve.add_argument("--heights", action="append", type=Path, metavar="HEIGHTS_DIR",
                       help="a height check (twin heights): limits, violators, corridors")
    serve.add_argument("--sightlines", action="append", type=Path, metavar="DIR",
                       help="sightlines (twin sightline --out), shown with their corridor")
    serve.add_argument("--calibration", action="append", type=Path, metavar="REPORT_DIR",
                       help="a land-use calibration report (twin calibrate --out): accuracy "
                            "against the null models, agreement maps, search, drivers")
    serve.add_argument("--monitoring", action="append", type=Path, metavar="DIR",
                       help="a monitoring folder for the Monitoring tab: twin assess, twin "
                            "changes or twin evaluate output (one of each at most)")
    serve.add_argument("--lang", default=None, metavar="LANG",
                       help="default language of the page: en (default) or zh_CN; a page "
                            "switches with the links in its header")
    serve.add_argument("--port", type=_number(1, 65535, integer=True), default=8050)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--auth", metavar="users.yaml",
                       help="require a login (users written by 'twin users add')")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="a further Host name the server answers to (repeatable; default: "
                            "the bound host and localhost)")
    serve.add_argument("--audit-log", metavar="FILE",
                       help="JSON-lines log of logins and downloads (default with --auth: "
                            "audit.log beside the users file)")
    serve.add_argument("--clearance", choices=("public", "internal", "restricted"),
                       default="restricted",
                       help="without --auth: the security level up to which TIM layers, "
                            "3D tiles and run maps are shown (default restricted: the local "
                            "user sees all); with --auth "
                            "each user's own clearance applies")

    users = sub.add_parser("users", help="manage the dashboard's users (for 'serve --auth')")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add or replace a user (asks for the password)")
    add.add_argument("file", metavar="users.yaml")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=("viewer", "editor"), default="viewer")
    add.add_argument("--clearance", choices=("public", "internal", "restricted"),
                     default="internal",
                     help="the most sensitive TIM layers the user may see (default internal)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(func=cmd_users_add, writes=("file", "file", "users.yaml"))
    serve.set_defaults(func=cmd_serve)

    heights = sub.add_parser("heights", help="check buildings against height rules (zoning, "
                                             "inclined surfaces, view corridors)")
    heights.add_argument("tim", metavar="TIM_DIR")
    heights.add_argument("--rules", metavar="RULES",
                         help="rules YAML file or built-in name (haiwan-bay); default: the "
                              "TIM's zoning layer")
    heights.add_argument("--proposals", metavar="FILE",
                         help="proposed buildings (footprints with height or storeys) to "
                              "check too")
    heights.add_argument("--out", metavar="DIR", help="output directory (default: "
                                                      "TIM_DIR-heights)")
    heights.add_argument("--top", type=_number(0, 1_000_000, integer=True), default=10,
                         help="violations to print")
    heights.set_defaults(func=cmd_heights, writes=("out", "directory"),
                         reads=("tim", "rules", "proposals"))

    line = sub.add_parser("sightline", help="lines of sight from a viewpoint to targets: "
                                            "which buildings block them, by how much")
    line.add_argument("tim", metavar="TIM_DIR")
    line.add_argument("--from", dest="source", required=True, metavar="X,Y[,Z]",
                      help="viewpoint in the TIM's CRS; Z absolute (default: --from-height "
                           "above the ground)")
    line.add_argument("--to", action="append", metavar="X,Y[,Z]",
                      help="target (repeatable); Z absolute (default: --to-height above the "
                           "ground)")
    line.add_argument("--targets", metavar="FILE.csv",
                      help="more targets: CSV with columns x, y and optionally z or height")
    line.add_argument("--from-height", type=_number(0, 1000), default=1.6,
                      help="eye height above the ground when --from has no Z (m, 1.6)")
    line.add_argument("--to-height", type=_number(0, 1000), default=0.0,
                      help="target height above the ground when --to has no Z (m, 0)")
    line.add_argument("--method", choices=("mesh", "raster"), default="mesh",
                      help="exact ray-mesh tests against the buildings (default) or the "
                           "raster DSM")
    line.add_argument("--facing", type=_number(-360, 360), metavar="DEG",
                      help="view direction, degrees clockwise from north (with --fov)")
    line.add_argument("--fov", type=_number(0, 360, low_open=True), default=360.0, metavar="DEG",
                      help="field of view around --facing; targets outside are an error")
    line.add_argument("--out", metavar="DIR", help="write sightlines.geojson, CSVs and "
                                                   "buildings.json there")
    line.set_defaults(func=cmd_sightline, writes=("out", "directory"), reads=("tim", "targets"))

    view = sub.add_parser("viewshed", help="what an observer sees (or how many of several "
                                           "observers see each cell) across the surface")
    view.add_argument("source", metavar="TIM_DIR", help="a TIM (its terrain + buildings) or "
                                                        "a GeoTIFF surface (DSM/DEM)")
    view.add_argument("--observer", action="append", metavar="X,Y[,Z]",
                      help="observer position in the CRS; Z = absolute eye height (default: "
                           "--height above the surface); repeat for a cumulative viewshed")
    view.add_argument("--observers", metavar="FILE.csv",
                      help="more observers: CSV with columns x, y and optionally height or z")
    view.add_argument("--height", type=_number(0, 1000), default=1.6,
                      help="eye height above the surface (m, default 1.6)")
    view.add_argument("--target-height", type=_number(0, 1000), default=0.0,
                      help="height above the surface at which a cell counts as seen (m)")
    view.add_argument("--max-distance", type=_number(0, 1e6, low_open=True), help="range limit (m)")
    view.add_argument("--refraction", type=_number(-1, 1), default=1 / 7,
                      help="atmospheric refraction coefficient (default 1/7, visible light)")
    view.add_argument("--flat-earth", action="store_true",
                      help="ignore earth curvature and refraction")
    view.add_argument("--out", required=True, metavar="FILE.tif",
                      help="GeoTIFF to write (a JSON sidecar goes beside it)")
    view.set_defaults(func=cmd_viewshed, writes=("out", "file"), reads=("source", "observers"))

    changes = sub.add_parser("changes", help="change patches between two observed land-use "
                             "maps, checked against the control lines; farmland balance")
    changes.add_argument("--tim", required=True, help="TIM store (grid, classes, lines, units)")
    changes.add_argument("--before", required=True, metavar="YEAR=PATH")
    changes.add_argument("--after", required=True, metavar="YEAR=PATH")
    changes.add_argument("--out", required=True, help="output folder (replaced atomically)")
    changes.add_argument("--min-area", type=_number(0, 1e7), default=1.0, metavar="HA",
                         help="drop patches smaller than this (ha; default 1)")
    changes.add_argument("--connectivity", type=_number(4, 8, integer=True), choices=(4, 8),
                         default=8)
    _monitoring_options(changes)
    changes.set_defaults(func=cmd_changes, writes=("out", "directory"),
                         reads=("tim", "before", "after"))

    assess = sub.add_parser("assess", help="annual assessment of observed land-use maps: "
                            "indicators per year and level, trends, plan progress, warnings")
    assess.add_argument("--tim", required=True, help="TIM store (grid, classes, lines, units, "
                        "plan targets)")
    assess.add_argument("--observed", action="append", metavar="YEAR=PATH",
                        help="an observed land-use map (repeat, years increasing)")
    assess.add_argument("--series", metavar="FILE", help="the observed series as YAML "
                        "(observed: {YEAR: PATH}, population: {YEAR: PATH|tim}, "
                        "population_scale)")
    assess.add_argument("--population", action="append", metavar="YEAR=PATH",
                        help="observed population of a year (PATH 'tim': the TIM's field)")
    assess.add_argument("--population-scale", type=_number(0, 1e9, low_open=True), default=1.0,
                        help="factor from the population raster's values to persons per cell")
    assess.add_argument("--registry", help="indicator registry YAML (default: the packaged one)")
    assess.add_argument("--out", required=True, help="output folder (replaced atomically)")
    _monitoring_options(assess)
    assess.set_defaults(func=cmd_assess, writes=("out", "directory"),
                        reads=("tim", "observed", "series", "population", "registry"))

    ev = sub.add_parser("evaluate", help="双评价: ecological importance, agricultural and "
                        "urban construction suitability graded 1-5; carrying capacity per unit")
    ev.add_argument("--tim", required=True, help="TIM store")
    ev.add_argument("--out", required=True, help="output folder (replaced atomically)")
    ev.add_argument("--rules", help="evaluation YAML (default: the packaged MNR-2020 defaults)")
    ev.add_argument("--land-use", metavar="PATH", help="an observed land-use map to evaluate "
                    "instead of the TIM's")
    ev.add_argument("--flood", metavar="PATH", help="flood depth raster (m), or a run folder "
                    "of a surge scenario (its surge/water_depth.tif); default: the TIM's "
                    "surge__water_depth if any")
    ev.add_argument("--soil", metavar="PATH", help="soil map scored by the rules' soil table")
    ev.add_argument("--into-tim", action="store_true",
                    help="store the grades as evaluation__* fields in the TIM")
    ev.add_argument("--red-line-grade", type=_number(1, 5, integer=True), metavar="1-5",
                    help="with --into-tim: ecological grade at or above which cells become the "
                         "TIM's ecological red line when it has none")
    ev.add_argument("--pdf", action="store_true", help="also print report.pdf (Chromium)")
    _report_languages(ev)
    ev.set_defaults(func=cmd_evaluate, writes=("out", "directory"),
                    reads=("tim", "rules", "land_use", "flood", "soil"))

    rev = sub.add_parser("review", help="check proposals (buildings or detailed-plan parcels) "
                         "against control lines, zoning, caps, height rules and unit targets")
    rev.add_argument("--tim", required=True, help="TIM store")
    rev.add_argument("--proposals", required=True, help="vector file: building footprints "
                     "(proposal_id, use, height or storeys) or parcels (+ far, coverage, "
                     "green_ratio)")
    rev.add_argument("--rules", help="review rules YAML (default: the packaged one)")
    rev.add_argument("--height-rules", help="height rules (built-in name or YAML, as for "
                     "'twin heights')")
    rev.add_argument("--out", required=True, help="output folder (replaced atomically)")
    rev.add_argument("--sunlight", metavar="DIR", help="a 'twin sunlight --proposals' folder "
                     "of the same proposals file: a sunlight section in the report")
    _monitoring_options(rev)
    rev.set_defaults(func=cmd_review, writes=("out", "directory"),
                     reads=("tim", "proposals", "rules", "height_rules", "sunlight"))

    _planning_commands(sub)

    demo = sub.add_parser("demo", help="build the sample territory, tile it, run the sample "
                                       "scenarios and an ensemble, check heights and views, "
                                       "compare them and serve the dashboard")
    demo.add_argument("--out", default="demo-output", help="working directory")
    demo.add_argument("--city", choices=("sample", "hongkong"), default="sample",
                      help="the synthetic sample (default) or Hong Kong from $TWIN_DATA "
                           "(calibration, scenarios, monitoring, surge; docs/hongkong.md)")
    demo.add_argument("--port", type=_number(1, 65535, integer=True), default=8050)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--no-serve", action="store_true", help="stop before starting the server")
    demo.add_argument("--members", type=_number(1, 1000, integer=True), default=4,
                      help="ensemble members (4)")
    demo.add_argument("--dask", action="store_true",
                      help="run the ensemble on a 2-worker local Dask cluster")
    demo.add_argument("--no-calibration", action="store_true",
                      help="skip the land-use calibration on real data ($TWIN_DATA)")
    demo.set_defaults(func=cmd_demo, writes=("out", "directory"), reads_data=True)
    return parser


def _argument_paths(values: object) -> list[str]:
    """Paths among an option's values: ``PATH``, or the ``PATH`` of ``NAME=PATH``."""
    items = values if isinstance(values, (list, tuple)) else [values]
    paths = []
    for item in items:
        if item is None:
            continue
        text = str(item)
        if not Path(text).exists() and "=" in text:
            text = text.split("=", 1)[1]
        paths.append(text)
    return paths


def guard_output(args: argparse.Namespace) -> None:
    """Refuse an output that would replace or change what the command reads (see
    :func:`tim.atomic.check_output`); every subcommand that writes declares its output option
    (``writes``: name, ``directory`` or ``file``, optional display name) and the options it
    reads (``reads``)."""
    from tim.atomic import check_output

    writes = getattr(args, "writes", None)
    if writes is None or getattr(args, writes[0], None) is None:
        return
    inputs = [p for name in getattr(args, "reads", ()) for p in
              _argument_paths(getattr(args, name, None))]
    if getattr(args, "reads_data", False):
        from tim.ingest.catalog import data_folder

        inputs.append(data_folder())
    name, kind, *shown = writes
    check_output(getattr(args, name), inputs, kind=kind,
                 option=shown[0] if shown else f"--{name}")


def _output_locks(args: argparse.Namespace) -> contextlib.ExitStack:
    """Hold the write lock of the command's declared output (``writes``) from
    the start, so a second writer fails at once rather than after its whole computation."""
    from tim.atomic import output_lock

    stack = contextlib.ExitStack()
    writes = getattr(args, "writes", None)
    outputs = [getattr(args, writes[0], None)] if writes else []
    with contextlib.ExitStack() as failed:
        failed.push(stack)  # released again if a later lock is busy
        for out in outputs:
            if isinstance(out, (str, Path)) and str(out):
                stack.enter_context(output_lock(out))
        failed.pop_all()
    return stack


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as users read it: one line saying what was done, not the source line that
    raised it."""
    print(f"twin: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    warnings.showwarning = _show_warning
    started = time.perf_counter()
    try:
        guard_output(args)
        with _output_locks(args):
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
