"""A calibration's ``parameters.yaml``: its format, reading it, and applying the calibrated
model to a territory (``twin run --calibration``).

``parameters.yaml`` (written by :mod:`scenarios.calibration.report`) holds the classes, the
fitted CA parameters, the patch library, the conversion table, the drivers, the grid (CRS and
cell size) and the suitability model file with its sha256; the model file is opened only if
its sha256 matches (:mod:`scenarios.calibration.store`). A calibrated model applies to a
territory with the same classes, CRS and cell size, whose drivers are TIM fields or rasters on
its grid; anything else is an :class:`~tim.errors.InputError` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engine.landuse import CAParams, LandUseModel
from engine.learning import SuitabilityModel
from scenarios.calibration.data import DriverSpec, derive_drivers, read_on_grid
from scenarios.calibration.store import load_suitability
from tim.build import file_sha256
from tim.config import read_yaml
from tim.errors import InputError
from tim.model import Grid, Territory, crs_equal

PARAMETERS_FORMAT = "territory-twin/landuse-parameters"
PARAMETERS_VERSION = 1
PARAMETERS_FILE = "parameters.yaml"


@dataclass
class Parameters:
    """A ``parameters.yaml`` and the suitability model it points to, checked."""

    path: Path
    codes: tuple[int, ...]
    ca: CAParams
    patch_sizes: tuple[np.ndarray, ...]
    drivers: list[DriverSpec]
    suitability: SuitabilityModel
    conversion: np.ndarray  # (K, K) 0 = forbidden, else 1 - cost
    raw: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] | None = None  # crs, cell_size of the calibration maps

    def record(self) -> dict[str, Any]:
        """What a run manifest keeps of this calibration: where it is and what it was."""
        model = self.path.parent / self.raw["suitability"]["file"]
        return {"path": str(self.path.parent.resolve()),
                "parameters_sha256": file_sha256(self.path),
                "model_file": model.name, "model_sha256": self.raw["suitability"]["sha256"],
                "classes": list(self.codes),
                "years": self.raw.get("calibration", {}).get("years"),
                "figure_of_merit": self.raw.get("calibration", {}).get("figure_of_merit")}


def parameters_path(source: str | Path) -> Path:
    """``parameters.yaml`` of a calibration folder (or the file itself)."""
    path = Path(source)
    if path.is_dir():
        path = path / PARAMETERS_FILE
    if not path.is_file():
        raise InputError("no calibration there (a twin calibrate folder or its "
                         f"{PARAMETERS_FILE})", source=source, field="land_use.calibration",
                         hint="calibrate first: twin calibrate --map Y0=... --map Y1=... "
                              "--out DIR, then --calibration DIR")
    return path


def load_parameters(path: str | Path) -> Parameters:
    """Read and check a parameters file; the suitability file must match its sha256."""
    path = parameters_path(path)
    raw = read_yaml(path, "parameters file")
    if not isinstance(raw, dict) or raw.get("format") != PARAMETERS_FORMAT:
        raise InputError(f"not a land-use parameters file (format {PARAMETERS_FORMAT})",
                         source=path, field="format",
                         value=raw.get("format") if isinstance(raw, dict) else None,
                         hint="write one with twin calibrate")
    if raw.get("format_version") != PARAMETERS_VERSION:
        raise InputError(f"version {raw.get('format_version')} is not supported "
                         f"(this is {PARAMETERS_VERSION})", source=path,
                         field="format_version")
    try:
        codes = tuple(int(c) for c in raw["classes"])
        ca = CAParams(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in raw["ca"].items()})
        sizes = tuple(np.repeat([int(s) for s in raw["patch_sizes"].get(str(c), {})],
                                [int(n) for n in raw["patch_sizes"].get(str(c), {}).values()])
                      .astype(np.int64) for c in codes)
        drivers = [DriverSpec(**d) for d in raw["suitability"]["drivers"]]
        conversion = np.asarray(raw["conversion"]["table"], dtype=np.float64)
        if conversion.shape != (len(codes), len(codes)) or (conversion < 0).any() \
                or (conversion > 1).any():
            raise ValueError(f"conversion table must be {len(codes)} x {len(codes)} in [0, 1]")
        model_file = path.parent / raw["suitability"]["file"]
        digest = raw["suitability"]["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed parameters: {exc}", source=path) from exc
    suitability = load_suitability(model_file, digest, referenced_by=path)
    return Parameters(path, codes, ca, sizes, drivers, suitability, conversion, raw,
                      _grid_of(raw, path))


def _grid_of(raw: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The calibration grid: in parameters.yaml, or (older reports) in metrics.json beside."""
    if isinstance(raw.get("grid"), dict):
        return raw["grid"]
    metrics = path.parent / "metrics.json"
    if metrics.is_file():
        import json

        try:
            grid = Grid.from_dict(json.loads(metrics.read_text())["grid"])
        except (KeyError, ValueError, TypeError):
            return None
        return {"crs": grid.crs, "cell_size": list(grid.cell_size)}
    return None


