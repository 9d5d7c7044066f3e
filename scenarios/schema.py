"""Scenario files: YAML validated into typed, immutable objects.

A scenario names a planning question (``high-growth``, ``storm-surge``) and every parameter the
run needs. Validation is strict: an unknown key, a wrong type or a value out of its range is
rejected with the file, the dotted key and the value, e.g.::

    high-growth.yaml: population.annual_growth: Input should be less than or equal to 0.3
    (got 0.5)

``extends: NAME_OR_PATH`` starts from another scenario (a built-in name such as ``baseline``, or
a file relative to this one) and overrides only the keys given; mappings merge key by key.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tim.errors import InputError

BUILTIN_DIR = "builtin"
ControlLine = Literal["ecological_red_line", "permanent_basic_farmland"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Strict):
    """Household growth and how densely new land is settled."""

    annual_growth: float = Field(0.01, ge=-0.2, le=0.3,
                                 description="households per household per year")
    persons_per_household: float = Field(2.8, gt=0.5, le=10.0)
    new_households_per_ha: float = Field(120.0, gt=0.0, le=2000.0,
                                         description="dwelling density of newly built land")
    vacancy: float = Field(0.05, ge=0.0, le=0.5,
                           description="spare share of today's dwelling stock")


class Suitability(_Strict):
    """Logistic suitability for built-up land: intercept and coefficients per driver."""

    intercept: float = Field(3.0, ge=-50, le=50)
    slope: float = Field(-0.35, ge=-10, le=10, description="per degree of terrain slope")
    elevation: float = Field(-0.02, ge=-10, le=10, description="per metre of elevation")


class LandUse(_Strict):
    """Cellular-automata parameters and the control lines that bind it (the model of
    :mod:`engine.landuse`)."""

    neighbourhood_size: int = Field(5, ge=3, le=51, description="odd window width, cells")
    alpha: float = Field(0.5, ge=0.0, le=5.0, description="stochastic dispersion")
    spontaneous: float = Field(0.02, ge=0.0, le=1.0,
                               description="weight of growth away from built-up land")
    protect: tuple[ControlLine, ...] = ("ecological_red_line", "permanent_basic_farmland")
    outside_boundary_weight: float = Field(0.3, ge=0.0, le=1.0,
                                           description="potential factor outside the urban "
                                                       "development boundary")
    inertia: float = Field(1.0, ge=0.0, le=1000.0,
                           description="will of a cell to keep its class in the roulette")
    roulette_rounds: int = Field(0, ge=0, le=10,
                                 description="roulette passes before the passes that take "
                                             "the cells of highest potential (0: none)")
    patch_size: float = Field(1.0, ge=1.0, le=10000.0,
                              description="mean size of new patches, cells")
    patch_compactness: float = Field(1.0, ge=0.0, le=10.0,
                                     description="how strongly patches grow compact")
    suitability: Suitability = Suitability()

    @field_validator("neighbourhood_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("must be odd")
        return v


class Surge(_Strict):
    """A storm-surge event: still-water level (tide + surge + sea-level rise) in one year."""

    water_level: float = Field(ge=-10.0, le=30.0, description="m in the territory's datum")
    year: int | None = Field(None, description="default: the last simulated year")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    description: str = ""
    start_year: int = Field(2025, ge=1900, le=2200)
    years: int = Field(10, ge=1, le=200)
    population: Population = Population()
    land_use: LandUse = LandUse()
    surge: Surge | None = None

    @property
    def end_year(self) -> int:
        return self.start_year + self.years

    @property
    def surge_year(self) -> int | None:
        if self.surge is None:
            return None
        return self.surge.year if self.surge.year is not None else self.end_year

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("scenarios") / BUILTIN_DIR
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def load_scenario(source: str | Path) -> Scenario:
    """Load a scenario from a YAML file or by built-in name, resolving ``extends``."""
    path = _resolve(source, relative_to=None)
    raw = _merged(path, chain=())
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise _input_error(path, exc) from exc
    year = scenario.surge_year
    if year is not None and not scenario.start_year < year <= scenario.end_year:
        raise InputError(f"must be within the simulated years {scenario.start_year + 1}.."
                         f"{scenario.end_year}", source=path, field="surge.year", value=year)
    return scenario


def _resolve(source: str | Path, relative_to: Path | None) -> Path:
    path = Path(source)
    if relative_to is not None and not path.is_absolute():
        candidate = relative_to.parent / path
        if candidate.is_file():
            return candidate
    if path.is_file():
        return path
    name = str(source).removesuffix(".yaml")
    if name in builtin_scenarios():
        return Path(str(resources.files("scenarios") / BUILTIN_DIR / f"{name}.yaml"))
    builtin = ", ".join(builtin_scenarios())
    if relative_to is not None:
        raise InputError(f"no scenario file or built-in scenario of that name (built-in: "
                         f"{builtin})", source=relative_to, field="extends", value=str(source))
    raise InputError(f"scenario file not found (built-in scenarios: {builtin})", source=source)


def _merged(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if path.resolve() in chain:
        raise InputError("scenario extends itself (cycle: "
                         f"{' -> '.join(p.name for p in (*chain, path.resolve()))})",
                         source=path, field="extends")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=path) from exc
    if not isinstance(raw, dict):
        raise InputError("a scenario must be a mapping of keys to values", source=path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    base = _merged(_resolve(parent, relative_to=path), (*chain, path.resolve()))
    base.pop("name", None)  # a child never inherits its parent's identity
    base.pop("title", None)
    return _deep_merge(base, raw)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _input_error(path: Path, exc: ValidationError) -> InputError:
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"]) or None
    if error["type"] == "missing":
        return InputError("required key is missing", source=path, field=key)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        return InputError(f"unknown key (allowed here: {', '.join(allowed)})", source=path,
                          field=key, value=error.get("input"))
    return InputError(error["msg"], source=path, field=key, value=error.get("input"))


def _allowed_keys(location: tuple) -> list[str]:
    model: type[BaseModel] = Scenario
    for part in location:
        annotation = model.model_fields[str(part)].annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,))
                      if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            break
        model = candidates[0]
    return sorted(model.model_fields)
