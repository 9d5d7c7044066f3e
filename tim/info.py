"""A readable description of a TIM store: what ``twin tim info`` prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tim.fields import field_spec
from tim.store import load_territory


def describe(directory: str | Path) -> str:
    """Layers, CRS, extent, counts and the history of how the TIM was built."""
    t = load_territory(directory)
    g = t.grid
    xmin, ymin, xmax, ymax = g.bounds
    lines = [f"{t.name}  ({directory})",
             f"  CRS            {g.crs}   vertical datum: {t.vertical_datum}",
             f"  grid           {g.shape[0]} rows x {g.shape[1]} cols, cell "
             f"{g.cell_size[0]:g} x {g.cell_size[1]:g}",
             f"  extent         x {xmin:.1f} .. {xmax:.1f}, y {ymin:.1f} .. {ymax:.1f} "
             f"({(xmax - xmin) / 1000:.2f} x {(ymax - ymin) / 1000:.2f} km)",
             "  fields"]
    for name, values in sorted(t.fields.items()):
        nodata = field_spec(name).nodata
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else \
            values[values != nodata] if nodata is not None else values
        lines.append(f"    {name:38s} {values.dtype.name:8s} "
                     f"min {finite.min():g}  max {finite.max():g}" if finite.size else
                     f"    {name:38s} {values.dtype.name:8s} (all nodata)")
    lines.append("  layers")
    for name, frame in sorted(t.layers.items()):
        types = ", ".join(sorted(set(frame.geom_type)))
        lines.append(f"    {name:38s} {len(frame):6d} features ({types})")
    if "land_use__class" in t.fields:
        lu = t.fields["land_use__class"]
        lines.append("  land-use classes (cells)")
        for c in t.classes:
            lines.append(f"    {c.code:3d} {c.name:32s} {c.group:10s} {int((lu == c.code).sum()):8d}")
    lines.append("  history")
    for h in t.history:
        detail = ", ".join(f"{k}={v}" for k, v in h.detail.items()
                           if k not in ("sha256",) and v not in (None, False))
        lines.append(f"    {h.time}  {h.action:9s} {detail}")
    return "\n".join(lines)
