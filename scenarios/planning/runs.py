"""Both planners' checks of a run's new buildings, written beside the run where the planners'
tab looks for them (``<RUN_DIR>-sunlight``, ``<RUN_DIR>-lifecircle``): what ``twin sunlight
TIM --run RUN`` and ``twin lifecircle TIM --network ... --run RUN`` write."""

from __future__ import annotations

from pathlib import Path

from tim.model import Territory


def check_run(territory: Territory, run: str | Path, *, network: str = "synthetic",
              command: list[str] | None = None) -> tuple[Path, Path]:
    """Sunlight of the run's new buildings (the default rules, 大寒日) and the life circle of
    the TIM's residents and the run's new ones (the TIM's ``streets`` layer, else
    ``network="synthetic"``: the stand-in grid); returns the two folders."""
    from scenarios.planning import lifecircle as lc
    from scenarios.planning import sunlight as sl
    from scenarios.rundir import RunDirectory

    run = Path(run)
    rules, rules_path = sl.load_sunlight_rules()
    report = sl.check_sunlight(territory, sl.read_run_buildings(run), rules, rules_path)
    sun = sl.write_sunlight(report, territory, run.with_name(run.name + sl.SUFFIX),
                            command=command)
    standards, standards_path = lc.load_standards()
    graph, source = lc.network_of(territory, None if lc.STREETS_LAYER in territory.layers
                                  else network)
    facilities = lc.facilities_from_frame(territory.layers["amenities"], standards,
                                          territory.grid.crs, type_column="kind",
                                          source="the TIM's amenities layer")
    circle = lc.check_lifecircle(territory, graph, facilities, standards, standards_path,
                                 new_buildings=RunDirectory.open(run).new_buildings())
    life = lc.write_lifecircle(circle, territory, run.with_name(run.name + lc.SUFFIX),
                               command=command, network=source,
                               facilities="the TIM's amenities layer")
    return sun, life
