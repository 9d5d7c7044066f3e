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
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from engine.landuse import CAParams
from engine.landuse_config import (ANY, LandUseConfig, LandUsePolicy, TransitionAdjustment,
                                   rules_from_mapping)
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.fields import CONTROL_LINE_FIELDS
from tim.model import GROUPS

BUILTIN_DIR = "builtin"
ControlLine = Literal["ecological_red_line", "permanent_basic_farmland"]
#: Largest one-off migration of a year (households): several times a megacity's arrivals;
#: the agents of a larger number would not fit in memory.
MAX_MIGRATION = 1_000_000
#: Widest buffer around a control line (m): 5 km, ten times the 500 m Wetland Buffer Area of
#: Hong Kong's Town Planning Board guideline 12C; a wider band is a zoning, not a buffer.
MAX_BUFFER_M = 5_000.0
#: Longest storm-surge event (hours): a month of still-water record.
MAX_EVENT_H = 720.0


class _Strict(BaseModel):
    # allow_inf_nan=False: ".nan" or ".inf" in a scenario is refused, never read as a number
    # (a NaN hurdle rate made every project pass, a NaN price every household indifferent).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _shares(values: tuple[float, ...]) -> tuple[float, ...]:
    if any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"shares must be >= 0 and sum to 1 (they sum to {sum(values):g})")
    return values


class Population(_Strict):
    """The population path and who the households are."""

    annual_growth: float = Field(0.01, ge=-0.2, le=0.3,
                                 description="households per household per year")
    growth_by_year: dict[int, Annotated[float, Field(ge=-0.5, le=0.5)]] = Field(
        default_factory=dict, description="growth rate of particular years (a path)")
    migration_by_year: dict[int, Annotated[int, Field(ge=-MAX_MIGRATION,
                                                      le=MAX_MIGRATION)]] = Field(
        default_factory=dict, description="one-off households arriving (+) or leaving (-)")
    household_sizes: tuple[float, ...] = Field(
        (0.18, 0.30, 0.26, 0.16, 0.10), min_length=1, max_length=12,
        description="shares of households of 1, 2, ... persons")
    income_shares: tuple[float, ...] = Field((0.30, 0.50, 0.20), min_length=1, max_length=10,
                                             description="shares of income groups, low to high")
    mobility: float = Field(0.08, ge=0.0, le=1.0, description="share moving each year")
    vacancy: float = Field(0.05, ge=0.0, le=0.5,
                           description="spare share of today's dwelling stock")
    m2_per_dwelling: float = Field(90.0, gt=10.0, le=1000.0)

    _sizes = field_validator("household_sizes", "income_shares")(_shares)


class Households(_Strict):
    """Location choice (multinomial logit) and the housing market."""

    accessibility: float = Field(1.5, ge=-20, le=20)
    amenities: float = Field(1.0, ge=-20, le=20)
    flood_risk: float = Field(-2.0, ge=-20, le=20)
    price_by_income: tuple[Annotated[float, Field(ge=-20, le=20)], ...] = Field(
        (-1.5, -1.0, -0.5), min_length=1,
                                               description="ln(price) coefficient per group")
    flood_reference_level: float = Field(3.0, ge=-10, le=30,
                                         description="water level (m) that defines flood risk")
    initial_price_m2: float = Field(12_000.0, gt=0, le=1e7, description="currency per m2")
    price_elasticity: float = Field(0.1, ge=0.0, le=2.0)


class ZoneOverride(_Strict):
    max_far: float | None = Field(None, gt=0, le=30)
    max_height: float | None = Field(None, gt=0, le=1000, description="m")


class TransitBonus(_Strict):
    radius_m: float = Field(800.0, gt=0, le=10_000)
    far_multiplier: float = Field(1.0, gt=0, le=5)


