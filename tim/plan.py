"""Plan targets passed down city -> district -> planning unit ("one map" indicator allocation).

A plan file (YAML) gives, per indicator, the city's target and its allocation to districts and
units::

    built_up_area:            # indicator id of the registry (scenarios/indicators.yaml)
      unit: ha
      kind: cap               # cap: the value must stay at or below; floor: at or above
      city: 420
      districts: {Xicheng 西城: 230, Dongcheng 东城: 190}
      units: {1: 20, 2: 35, ...}

Targets may be phased (近期 / 远期): ``year`` dates the main target and ``phases`` adds earlier
milestones, each with its own city / district / unit values::

    built_up_area:
      unit: ha
      kind: cap
      year: 2035
      city: 420
      phases:
        2025: {city: 400, districts: {...}, units: {...}}

:meth:`Plan.for_year` gives the targets that apply to an observed year (see there), as a plain
plan, so everything that judges values against a plan works unchanged.

Allocations must balance (every phase too): the districts sum to the city, each district's units sum to the
district (within ``tolerance``). :func:`check_balance` lists every place where they do not, so a
unit-level change that breaks its district's total is flagged rather than silently accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tim.config import read_yaml, validation_error


class PhaseTarget(BaseModel):
    """The targets of one milestone year of a phased indicator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city: float = Field(ge=0)
    districts: dict[str, float] = Field(default_factory=dict)
    units: dict[int, float] = Field(default_factory=dict)


class IndicatorPlan(BaseModel):
    """Targets of one indicator at the three levels (optionally dated and phased)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    unit: str
    kind: Literal["cap", "floor"] = "cap"
    city: float = Field(ge=0)
    districts: dict[str, float] = Field(default_factory=dict)
    units: dict[int, float] = Field(default_factory=dict)
    tolerance: float = Field(0.005, ge=0, le=0.5, description="relative, for the balance")
    year: int | None = Field(None, ge=1900, le=2200, description="year of the main target")
    phases: dict[int, PhaseTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _phases_before_year(self) -> IndicatorPlan:
        if self.phases and self.year is None:
            raise ValueError("phased targets need the main target's year ('year')")
        late = [y for y in self.phases if y >= self.year] if self.year else []
        if late:
            raise ValueError(f"phase years {late} must come before the main target's year "
                             f"{self.year}")
        return self

    def milestones(self) -> dict[int | None, PhaseTarget]:
        """Every milestone by year (the main target last; None when it carries no year)."""
        main = PhaseTarget(city=self.city, districts=self.districts, units=self.units)
        return {**dict(sorted(self.phases.items())), self.year: main}

    def applicable(self, year: int) -> tuple[int | None, PhaseTarget] | None:
        """The milestone a value observed in ``year`` is judged against, or None.

        A cap is a limit from the start: it is judged against the next milestone (the first
        at or after ``year``; the last one once all have passed). A floor is a goal to reach:
        only a milestone whose year has come (the latest at or before ``year``) judges it.
        An undated target applies to every year.
        """
        stones = self.milestones()
        if None in stones:
            return None, stones[None]
        years = sorted(stones)
        if self.kind == "cap":
            due = next((y for y in years if y >= year), years[-1])
            return due, stones[due]
        passed = [y for y in years if y <= year]
        return (passed[-1], stones[passed[-1]]) if passed else None


class Plan(BaseModel):
    """All indicator targets of a territory's plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    indicators: dict[str, IndicatorPlan]

    def to_dict(self) -> dict:
        out = self.model_dump(mode="json")
        for target in out["indicators"].values():  # undated plans read and write as before
            if target.get("year") is None:
                target.pop("year", None)
            if not target.get("phases"):
                target.pop("phases", None)
        return out

    def for_year(self, year: int) -> Plan:
        """The targets that apply to a value observed in ``year`` (see
        :meth:`IndicatorPlan.applicable`), as an undated plan; indicators with none left out.

        Examples
        --------
        >>> p = Plan(indicators={"built_up_area": {"unit": "ha", "city": 420, "year": 2035,
        ...                                        "phases": {2025: {"city": 400}}}})
        >>> [p.for_year(y).indicators["built_up_area"].city for y in (2010, 2030, 2040)]
        [400.0, 420.0, 420.0]
        """
        out = {}
        for key, target in self.indicators.items():
            found = target.applicable(year)
            if found is not None:
                out[key] = IndicatorPlan(unit=target.unit, kind=target.kind,
                                         tolerance=target.tolerance, year=found[0],
                                         **found[1].model_dump())
        return Plan(indicators=out)


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
    problems: list[str] = []
    for indicator, phased in plan.indicators.items():
        for year, target in phased.milestones().items():
            key = indicator if year is None or not phased.phases else f"{indicator} ({year})"
            problems += _balance(key, target, phased.unit, phased.tolerance, district_of_unit)
    return problems


def _balance(key: str, target: PhaseTarget, unit: str, tolerance: float,
             district_of_unit: dict[int, str]) -> list[str]:
    problems = []
    known_districts = set(district_of_unit.values())
    for name in set(target.districts) - known_districts:
        problems.append(f"{key}: district {name!r} is not in the planning units")
    for u in set(target.units) - set(district_of_unit):
        problems.append(f"{key}: unit {u} is not in the planning units")
    if target.districts:
        total = sum(target.districts.values())
        if not _close(total, target.city, tolerance):
            problems.append(f"{key}: districts sum to {total:g} {unit}, the city "
                            f"target is {target.city:g}")
    for district, value in target.districts.items():
        units = {u: v for u, v in target.units.items() if district_of_unit.get(u) == district}
        if units and not _close(sum(units.values()), value, tolerance):
            problems.append(f"{key}: units of {district} sum to {sum(units.values()):g} "
                            f"{unit}, the district target is {value:g} (units {sorted(units)})")
    return problems


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(abs(b), 1e-9)
