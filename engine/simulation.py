"""The simulation loop: a clock, the ordered processes, and a recorder called after each step."""

from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

from engine.process import Clock, Process, StepReport
from tim.model import Territory

log = logging.getLogger(__name__)

#: Called with the year and the territory after the initial state and after every step.
Recorder = Callable[[int, Territory], None]


class Simulation:
    """Run ``processes`` in order, once per year, from ``start_year`` for ``years`` years.

    All processes must act on the same territory object (the simulation's working copy).
    """

    def __init__(self, territory: Territory, processes: Sequence[Process], *, start_year: int,
                 years: int, seed: int, recorder: Recorder | None = None):
        if years < 0:
            raise ValueError(f"years must be >= 0, got {years}")
        for p in processes:
            if p.territory is not territory:
                raise ValueError(f"process {p.name} was built on another territory")
        self.territory = territory
        self.processes = list(processes)
        self.start_year, self.years, self.seed = start_year, years, seed
        self.recorder = recorder
        self.reports: list[StepReport] = []
        self.timings: dict[str, float] = {p.name: 0.0 for p in self.processes}

    def run(self) -> list[StepReport]:
        if self.recorder:
            self.recorder(self.start_year, self.territory)
        for step in range(self.years):
            clock = Clock(step=step, year=self.start_year + step + 1, seed=self.seed)
            for process in self.processes:
                started = time.perf_counter()
                report = process.run_one_step(clock)
                self.timings[process.name] += time.perf_counter() - started
                if report is not None:
                    self.reports.append(report)
            log.debug("simulated %d", clock.year)
            if self.recorder:
                self.recorder(clock.year, self.territory)
        return self.reports
