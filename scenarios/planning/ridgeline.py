"""Towers against the ridgeline: which tall buildings rise above the hills behind them, seen
from a vantage point (Hong Kong's Urban Design Guidelines protect the ridgelines seen from the
harbour: a building-free zone below the ridge).

For each tower (a point with its roof level, ``top_mpd``) the ray from the eye through the
tower is followed over the terrain: the **ridge angle** is the highest elevation angle of the
terrain beyond the tower (up to ``reach`` metres from the eye), the **tower angle** that of its
roof. A tower *breaks the ridgeline* when its roof stands higher in the view than the ridge
behind it (by ``lower_by`` < 0 metres at the tower's distance), and is *hidden* when terrain
between the eye and the tower rises above the line to its roof. Curvature and refraction are
left out (they lower a 10 km ridge by about 7 m). The terrain is the TIM's elevation (no
buildings: the towers do not hide each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import InputError
from tim.model import Territory


@dataclass(frozen=True)
class Vantage:
    """The eye: position (CRS metres), height above the terrain (m) and a name."""

    x: float
    y: float
    height: float = 1.6
    name: str = "vantage point"


def terrain_along(territory: Territory, x0: float, y0: float, dx: np.ndarray, dy: np.ndarray,
                  distances: np.ndarray) -> np.ndarray:
    """Elevation (nearest cell) at ``distances`` along the unit directions ``(dx, dy)`` from
    ``(x0, y0)``: shape (rays, samples); NaN outside the grid."""
    z = territory.get("terrain__elevation").astype(float)
    a, _, c, _, e, f = territory.grid.transform
    xs = x0 + dx[:, None] * distances[None, :]
    ys = y0 + dy[:, None] * distances[None, :]
    cols = np.floor((xs - c) / a).astype(int)
    rows = np.floor((ys - f) / e).astype(int)
    inside = (rows >= 0) & (rows < z.shape[0]) & (cols >= 0) & (cols < z.shape[1])
    out = np.full(xs.shape, np.nan)
    out[inside] = z[rows[inside], cols[inside]]
    return out


def towers_against_ridgeline(territory: Territory, vantage: Vantage, towers: Any, *,
                             within: float = 8_000.0, reach: float = 20_000.0,
                             step: float | None = None) -> Any:
    """A table of ``towers`` (a GeoDataFrame of points with ``top_mpd``) as seen from
    ``vantage``: distance, tower and ridge angles (degrees), ``lower_by`` (m the roof would
    have to come down to meet the ridge line; < 0: it stays below), ``breaks_ridgeline`` and
    ``hidden``. Towers farther than ``within`` are left out; the ridge is looked for up to
    ``reach`` from the eye (none there, as over the open sea: the tower stands against the
    sky, ridge angle NaN)."""
    if "top_mpd" not in towers.columns:
        raise InputError("the towers need a roof level column", field="top_mpd")
    step = step or min(abs(territory.grid.transform[0]), abs(territory.grid.transform[4])) / 2
    ground = terrain_along(territory, vantage.x, vantage.y, np.array([1.0]), np.array([0.0]),
                           np.array([0.0]))[0, 0]
    if not np.isfinite(ground):
        raise InputError("the vantage point is outside the terrain", field="vantage",
                         value=(vantage.x, vantage.y))
    eye = max(float(ground), 0.0) + vantage.height
    xs = towers.geometry.x.to_numpy()
    ys = towers.geometry.y.to_numpy()
    top = towers["top_mpd"].to_numpy(float)
    dist = np.hypot(xs - vantage.x, ys - vantage.y)
    keep = (dist > step) & (dist <= within) & np.isfinite(top)
    frame = towers.loc[keep].copy()
    dist, top = dist[keep], top[keep]
    dx, dy = (xs[keep] - vantage.x) / dist, (ys[keep] - vantage.y) / dist
    samples = np.arange(step, reach + step, step)
    slope = (terrain_along(territory, vantage.x, vantage.y, dx, dy, samples) - eye) / samples
    beyond = samples[None, :] > dist[:, None] + step
    ridge = np.nanmax(np.where(beyond, slope, -np.inf), axis=1)
    before = samples[None, :] < dist[:, None] - step
    front = np.nanmax(np.where(before, slope, -np.inf), axis=1)
    tower = (top - eye) / dist
    frame["distance_m"] = dist.round(0)
    frame["tower_angle_deg"] = np.degrees(np.arctan(tower)).round(3)
    ridge = np.where(np.isfinite(ridge), ridge, np.nan)
    frame["ridge_angle_deg"] = np.degrees(np.arctan(ridge)).round(3)
    frame["lower_by_m"] = ((tower - ridge) * dist).round(1)
    frame["breaks_ridgeline"] = ~(tower <= ridge)  # NaN ridge: against the open sky
    frame["hidden"] = front > tower
    return frame.sort_values("lower_by_m", ascending=False)


def write_ridgeline(table: Any, vantage: Vantage, out: str | Path) -> Path:
    """``out/towers.gpkg`` (every tower seen, with its angles) and ``summary.json``."""
    import json

    from tim.atomic import atomic_directory

    breaking = table[table["breaks_ridgeline"] & ~table["hidden"]]
    summary = {"vantage": vars(vantage), "towers": int(len(table)),
               "breaking_ridgeline": int(len(breaking)),
               "hidden": int(table["hidden"].sum()),
               "highest_above_ridge": [
                   {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                    if k != "geometry"}
                   for row in breaking.head(10).to_dict("records")]}
    with atomic_directory(out) as tmp:
        table.to_file(tmp / "towers.gpkg", driver="GPKG")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False,
                                                     default=str), encoding="utf-8")
    return Path(out)


#: Where the dashboard looks for a ridgeline check of a TIM: ``<TIM_DIR>-ridgeline``.
SUFFIX = "-ridgeline"


@dataclass(frozen=True)
class RidgelineFolder:
    """A folder :func:`write_ridgeline` wrote, read back: its summary and every tower seen."""

    path: Path
    summary: dict[str, Any]
    towers: Any

    @classmethod
    def open(cls, path: str | Path) -> RidgelineFolder:
        import json

        import geopandas as gpd

        path = Path(path)
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        if "vantage" not in summary:
            raise InputError("not a ridgeline folder (no vantage in summary.json)", source=path,
                             field="vantage")
        return cls(path, summary, gpd.read_file(path / "towers.gpkg", engine="pyogrio"))


def find_ridgeline(base: str | Path) -> RidgelineFolder | None:
    """The ridgeline check written beside a TIM folder ``base`` (:data:`SUFFIX`)."""
    base = Path(base)
    folder = base.with_name(base.name + SUFFIX)
    return RidgelineFolder.open(folder) if (folder / "summary.json").is_file() else None
