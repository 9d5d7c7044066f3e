"""A readable description of a TIM store: what ``twin tim info`` prints.

Sections: CRS and vertical datum, grid and extent (projected and in degrees), fields with their
ranges, vector layers with feature counts (and building height sources), point clouds and
meshes, land-use class counts, warnings, what the ingest repaired or skipped, and the history.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from tim.fields import field_spec
from tim.store import load_territory, read_manifest

#: History actions that report on features (tim.ingest.report), shown compactly.
FEATURE_ACTIONS = ("repaired", "skipped", "defaulted", "ignored")


def describe(directory: str | Path) -> str:
    """Layers, CRS, extent, counts and the history of how the TIM was built."""
    from tim.ingest.crs import lonlat_of_bounds

    t = load_territory(directory)
    manifest = read_manifest(directory)
    g = t.grid
    xmin, ymin, xmax, ymax = g.bounds
    w, s, e, n = lonlat_of_bounds(g.crs, g.bounds)
    lines = [f"{t.name}  ({directory})",
             f"  CRS            {g.crs}   vertical datum: {t.vertical_datum}",
             f"  grid           {g.shape[0]} rows x {g.shape[1]} cols, cell "
             f"{g.cell_size[0]:g} x {g.cell_size[1]:g}",
             f"  extent         x {xmin:.1f} .. {xmax:.1f}, y {ymin:.1f} .. {ymax:.1f} "
             f"({(xmax - xmin) / 1000:.2f} x {(ymax - ymin) / 1000:.2f} km)",
             f"                 lon {w:.5f} .. {e:.5f}, lat {s:.5f} .. {n:.5f}",
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
        if name == "buildings" and "height_source" in frame:
            sources = Counter(frame["height_source"])
            lines.append("      height from " + ", ".join(f"{k}: {v}" for k, v in
                                                          sorted(sources.items())))
    for name, meta in sorted(manifest.get("point_clouds", {}).items()):
        b = meta["bounds"]
        lines.append(f"  point cloud    {name}: {meta['count']:,} points, z {b[2]:.2f} .. "
                     f"{b[5]:.2f} ({meta['file']})")
    for name, meta in sorted(manifest.get("meshes", {}).items()):
        lines.append(f"  mesh           {name}: {meta['triangles']:,} triangles in "
                     f"{len(meta['parts'])} part(s): {', '.join(meta['parts'][:8])}"
                     f"{', ...' if len(meta['parts']) > 8 else ''} ({meta['file']})")
    if "land_use__class" in t.fields:
        lu = t.fields["land_use__class"]
        lines.append("  land-use classes (cells)")
        for c in t.classes:
            lines.append(f"    {c.code:3d} {c.name:32s} {c.group:10s} {int((lu == c.code).sum()):8d}")
    warnings = [h for h in t.history if h.action == "warning"]
    if warnings:
        lines.append("  warnings")
        lines += [f"    {h.detail.get('message')}" for h in warnings]
    issues = [h for h in t.history if h.action in FEATURE_ACTIONS]
    if issues:
        lines.append("  ingest report")
        lines += [f"    {line}" for line in report_lines(issues)]
    lines.append("  history")
    for h in t.history:
        if h.action in FEATURE_ACTIONS or h.action == "warning":
            continue
        detail = ", ".join(f"{k}={v}" for k, v in h.detail.items()
                           if k not in ("sha256",) and v not in (None, False))
        lines.append(f"    {h.time}  {h.action:9s} {detail}")
    return "\n".join(lines)


def report_lines(entries: list) -> list[str]:
    """One line per repaired/skipped/defaulted/ignored history entry (or report group dict)."""
    out = []
    for entry in entries:
        d = entry.to_dict() if hasattr(entry, "to_dict") else entry
        features = d.get("features", [])
        more = ", ..." if d.get("count", 0) > len(features) else ""
        out.append(f"{Path(str(d.get('source'))).name}: {d['action']} {d.get('count')} "
                   f"feature(s): {d.get('reason')} (e.g. {', '.join(features)}{more})")
    return out