class Development(_Strict):
    """Development intensity (FAR and height caps) and the developers' pro forma."""

    far_multiplier: float = Field(1.0, gt=0, le=5, description="on every zone's max FAR")
    transit_bonus: TransitBonus = TransitBonus()
    zones: dict[str, ZoneOverride] = Field(default_factory=dict,
                                           description="caps by zone name or id")
    default_far: float = Field(1.0, gt=0, le=30, description="where zoning sets none")
    default_max_height: float = Field(24.0, gt=0, le=1000)
    developers: int = Field(4, ge=1, le=100)
    hurdles: tuple[Annotated[float, Field(ge=-1.0, le=10.0)], ...] = Field(
        (0.10, 0.15, 0.20, 0.25), min_length=1, max_length=100,
        description="required return of each developer (0.1 = 10 %)")
    capacity_m2: float = Field(200_000.0, gt=0, le=1e9, description="per developer per year")
    coverage: float = Field(0.35, gt=0, le=1)
    storey_height: float = Field(3.0, ge=2.0, le=10.0)
    construction_cost_m2: float = Field(4_500.0, gt=0, le=1e7)
    high_rise_premium: float = Field(0.15, ge=0, le=2)
    land_cost_m2: float = Field(1_500.0, ge=0, le=1e7)
    redevelop_below: float = Field(0.4, ge=0, le=1,
                                   description="existing / allowed floor area under which a "
                                               "built cell is offered for redevelopment")
    height_rules: str | None = Field(
        None, min_length=1,
        description="height rules (a built-in name or a YAML file, as for 'twin heights'): "
                    "new buildings also stay under their inclined surfaces and view corridors")


class Suitability(_Strict):
    """Logistic suitability for built-up land: intercept and coefficients per driver (used
    when the scenario names no calibration)."""

    intercept: float = Field(3.0, ge=-50, le=50)
    slope: float = Field(-0.35, ge=-10, le=10, description="per degree of terrain slope")
    elevation: float = Field(-0.02, ge=-10, le=10, description="per metre of elevation")


