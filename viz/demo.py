"""``twin demo``: the whole pipeline on the sample territory, then the dashboard."""

from __future__ import annotations

import time
from pathlib import Path

SCENARIOS = ("baseline", "high-growth", "storm-surge")
SEED = 42


def run_demo(out: Path, *, port: int = 8050, host: str = "127.0.0.1",
             serve_app: bool = True) -> dict[str, float]:
    """Generate the sample sources, build the TIM, tile it, run and compare the sample
    scenarios under ``out``; then serve the dashboard. Returns the time of each stage."""
    from scenarios.compare import compare_runs
    from scenarios.rundir import write_run
    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog
    from tim.sample import write_sample_sources
    from tim.store import save_territory
    from tim.tiles import write_tiles

    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        print(f"  {name:28s} {timings[name]:6.1f} s", flush=True)

    print(f"Territory Twin demo in {out.resolve()}")
    t0 = time.perf_counter()
    catalog = write_sample_sources(out / "sources")
    stage("sample sources (synthetic)", t0)
    t = time.perf_counter()
    territory = build_from_catalog(load_catalog(catalog))
    save_territory(territory, out / "tim")
    stage("TIM build", t)
    t = time.perf_counter()
    # Buildings only: the 3D view drapes land use and flood depth on the globe, which terrain
    # tiles would cover; 'twin tiles' writes terrain too, for the layer toggles to come.
    write_tiles(territory, out / "tiles", parts=("buildings",))
    stage("3D Tiles", t)
    runs = []
    for name in SCENARIOS:
        t = time.perf_counter()
        result = run_scenario(territory, load_scenario(name), seed=SEED)
        runs.append(write_run(result, out / "runs" / name, tim=out / "tim",
                              command=["twin", "demo"]))
        stage(f"run {name}", t)
    t = time.perf_counter()
    compare_runs(runs, out / "report")
    stage("compare + report", t)
    timings["total"] = time.perf_counter() - t0
    print(f"  {'total':28s} {timings['total']:6.1f} s")
    print(f"Report: {(out / 'report' / 'report.html').resolve()}")
    if serve_app:
        from viz.app import serve

        serve(runs, tiles_dir=out / "tiles", host=host, port=port)
    return timings