def check_territory(params: Parameters, territory: Territory) -> None:
    """The calibrated model fits ``territory``: same classes, CRS and cell size."""
    codes = [int(c) for c in territory.classes.codes]
    if sorted(codes) != sorted(params.codes):
        raise InputError(f"the calibration's classes {list(params.codes)} are not the TIM's "
                         f"{codes}", source=params.path, field="classes",
                         hint="calibrate on maps with the TIM's class codes")
    if params.grid is None:
        raise InputError("the calibration records no grid (CRS and cell size)",
                         source=params.path, field="grid", hint="calibrate again")
    if not crs_equal(params.grid["crs"], territory.grid.crs):
        raise InputError("the calibration's CRS is not the TIM's", source=params.path,
                         field="grid.crs", value=str(territory.grid.crs)[:80],
                         hint="build the TIM in the CRS of the calibration maps")
    size = tuple(float(v) for v in params.grid["cell_size"])
    if not np.allclose(size, territory.grid.cell_size, rtol=1e-9):
        raise InputError(f"the calibration's cell size {size} is not the TIM's "
                         f"{tuple(territory.grid.cell_size)}", source=params.path,
                         field="grid.cell_size",
                         hint="build the TIM with the calibration's cell size")


def territory_drivers(params: Parameters, territory: Territory,
                      given: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The calibration's drivers on ``territory``: raster drivers from ``given`` (name -> TIM
    field or raster file), else the TIM field of the same name, else the raster file the
    calibration used; derived drivers from the territory's land use."""
    unknown = sorted(set(given) - {d.name for d in params.drivers if d.path is not None})
    if unknown:
        raise InputError(f"not a raster driver of the calibration "
                         f"({[d.name for d in params.drivers if d.path is not None]})",
                         field=f"land_use.drivers.{unknown[0]}", value=unknown[0])
    raw: dict[str, np.ndarray] = {}
    for spec in params.drivers:
        if spec.path is None:
            continue
        source = given.get(spec.name, spec.name if spec.name in territory.fields
                           else spec.path)
        if source in territory.fields:
            raw[spec.name] = territory.get(source).astype(np.float32)
            continue
        path = Path(source)
        if not path.is_file():
            raise InputError(f"driver {spec.name!r} is neither a TIM field nor a file",
                             source=params.path, field=f"land_use.drivers.{spec.name}",
                             value=str(source),
                             hint="give it: land_use.drivers: {NAME: FIELD_OR_FILE}")
        values, _, nodata = read_on_grid(path, territory.grid, f"driver {spec.name!r}")
        data = values.astype(np.float32)
        if nodata is not None:
            data[values == nodata] = np.nan
        raw[spec.name] = data
    codes = territory.get("land_use__class")
    return derive_drivers(params.drivers, raw, codes, territory.grid)


def calibrated_model(params: Parameters, territory: Territory, build: Any,
                     drivers: Mapping[str, str] = {}) -> LandUseModel:
    """The calibrated model on ``territory``, in the territory's class order.

    ``build(suitability=, patch_sizes=, conversion=, frozen=)`` makes the model (the runner
    passes :func:`engine.processes.land_use.territory_model` with the scenario's policy).
    Cells where a driver has no data, or where the calibration's constraint raster is 0, never
    change, as in ``twin simulate``.
    """
    check_territory(params, territory)
    layers = territory_drivers(params, territory, drivers)
    codes = territory.get("land_use__class")
    area = codes != 255
    for values in layers.values():
        area &= np.isfinite(values)
    frozen = ~area
    constraint = params.raw.get("constraint") or {}
    if constraint.get("used"):
        path = constraint.get("path")
        if not path or not Path(path).is_file():
            raise InputError("the calibration used a constraint raster that is not there",
                             source=params.path, field="constraint.path", value=path,
                             hint="put the raster back, or calibrate again")
        values, _, nodata = read_on_grid(path, territory.grid, "constraint")
        frozen |= values == 0
        if nodata is not None:
            frozen |= values == nodata
    order = [params.codes.index(int(c)) for c in territory.classes.codes]
    suitability = params.suitability.predict(layers, area)[..., order]
    conversion = params.conversion[np.ix_(order, order)]
    sizes = tuple(params.patch_sizes[i] for i in order)
    return build(suitability=np.ascontiguousarray(suitability), patch_sizes=sizes,
                 conversion=conversion, frozen=frozen)

