"""Standard field names: one table of every raster field the territory and the processes share.

Names follow ``<object>__<quantity>`` (as in landlab and the CSDMS standard names) so a field says
what it measures. Processes declare the fields they read and write by these names; the store, the
runner and the dashboard find units, dtypes and nodata here instead of guessing.

A field lives either on the grid (``location="cell"``, shape ``grid.shape``) or per land-use class
(``location="class"``, shape ``(n_classes,)`` in the order of the territory's class table).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

import numpy as np

Location = Literal["cell", "class"]


class UnknownFieldError(KeyError):
    """A field name that is not in the standard table."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class FieldSpec:
    """What a field is: its name, storage type, unit, meaning and nodata value."""

    name: str
    dtype: str
    units: str
    doc: str
    location: Location = "cell"
    categorical: bool = False
    nodata: float | int | None = None

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def empty(self, shape: tuple[int, ...]) -> np.ndarray:
        """A new array of this field filled with its nodata value (or zero)."""
        fill = 0 if self.nodata is None else self.nodata
        return np.full(shape, fill, dtype=self.numpy_dtype)


_SPECS = (
    FieldSpec("terrain__elevation", "float32", "m",
              "Ground (bare-earth) elevation in the territory's vertical datum; below 0 is "
              "under the datum (sea bed where the cell is sea).", nodata=float("nan")),
    FieldSpec("land_use__class", "uint8", "1",
              "Land-use class code from the territory's class table.", categorical=True,
              nodata=255),
    FieldSpec("land_use__suitability", "float32", "1",
              "Suitability of the cell for conversion to built-up land, 0 (never) to 1."),
    FieldSpec("land_use__demand", "int64", "cells",
              "Net change of each class's area in the current step: cells to gain (> 0) or to "
              "lose (< 0); 0 = no demand (the class gives up or absorbs the balance).",
              location="class"),
    FieldSpec("building__height", "float32", "m",
              "Height above ground of the tallest building whose footprint covers the cell "
              "centre; 0 where there is none."),
    FieldSpec("building__floor_area", "float32", "m2",
              "Gross floor area of buildings whose footprint centroid lies in the cell."),
    FieldSpec("population__count", "float32", "persons", "Residents in the cell."),
    FieldSpec("planning__unit_id", "int32", "1",
              "Id of the planning unit covering the cell centre; 0 outside every unit.",
              categorical=True),
    FieldSpec("control__ecological_red_line", "uint8", "1",
              "1 inside the ecological protection red line (hard: no conversion to built-up).",
              categorical=True),
    FieldSpec("control__permanent_basic_farmland", "uint8", "1",
              "1 inside permanent basic farmland (hard: no conversion to built-up).",
              categorical=True),
    FieldSpec("control__urban_development_boundary", "uint8", "1",
              "1 inside the urban development boundary (soft: growth outside is penalised).",
              categorical=True),
    FieldSpec("surge__water_depth", "float32", "m",
              "Largest depth of storm-surge water above the ground over the event; 0 where "
              "dry. In cells blocked by buildings, the depth of the water against them."),
    FieldSpec("surge__max_speed", "float32", "m/s",
              "Largest flow speed over the surge event (local inertial engine; NaN for the "
              "bathtub, which has no flow)."),
    FieldSpec("surge__arrival_time", "float32", "s",
              "Time from the start of the surge event until the water is first at least the "
              "hazard depth (0.3 m by default) deep; NaN where it never is."),
    FieldSpec("surge__hazard_duration", "float32", "s",
              "Time the water stays at least the hazard depth deep during the surge event."),
    FieldSpec("surge__flood_level", "float32", "m",
              "Lowest still-water level (territory datum) at which the cell is flooded from "
              "the sea through connected cells and over defences (bathtub); NaN if never."),
    FieldSpec("surface__elevation", "float32", "m",
              "Top-of-surface elevation (DSM: roofs, trees, ground where bare) in the "
              "territory's vertical datum.", nodata=float("nan")),
    FieldSpec("building__footprint_fraction", "float32", "1",
              "Fraction of the cell's area covered by building footprints, 0 to 1 (exact "
              "polygon-cell intersection areas, summed and capped at 1)."),
    FieldSpec("planning__district_id", "int32", "1",
              "Id of the district (parent of planning units) covering the cell centre; 0 "
              "outside every unit.", categorical=True),
    FieldSpec("control__flood_risk", "uint8", "1",
              "1 inside a flood-risk control line (e.g. a flood storage or flood-prone zone).",
              categorical=True),
    FieldSpec("control__heritage", "uint8", "1",
              "1 inside a historic and cultural heritage protection line.", categorical=True),
    FieldSpec("zoning__zone_id", "int32", "1",
              "Id of the zoning polygon covering the cell centre; 0 where no zone applies.",
              categorical=True),
    FieldSpec("zoning__max_far", "float32", "1",
              "Maximum floor-area ratio (gross floor area / plot area) allowed by zoning at the "
              "cell centre; NaN where no zone sets one.", nodata=float("nan")),
    FieldSpec("zoning__max_height", "float32", "m",
              "Maximum building height allowed by zoning at the cell centre; NaN where no zone "
              "sets one.", nodata=float("nan")),
    *(FieldSpec(f"access__distance_to_{kind}", "float32", "m",
                f"Straight-line distance from the cell centre to the nearest {kind} amenity; "
                "NaN where the territory has none.", nodata=float("nan"))
      for kind in ("school", "park", "transit", "centre")),
    FieldSpec("view__visible", "uint8", "1",
              "1 where the surface (plus the target height) is seen from the observer, 0 where "
              "it is hidden; 255 where the surface has no data or lies beyond the range.",
              categorical=True, nodata=255),
    FieldSpec("view__observer_count", "uint32", "observers",
              "How many of the observers of a cumulative viewshed see the cell."),
    FieldSpec("planning__max_building_height", "float32", "m",
              "Maximum allowable building height above the ground: the lowest of the zoning, "
              "inclined-surface and view-corridor limits that apply; NaN where none applies.",
              nodata=float("nan")),
    FieldSpec("planning__height_limit_rule", "int16", "1",
              "Number (1-based, in the rules' order) of the height rule that sets the maximum "
              "allowable height; 0 where none applies.", categorical=True),
    FieldSpec("control__water_line", "uint8", "1",
              "1 inside a water line (blue line 蓝线: rivers, lakes, flood storage and their "
              "protection belts).", categorical=True),
    *(FieldSpec(f"evaluation__{name}", "uint8", "1",
                f"双评价 {doc} grade, 1 (lowest) to 5 (highest), by the factors, weights and "
                "thresholds of scenarios/monitoring/evaluation.yaml; 0 outside the data.",
                categorical=True, nodata=0)
      for name, doc in (("ecological_importance", "ecological protection importance"),
                        ("agricultural_suitability", "agricultural production suitability"),
                        ("urban_suitability", "urban construction suitability"))),
    FieldSpec("planning__view_envelope", "float32", "m",
              "Greatest height above the ground that keeps every protected view open (the "
              "view-corridor envelope); NaN outside the corridors.", nodata=float("nan")),
)

FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in _SPECS}

#: Control lines recognised in the ``control_lines`` layer (its ``kind`` column) and their fields.
CONTROL_LINE_FIELDS: dict[str, str] = {
    "ecological_red_line": "control__ecological_red_line",
    "permanent_basic_farmland": "control__permanent_basic_farmland",
    "urban_development_boundary": "control__urban_development_boundary",
    "flood_risk": "control__flood_risk",
    "heritage": "control__heritage",
    "water_line": "control__water_line",
}


def field_spec(name: str) -> FieldSpec:
    """The spec of a standard field; an unknown name suggests the closest ones."""
    try:
        return FIELDS[name]
    except KeyError:
        close = difflib.get_close_matches(name, FIELDS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFieldError(f"unknown field {name!r}{hint}") from None
