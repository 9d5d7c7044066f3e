"""Processes: units of simulated change that read and write territory fields.

A process declares the fields it uses in ``FIELDS`` (name and intent); the declaration is checked
against the standard field table and the territory when the process is built, so a missing input
fails at construction with the field's name, not halfway through a run. Processes couple only
through fields; the :class:`~engine.simulation.Simulation` owns their order and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Territory


@dataclass(frozen=True)
class FieldUse:
    """A field a process reads (``in``), writes (``out``) or both (``inout``)."""

    name: str
    intent: Literal["in", "out", "inout"]
    optional: bool = False


@dataclass(frozen=True)
class Clock:
    """Where a step is: its index from 0, the simulated year it produces, and the run seed."""

    step: int
    year: int
    seed: int
    dt: float = 1.0


@dataclass
class StepReport:
    """What a process did in a step, for the run manifest and the indicators."""

    process: str
    year: int
    values: dict[str, Any] = field(default_factory=dict)


class Process:
    """Base of all processes: checks ``FIELDS`` against the territory, creates outputs."""

    FIELDS: ClassVar[tuple[FieldUse, ...]] = ()

    def __init__(self, territory: Territory):
        self.territory = territory
        for use in self.FIELDS:
            field_spec(use.name)  # unknown names fail here, with suggestions
            if use.intent in ("in", "inout") and not use.optional \
                    and use.name not in territory.fields:
                raise InputError(f"{type(self).__name__} needs field {use.name!r}, which the "
                                 f"territory does not have", source=territory.name,
                                 field=use.name, hint="add its source to the TIM")
            if use.intent == "out":
                territory.ensure_field(use.name)

    @property
    def name(self) -> str:
        return type(self).__name__

    def run_one_step(self, clock: Clock) -> StepReport | None:
        """Advance the process by one step of ``clock.dt`` years."""
        raise NotImplementedError
