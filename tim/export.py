"""Desensitised copies of a TIM for a lower security level (``twin export --level``).

Each field, layer, point cloud and mesh of a TIM has a security level - ``public``,
``internal`` or ``restricted`` - given to the catalog source that made it (``security:``;
``internal`` by default) and written in the manifest's ``security`` map. An export at level L
keeps what is at most L, drops the rest, and generalises the vector layers whose source names a
``generalise_m`` tolerance: geometry simplified (Douglas-Peucker, topology kept) and every
coordinate rounded to a multiple of the tolerance, so positions are known to no better than
about half of it. Features that vanish at that tolerance are dropped and counted.

What it does not do: rasters are copied as they are (classify a source ``restricted`` to keep
its raster out), and the history keeps the file names and hashes of every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tim.errors import InputError
from tim.model import Territory
from tim.store import DEFAULT_LEVEL, LEVELS, load_territory, save_territory, security_levels


#: What an export writes: a TIM folder, or GeoParquet files of its vector layers.
FORMATS = ("tim", "geoparquet")


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_territory` kept, dropped and generalised."""

    path: Path
    level: str
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    generalised: dict[str, float]
    features_dropped: int


def export_territory(tim_dir: str | Path, out: str | Path, level: str,
                     fmt: str = "tim") -> ExportSummary:
    """Write the copy of the TIM ``tim_dir`` for readers cleared to ``level`` into ``out``:
    a TIM (``fmt="tim"``) or its vector layers as GeoParquet (``fmt="geoparquet"``).

    Raises
    ------
    InputError
        ``level`` is not one of :data:`tim.store.LEVELS`.
    """
    import shapely

    if fmt not in FORMATS:
        raise InputError(f"the format must be one of {', '.join(FORMATS)}", field="--format",
                         value=fmt)
    if level not in LEVELS:
        raise InputError(f"the level must be one of {', '.join(LEVELS)}", field="--level",
                         value=level)
    territory = load_territory(tim_dir)
    levels = security_levels(territory)
    rank = {name: LEVELS.index(name) for name in LEVELS}
    copy = territory.copy()
    dropped, generalised, lost = [], {}, 0
    for name, meta in levels.items():
        if rank[meta.get("level", DEFAULT_LEVEL)] <= rank[level]:
            continue
        dropped.append(name)
        for store in (copy.fields, copy.layers, copy.point_clouds, copy.meshes):
            store.pop(name, None)
    for name, frame in list(copy.layers.items()):
        tolerance = levels.get(name, {}).get("generalise_m")
        if not tolerance:
            continue
        geometry = shapely.simplify(frame.geometry.values, tolerance, preserve_topology=True)
        geometry = shapely.set_precision(geometry, tolerance)
        keep = ~(shapely.is_empty(geometry) | shapely.is_missing(geometry))
        lost += int((~keep).sum())
        frame = frame.copy()
        frame[frame.geometry.name] = geometry
        copy.layers[name] = frame[keep].reset_index(drop=True)
        generalised[name] = float(tolerance)
    copy.record("export", level=level, dropped=sorted(dropped), generalised=generalised,
                features_dropped=lost)
    path = write_geoparquet(copy, out) if fmt == "geoparquet" else save_territory(copy, out)
    kept = tuple(sorted({*copy.fields, *copy.layers, *copy.point_clouds, *copy.meshes}))
    return ExportSummary(path, level, kept, tuple(sorted(dropped)), generalised, lost)


def write_geoparquet(territory: Territory, out: str | Path) -> Path:
    """The vector layers of ``territory`` as GeoParquet 1.x files ``OUT/<layer>.parquet``
    (geometry as WKB with its CRS in the file's ``geo`` metadata, for DuckDB, GeoPandas,
    Spark or QGIS ≥ 3.30), with ``manifest.json``: territory, CRS, layers, counts, history.
    Cell fields are rasters and stay in the TIM's GeoTIFFs."""
    import json

    from tim.atomic import atomic_directory

    layers = {}
    with atomic_directory(Path(out)) as tmp:
        for name, frame in sorted(territory.layers.items()):
            frame.to_parquet(tmp / f"{name}.parquet", index=False, compression="zstd")
            layers[name] = {"file": f"{name}.parquet", "count": int(len(frame)),
                            "crs": frame.crs.to_string() if frame.crs else None}
        manifest = {"format": "territory-twin/geoparquet-export", "name": territory.name,
                    "crs": territory.grid.crs, "layers": layers,
                    "history": [h.to_dict() for h in territory.history]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return Path(out)