class MarkovAdjustment(_Strict):
    """Multiply the one-year Markov probability of ``from -> to`` by ``factor`` (a scenario
    assumption, :func:`engine.demand.adjust`); ``from`` and ``to`` are a land-use group, a
    class code or ``any``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              populate_by_name=True, serialize_by_alias=True)

    source: str = Field(alias="from", min_length=1)
    target: str = Field(alias="to", min_length=1)
    factor: float = Field(ge=0.0, le=1000.0, description="0 stops the transition")

    @field_validator("source", "target")
    @classmethod
    def _selector(cls, v: str) -> str:
        # class codes are checked against the TIM's classes when the run starts
        if v != ANY and v not in GROUPS and not v.isdigit():
            raise ValueError(f"{v!r} is not a land-use group ({', '.join(GROUPS)}), a class "
                             f"code or '{ANY}'")
        return v


class Markov(_Strict):
    """Markov-chain demand (:mod:`engine.demand`): the one-year transition matrix estimated
    from observed maps (``maps``: year -> GeoTIFF on the TIM grid, two or more; default the
    maps the scenario's calibration was calibrated and validated on), then ``adjust``."""

    maps: dict[int, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict, description="year -> land-use map, relative to the scenario file")
    adjust: tuple[MarkovAdjustment, ...] = ()

    @field_validator("maps")
    @classmethod
    def _two_maps(cls, v: dict[int, str]) -> dict[int, str]:
        if len(v) == 1:
            raise ValueError("a Markov estimate needs maps of at least two years")
        return v


class Demand(_Strict):
    """Where each year's land-use demand comes from (``source``).

    ``agents``: the households' need for built-up land (population x floor area per person,
    :mod:`agents.coupling`); ``table``: a planner's CSV of class areas (``year``, one column
    per class code, cells wanted at the end of that year; years between are interpolated, as
    ``twin simulate`` does); ``markov``: gross from -> to transitions each year from a Markov
    chain estimated on observed maps, with the scenario's adjustments (``markov``).
    """

    source: Literal["agents", "table", "markov"] = "agents"
    table: str | None = Field(None, min_length=1,
                              description="demand CSV, relative to the scenario file")
    tolerance: float = Field(0.01, ge=0.0, le=0.5,
                             description="largest share by which the table's total may "
                                         "differ from the land available (it is rescaled)")
    markov: Markov | None = None

    @model_validator(mode="after")
    def _source_has_its_data(self) -> Demand:
        if self.source == "table" and self.table is None:
            raise ValueError("source: table needs table: FILE.csv")
        if self.source != "table" and self.table is not None:
            raise ValueError(f"table is given but source is {self.source!r}; "
                             "set source: table")
        if self.source != "markov" and self.markov is not None:
            raise ValueError(f"markov is given but source is {self.source!r}; "
                             "set source: markov")
        return self


#: The engine's defaults, the only place they are declared (see engine.landuse_config).
_DEFAULT = LandUseConfig()
_CA = _DEFAULT.ca
_LINES = tuple(k for k, v in CONTROL_LINE_FIELDS.items()
               if v in _DEFAULT.policy.hard_constraints)

#: land_use keys that are the model's own (a calibration fits or learns them): with
#: ``calibration`` they come from its parameters.yaml and the scenario may not set them.
MODEL_KEYS = ("neighbourhood_size", "alpha", "spontaneous", "inertia", "roulette_rounds",
              "patch_size", "patch_compactness", "suitability")
#: land_use keys a planner sets, on a calibrated model as well.
PLANNER_KEYS = ("protect", "protect_groups", "outside_boundary_weight", "conversion",
                "demand", "protect_buffers")


class LandUse(_Strict):
    """The land-use model (:mod:`engine.landuse`): its parameters, or a calibration that
    supplies them (``calibration``), and what a planner sets on it (control lines, protected
    groups, the boundary, conversion rules, demand). Defaults are the engine's
    (:class:`engine.landuse_config.LandUseConfig`)."""

    calibration: str | None = Field(
        None, min_length=1, description="a twin calibrate report folder (or its "
                                        "parameters.yaml), relative to the scenario file")
    drivers: dict[str, str] = Field(
        default_factory=dict, description="calibration driver name -> TIM field or raster "
                                          "file (default: the TIM field of that name, else "
                                          "the file the calibration used)")
    neighbourhood_size: int = Field(_CA.neighbourhood_size, ge=3, le=51,
                                    description="odd window width, cells")
    alpha: float = Field(_CA.alpha, ge=0.0, le=5.0, description="stochastic dispersion")
    spontaneous: float = Field(_CA.spontaneous, ge=0.0, le=1.0,
                               description="weight of growth away from built-up land")
    protect: tuple[ControlLine, ...] = _LINES
    protect_buffers: dict[ControlLine, Annotated[float, Field(ge=0.0, le=MAX_BUFFER_M)]] = \
        Field(default_factory=dict,
              description="control line -> width (m) of a buffer around it, each line also "
                          "protected: no cell within that distance becomes built-up")
    protect_groups: tuple[Literal["farmland", "ecological", "water"], ...] = Field(
        _DEFAULT.policy.protected_groups,
        description="land-use groups that may not be converted at all (strict policy)")
    outside_boundary_weight: float = Field(_DEFAULT.policy.outside_boundary_weight, ge=0.0,
                                           le=1.0, description="potential factor outside the "
                                                               "urban development boundary")
    conversion: dict[str, dict[str, Annotated[float, Field(ge=0.0, le=1.0)]]] = Field(
        default_factory=dict,
        description="from -> to -> factor on that transition (0 forbids); from and to are "
                    "land-use groups, class codes or 'any'")
    inertia: float = Field(float(_CA.per_class("inertia", 1)[0]), ge=0.0, le=1000.0,
                           description="will of a cell to keep its class in the roulette")
    roulette_rounds: int = Field(_CA.roulette_rounds, ge=0, le=10,
                                 description="roulette passes before the passes that take "
                                             "the cells of highest potential (0: none)")
    patch_size: float = Field(_DEFAULT.patch_size, ge=1.0, le=10000.0,
                              description="mean size of new patches, cells")
    patch_compactness: float = Field(_CA.patch_compactness, ge=0.0, le=10.0,
                                     description="how strongly patches grow compact")
    suitability: Suitability = Suitability()
    demand: Demand = Demand()

    @field_validator("neighbourhood_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("must be odd")
        return v

    @model_validator(mode="after")
    def _calibrated_model_is_not_reset(self) -> LandUse:
        if self.calibration is not None:
            # A key at its default may be set (a scenario dumped to a dict and read back);
            # a key that would change the model may not.
            defaults = LandUse()
            set_here = sorted(k for k in set(self.model_fields_set) & set(MODEL_KEYS)
                              if getattr(self, k) != getattr(defaults, k))
            if set_here:
                raise ValueError(f"{', '.join(set_here)} come from the calibration; a "
                                 "scenario on a calibrated model sets only "
                                 f"{', '.join(PLANNER_KEYS)} (and drivers)")
        elif self.drivers:
            raise ValueError("drivers are those of a calibration: give calibration too")
        unprotected = sorted(set(self.protect_buffers) - set(self.protect))
        if unprotected:
            raise ValueError(f"protect_buffers: {', '.join(unprotected)} not in protect; a "
                             "buffer is drawn around a protected control line")
        if self.demand.source == "markov" and self.calibration is None and not (
                self.demand.markov and self.demand.markov.maps):
            raise ValueError("demand source markov needs markov: {maps: {YEAR: FILE, ...}} "
                             "or a calibration whose maps it uses")
        return self


def land_use_config(land_use: LandUse, ca: CAParams | None = None) -> LandUseConfig:
    """The engine's configuration for a scenario's ``land_use`` section: the one mapping from
    scenario keys to model parameters.

    ``ca`` is a calibration's fitted parameters; given, the scenario's own CA keys are not
    used (they are not allowed next to ``calibration``). Every key of :class:`LandUse` is
    either mapped here or named in the docstring of :class:`LandUse` as the runner's
    (``calibration``, ``drivers``, ``suitability``, ``demand``; of ``demand``, the Markov
    adjustments are the policy's, mapped here); tests check both.

    Examples
    --------
    >>> land_use_config(LandUse()) == LandUseConfig()
    True
    >>> land_use_config(LandUse(alpha=0.1, protect=[])).policy.hard_constraints
    ()
    """
    if ca is None:
        ca = CAParams(neighbourhood_size=land_use.neighbourhood_size, alpha=land_use.alpha,
                      spontaneous=land_use.spontaneous,
                      inertia=() if land_use.inertia == 1.0 else (land_use.inertia,),
                      roulette_rounds=land_use.roulette_rounds,
                      patch_compactness=land_use.patch_compactness)
    markov = land_use.demand.markov
    policy = LandUsePolicy(
        hard_constraints=tuple(CONTROL_LINE_FIELDS[k] for k in land_use.protect),
        protected_groups=tuple(land_use.protect_groups),
        outside_boundary_weight=land_use.outside_boundary_weight,
        conversion=rules_from_mapping(land_use.conversion),
        markov_adjust=tuple(TransitionAdjustment(a.source, a.target, a.factor)
                            for a in (markov.adjust if markov is not None else ())),
        buffers=tuple((CONTROL_LINE_FIELDS[k], float(w))
                      for k, w in land_use.protect_buffers.items()))
    return LandUseConfig(ca=ca, policy=policy, patch_size=land_use.patch_size)


class SurgeShape(_Strict):
    """A design surge hydrograph around its peak: tide plus a surge bell (see
    :func:`engine.flood.forcing.synthetic_surge`)."""

    mean_sea_level: float = Field(0.0, ge=-10.0, le=10.0, description="m in the datum")
    tide_amplitude: float = Field(1.0, ge=0.0, le=10.0, description="m, half the tidal range")
    tide_period_h: float = Field(12.42, gt=1.0, le=48.0, description="M2 by default")
    surge_duration_h: float = Field(24.0, gt=0.5, le=240.0,
                                    description="base of the surge bell = event duration")
    step_min: float = Field(10.0, gt=0.0, le=120.0, description="hydrograph record spacing")


class HydrographTable(_Strict):
    """A still-water level record: hours from the event start and levels (m, datum)."""

    time_h: tuple[Annotated[float, Field(ge=-MAX_EVENT_H, le=MAX_EVENT_H)], ...] = Field(
        min_length=2, max_length=100_000)
    level_m: tuple[Annotated[float, Field(ge=-50.0, le=100.0)], ...] = Field(
        min_length=2, max_length=100_000)
    max_gap_h: float | None = Field(None, gt=0.0, description="longest accepted interval; "
                                                              "default 3 x the median")


class Rainfall(_Strict):
    """Uniform rain during the surge (inertial engine)."""

    intensity_mm_h: float = Field(gt=0.0, le=500.0)
    start_h: float = Field(0.0, ge=0.0, le=MAX_EVENT_H)
    duration_h: float = Field(gt=0.0, le=240.0)


class DefenceSpec(_Strict):
    """A sea wall or levee along a polyline in the territory CRS."""

    name: str
    crest_level: float = Field(ge=-10.0, le=100.0, description="m in the datum")
    line: tuple[tuple[float, float], ...] = Field(min_length=2, max_length=100_000)


class Solver(_Strict):
    """Numerical settings of the flow engines (``theta`` and ``advection``: inertial only;
    ``order``: godunov only)."""

    cfl: float | None = Field(None, ge=0.01, description="Courant number; default 0.7 "
                              "(inertial, at most 1) or 0.45 (godunov, at most 0.5)")
    theta: float = Field(0.7, ge=0.5, le=1.0, description="q-centred weight")
    max_dt_s: float = Field(30.0, ge=0.01, le=600.0)
    outputs: int = Field(7, ge=2, le=97, description="depth maps kept over the event")
    # On by default: without the convective term the sample's 100-year surge grows a
    # checkerboard in a deep, smooth basin (depths of 10 m, speeds of 400 m/s in a few cells).
    advection: bool = Field(True, strict=True,
                            description="the convective term (Stelling & Duinmeijer 2003): "
                                        "stable in deep smooth water, accurate near critical "
                                        "flow; false: local inertial (Bates et al. 2010)")
    order: int = Field(1, description="godunov: 1 (first order) or 2 (MUSCL states with the "
                                      "MC limiter and Heun's two-stage Runge-Kutta step)")

    @field_validator("order", mode="before")
    @classmethod
    def _order(cls, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v not in (1, 2):
            raise ValueError("order must be 1 (first order) or 2 (MUSCL + Heun's Runge-Kutta "
                             "step) for the godunov engine")
        return v

    @field_validator("advection", mode="before")
    @classmethod
    def _boolean(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError("advection must be true (the convective term, Stelling & "
                             "Duinmeijer 2003) or false (local inertial, Bates et al. 2010)")
        return v

    @field_validator("cfl")
    @classmethod
    def _stable(cls, v: float | None) -> float | None:
        if v is not None and v > 1.0:
            raise ValueError("a Courant number above 1 breaks the stability condition "
                             "dt <= dx / sqrt(g h) of the local inertial scheme (Bates et al. "
                             "2010); use 0.7")
        return v


class BreachSpec(_Strict):
    """A stretch of a defence that fails during the event, at a time or when the water at it
    reaches a trigger level (flow engines; see :mod:`engine.flood.breach`)."""

    name: str
    defence: str = Field(description="name of a defence of this surge")
    at: tuple[float, float] = Field(description="a point on the defence line (territory CRS)")
    length_m: float = Field(gt=0.0, le=100_000.0)
    crest_level: float = Field(ge=-10.0, le=100.0, description="m in the datum, after failure")
    time_h: float | None = Field(None, ge=0.0, le=MAX_EVENT_H,
                                 description="hours from the event start")
    trigger_level: float | None = Field(None, ge=-50.0, le=100.0,
                                        description="m in the datum, water at the breach")

    @model_validator(mode="after")
    def _one_cause(self) -> BreachSpec:
        if (self.time_h is None) == (self.trigger_level is None):
            raise ValueError("a breach fails at time_h or at trigger_level: give exactly one")
        return self


class Damage(_Strict):
    """Building damage: JRC depth-damage curves x construction cost x floor area."""

    country: str = Field("China", description="row of the JRC construction-cost table")
    exposed_storeys: int | None = Field(None, ge=1, le=200,
                                        description="storeys the water can damage; "
                                                    "default all of them")


class Surge(_Strict):
    """A storm-surge event in one year.

    The still-water level is given by exactly one of ``water_level`` (a constant level for the
    bathtub, or the peak of a design hydrograph of ``shape`` for the inertial engine),
    ``return_period`` (the peak read from ``peak_levels``) or ``hydrograph`` (a record).
    ``sea_level_rise`` is added to every level.
    """

    engine: Literal["bathtub", "inertial", "godunov"] = "bathtub"
    year: int | None = Field(None, ge=1900, le=2400,
                             description="default: the last simulated year")
    water_level: float | None = Field(None, ge=-10.0, le=30.0,
                                      description="m in the territory's datum")
    return_period: float | None = Field(None, gt=1.0, le=100_000.0, description="years")
    peak_levels: dict[Annotated[float, Field(gt=1.0, le=1e6)],
                      Annotated[float, Field(ge=-50.0, le=100.0)]] | None = Field(
        None, description="return period (years) -> still-water level (m), today's climate")
    hydrograph: HydrographTable | None = None
    sea_level_rise: float = Field(0.0, ge=-1.0, le=5.0, description="m")
    shape: SurgeShape = SurgeShape()
    rainfall: Rainfall | None = None
    defences: tuple[DefenceSpec, ...] = ()
    breaches: tuple[BreachSpec, ...] = ()
    buildings_as_obstacles: bool = False
    manning: dict[str, Annotated[float, Field(gt=0.0, le=1.0)]] = Field(default_factory=dict,
                                      description="Manning's n by land-use group or class code")
    hazard_depth: float = Field(0.3, gt=0.0, le=5.0, description="m, for arrival and duration")
    solver: Solver = Solver()
    damage: Damage = Damage()

    @model_validator(mode="after")
    def _one_level(self) -> Surge:
        given = [k for k in ("water_level", "return_period", "hydrograph")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of water_level, return_period or hydrograph "
                             f"(got {', '.join(given) or 'none'}); set the others to null")
        if self.return_period is not None and not self.peak_levels:
            raise ValueError("return_period needs a peak_levels table (return period: level)")
        if self.rainfall is not None and self.engine == "bathtub":
            raise ValueError("rainfall needs engine: inertial or godunov (the bathtub has no "
                             "flow)")
        if self.engine == "godunov" and self.solver.cfl is not None and self.solver.cfl > 0.5:
            raise ValueError(f"solver.cfl {self.solver.cfl:g} is above 0.5, the positivity "
                             "limit of the godunov engine (depths would go negative); use "
                             "0.45")
        if self.solver.order == 2 and self.engine != "godunov":
            raise ValueError(f"solver.order 2 needs engine: godunov (the {self.engine} engine "
                             "has no second-order option)")
        self._check_breaches()
        return self

    def _check_breaches(self) -> None:
        if self.breaches and self.engine == "bathtub":
            raise ValueError("breaches need engine: inertial or godunov (the bathtub has no "
                             "flow)")
        crests = {d.name: d.crest_level for d in self.defences}
        names = [b.name for b in self.breaches]
        if len(set(names)) != len(names):
            raise ValueError(f"breach names must be unique (got {names})")
        for b in self.breaches:
            if b.defence not in crests:
                raise ValueError(f"breach {b.name!r}: no defence named {b.defence!r} "
                                 f"(defences: {', '.join(crests) or 'none'})")
            if not b.crest_level < crests[b.defence]:
                raise ValueError(f"breach {b.name!r}: crest_level {b.crest_level:g} m is not "
                                 f"below the crest of {b.defence!r} ({crests[b.defence]:g} m)")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    #: One line, in any language; an English title is a message id whose Chinese words live in
    #: ``scenarios/locale/zh_CN/LC_MESSAGES/scenarios.po`` (scenarios.i18n.scenario_text).
    title: str = Field(min_length=1, max_length=160, pattern=r"^[^\n\r]*\S[^\n\r]*$")
    description: str = ""
    start_year: int = Field(2025, ge=1900, le=2200)
    years: int = Field(10, ge=1, le=200)
    population: Population = Population()
    households: Households = Households()
    development: Development = Development()
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
    _check_years(scenario, path)
    groups = len(scenario.population.income_shares)
    if len(scenario.households.price_by_income) != groups:
        raise InputError(f"needs one coefficient per income group ({groups})", source=path,
                         field="households.price_by_income",
                         value=list(scenario.households.price_by_income))
    if scenario.surge is not None:
        from scenarios.flood import surge_event  # builds (so checks) the hydrograph

        surge_event(scenario.surge, source=path)
    return scenario


def _check_years(scenario: Scenario, path: Path) -> None:
    """Years named in the scenario must be simulated years."""
    first, last = scenario.start_year + 1, scenario.end_year
    named = [("surge.year", [scenario.surge_year] if scenario.surge_year else []),
             ("population.growth_by_year", list(scenario.population.growth_by_year)),
             ("population.migration_by_year", list(scenario.population.migration_by_year))]
    for key, years in named:
        for year in years:
            if not first <= year <= last:
                raise InputError(f"must be within the simulated years {first}..{last}",
                                 source=path, field=key, value=year)


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
    raw = read_yaml(path, "scenario file",
                    not_a_mapping="a scenario must be a mapping of keys to values")
    _anchor_paths(raw, path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    base = _merged(_resolve(parent, relative_to=path), (*chain, path.resolve()))
    base.pop("name", None)  # a child never inherits its parent's identity
    base.pop("title", None)
    return _deep_merge(base, raw)


def _anchor_paths(raw: dict[str, Any], path: Path) -> None:
    """Files a scenario names (calibration, demand table, driver files) are relative to the
    file that names them: make those that exist there absolute, before merging with a child.
    Anything else (a calibration's name, a TIM field) is left as written."""
    land_use = raw.get("land_use")
    if not isinstance(land_use, dict):
        return

    def anchored(value: Any) -> Any:
        if isinstance(value, str) and not Path(value).is_absolute():
            candidate = path.parent / value
            if candidate.exists():
                return str(candidate.resolve())
        return value

    if "calibration" in land_use:
        land_use["calibration"] = anchored(land_use["calibration"])
    demand = land_use.get("demand")
    if isinstance(demand, dict) and "table" in demand:
        demand["table"] = anchored(demand["table"])
    markov = demand.get("markov") if isinstance(demand, dict) else None
    if isinstance(markov, dict) and isinstance(markov.get("maps"), dict):
        markov["maps"] = {y: anchored(v) for y, v in markov["maps"].items()}
    drivers = land_use.get("drivers")
    if isinstance(drivers, dict):
        land_use["drivers"] = {k: anchored(v) for k, v in drivers.items()}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _input_error(path: Path, exc: ValidationError) -> InputError:
    """:func:`tim.config.validation_error`, with the keys allowed where one is unknown."""
    error = exc.errors()[0]
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        return InputError(f"unknown key (allowed here: {', '.join(allowed)})", source=path,
                          field=".".join(str(p) for p in error["loc"]),
                          value=error.get("input"))
    return validation_error(exc, path)


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
