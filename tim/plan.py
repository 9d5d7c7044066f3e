"""Plan targets passed down city -> district -> planning unit ("one map" indicator allocation).

A plan file (YAML) gives, per indicator, the city's target and its allocation to districts and
units::

    built_up_area:            # indicator id of the registry (scenarios/indicators.yaml)
      unit: ha
      kind: cap               # cap: the value must stay at or below; floor: at or above
      city: 420
      districts: {Xicheng 西城: 230, Dongcheng 东城: 190}
      units: {1: 20, 2: 35, ...}

Allocations must balance: the districts sum to the city, each district's units sum to the
district (within ``tolerance``). :func:`check_balance` lists every place where they do not, so a
unit-level change that breaks its district's total is flagged rather than silently accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tim.config import read_yaml, validation_error


class IndicatorPlan(BaseModel):
    """Targets of one indicator at the three levels."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    unit: str
    kind: Literal["cap", "floor"] = "cap"
    city: float = Field(ge=0)
    districts: dict[str, float] = Field(default_factory=dict)
    units: dict[int, float] = Field(default_factory=dict)
    tolerance: float = Field(0.005, ge=0, le=0.5, description="relative, for the balance")


class Plan(BaseModel):
    """All indicator targets of a territory's plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    indicators: dict[str, IndicatorPlan]

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    raw = read_yaml(path, "plan")
    try:
        return Plan(indicators=raw)
    except ValidationError as exc:
        raise validation_error(exc, path, skip=1) from exc  # loc[0] is 'indicators'


def check_balance(plan: Plan, district_of_unit: dict[int, str]) -> list[str]:
    """Every allocation that does not add up, as a readable message (empty: balanced).

    ``district_of_unit`` maps unit ids to district names (from the planning-units layer); a
    unit or district in the plan that the territory does not know is reported too.
    """
    problems = []
    for key, target in plan.indicators.items():
        known_districts = set(district_of_unit.values())
        for name in set(target.districts) - known_districts:
            problems.append(f"{key}: district {name!r} is not in the planning units")
        for unit in set(target.units) - set(district_of_unit):
            problems.append(f"{key}: unit {unit} is not in the planning units")
        if target.districts:
            total = sum(target.districts.values())
            if not _close(total, target.city, target.tolerance):
                problems.append(f"{key}: districts sum to {total:g} {target.unit}, the city "
                                f"target is {target.city:g}")
        for district, value in target.districts.items():
            units = {u: v for u, v in target.units.items() if district_of_unit.get(u) == district}
            if units and not _close(sum(units.values()), value, target.tolerance):
                problems.append(f"{key}: units of {district} sum to {sum(units.values()):g} "
                                f"{target.unit}, the district target is {value:g} "
                                f"(units {sorted(units)})")
    return problems


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(abs(b), 1e-9)
