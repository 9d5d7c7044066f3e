"""Scenario results on top of the base tiles, without re-tiling the city.

Two kinds of overlay live in ``TILES_DIR/overlays/`` and are listed in ``overlays/index.json``:

**Feature properties** (``overlays/<name>.json``): values per existing building, keyed by the
``id`` property the building tiles carry in their batch tables. A viewer keeps the city's tiles
and restyles each feature by ``features[id]`` (CesiumJS: a ``Cesium3DTileStyle`` or
``tileVisible`` handler reading ``feature.getProperty("id")``)::

    {"format": "territory-twin/feature-properties", "version": 1,
     "name": "storm-surge", "description": "...", "key": "id",
     "tileset": "buildings/tileset.json",
     "properties": {"surge_depth_m": {"units": "m", "min": 0.0, "max": 1.7, "count": 212}},
     "features": {"HW00017": {"surge_depth_m": 0.42}, ...}}

Only features with a value are listed; ``null`` stands for "no value" (e.g. no height limit).
Kilobytes for thousands of buildings, where re-tiling would rewrite megabytes.

**Overlay tilesets** (``overlays/<name>/tileset.json``): new buildings (a plan, a scenario's
development) as their own small LoD1 tileset in the base tiles' ENU frame, so they stand exactly
where the city's tiles put the ground; loaded beside the base tileset, never merged into it.

``height_check`` gives the zoning overlay the TIM itself implies (each building's zone limits
and how far it exceeds the height limit), written by :func:`tim.tiles.write_tiles`.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tim.atomic import atomic_directory, atomic_file
from tim.errors import InputError, StoreError
from tim.model import Territory
from tim.store import DEFAULT_LEVEL

FORMAT = "territory-twin/feature-properties"
FORMAT_VERSION = 1
OVERLAYS = "overlays"
INDEX = "index.json"


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value if isinstance(value, (int, str, bool)) else str(value)


def write_feature_properties(tiles_dir: str | Path, name: str, table: Any,
                             units: Mapping[str, str] | None = None, *, key: str = "id",
                             description: str = "", source: str | None = None,
                             security: str = DEFAULT_LEVEL) -> Path:
    """Write ``overlays/<name>.json`` from ``table`` (a DataFrame with a ``building_id`` column
    and one column per property) and list it in ``overlays/index.json``. ``security`` is the
    overlay's level (the most restrictive of what it was made from; :mod:`tim.tiles.security`),
    recorded in the file and in the index.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> tiles = Path(tempfile.mkdtemp())
    >>> path = write_feature_properties(tiles, "surge", pd.DataFrame(
    ...     {"building_id": ["a", "b"], "depth_m": [0.5, float("nan")]}), {"depth_m": "m"})
    >>> data = json.loads(path.read_text())
    >>> data["features"], data["properties"]["depth_m"]["max"]
    ({'a': {'depth_m': 0.5}, 'b': {'depth_m': None}}, 0.5)
    """
    import pandas as pd

    if not name or "/" in name or name.startswith("."):
        raise InputError("an overlay name must be a plain file name", field="name", value=name)
    if "building_id" not in table:
        raise InputError("feature properties need a building_id column", field="building_id")
    columns = [c for c in table.columns if c != "building_id"]
    if not columns:
        raise InputError("feature properties need at least one property column",
                         field="columns")
    properties = {}
    for column in columns:
        values = table[column]
        meta: dict[str, Any] = {"units": (units or {}).get(column, "")}
        numeric = np.asarray(values.to_numpy(), dtype=float) \
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
            else None
        if numeric is not None and np.isfinite(numeric).any():
            meta.update(min=float(np.nanmin(numeric)), max=float(np.nanmax(numeric)),
                        count=int(np.isfinite(numeric).sum()))
        properties[column] = meta
    ids = table["building_id"].astype(str).to_numpy()
    rows = table[columns].to_dict(orient="records")
    features = {i: {k: _clean(v) for k, v in row.items()} for i, row in zip(ids, rows)}
    data = {"format": FORMAT, "version": FORMAT_VERSION, "name": name,
            "description": description, "source": source, "key": key, "security": security,
            "tileset": "buildings/tileset.json", "properties": properties,
            "features": features}
    folder = Path(tiles_dir) / OVERLAYS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    with atomic_file(path) as staging:
        staging.write_text(json.dumps(data, separators=(",", ":"), allow_nan=False))
    _index(Path(tiles_dir), name, {"kind": "feature-properties", "file": f"{name}.json",
                                   "description": description,
                                   "properties": list(properties), "security": security})
    return path


def read_feature_properties(path: str | Path) -> dict[str, Any]:
    """Read and check an overlay file written by :func:`write_feature_properties`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: cannot read the overlay: {exc}") from exc
    if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
        raise StoreError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file")
    return data


def _index(tiles_dir: Path, name: str, entry: dict[str, Any]) -> None:
    path = tiles_dir / OVERLAYS / INDEX
    index = json.loads(path.read_text()) if path.is_file() else {"overlays": {}}
    index["overlays"][name] = entry
    with atomic_file(path) as staging:
        staging.write_text(json.dumps(index, indent=1))


def height_check(territory: Territory) -> tuple[Any, dict[str, str]]:
    """Per building: its zone, the zone's max height and FAR, and the height above the limit
    (``height_excess_m`` > 0 is a violation; NaN where the zone sets no height)."""
    import pandas as pd

    buildings = territory.layers["buildings"]
    zoning = territory.layers["zoning"]
    limits = zoning.drop_duplicates("zone").set_index("zone")
    zone = buildings["zone"].astype(str) if "zone" in buildings else pd.Series(
        [""] * len(buildings))
    max_height = limits["max_height"].reindex(zone).to_numpy(dtype=float)
    table = pd.DataFrame({"building_id": buildings["building_id"].astype(str).to_numpy(),
                          "zone": zone.to_numpy(), "max_height_m": max_height,
                          "max_far": limits["max_far"].reindex(zone).to_numpy(dtype=float),
                          "height_excess_m": buildings["height"].to_numpy(float) - max_height})
    return table, {"max_height_m": "m", "max_far": "1", "height_excess_m": "m"}


def write_overlay_buildings(territory: Territory, new_buildings: Any, tiles_dir: str | Path,
                            name: str, *, geoid_height: float | None = None,
                            security: str = DEFAULT_LEVEL) -> Path:
    """New buildings as ``overlays/<name>/tileset.json`` in the base tiles' frame.

    ``new_buildings`` needs the columns of a buildings layer (building_id, height, ...) and
    polygons in the territory's CRS; they stand on the territory's terrain like the base LoD1
    buildings. The base tiles are not touched. ``geoid_height`` defaults to the one the base
    tiles were written with (read from their root ``asset.extras``), the 3D Tiles version
    theirs too. ``security`` is the
    overlay's level (recorded in its tileset, its contents and the index).
    """
    from tim.tiles import write_tiles

    tiles_dir = Path(tiles_dir)
    root = tiles_dir / "tileset.json"
    if not root.is_file():
        raise StoreError(f"{tiles_dir}: not a tiles folder (no tileset.json); write the base "
                         "tiles first with 'twin tiles'")
    asset = json.loads(root.read_text())["asset"]
    extras = asset.get("extras", {})
    version = "1.1" if asset.get("version") == "1.1" else "1.0"  # as the base tiles
    if geoid_height is None:
        geoid_height = float(extras.get("geoidHeight", 0.0))
    work = Territory(territory.grid, territory.classes, name=f"{territory.name}: {name}",
                     vertical_datum=territory.vertical_datum,
                     fields={k: v for k, v in territory.fields.items()
                             if k == "terrain__elevation"})
    work.add_layer("buildings", new_buildings)
    work.record("classify", levels={item: {"level": security}
                                    for item in ("buildings", "terrain__elevation")})
    (tiles_dir / OVERLAYS).mkdir(exist_ok=True)
    out = tiles_dir / OVERLAYS / name
    # Built inside the staging folder, so a killed publish leaves nothing that the next one
    # does not remove.
    with atomic_directory(out) as staging:
        build = staging / ".build"
        write_tiles(work, build / "tiles", parts=("buildings",), geoid_height=geoid_height,
                    version=version)
        for item in (build / "tiles" / "buildings").iterdir():
            shutil.move(item, staging / item.name)
        shutil.rmtree(build)
    _index(tiles_dir, name, {"kind": "tileset", "file": f"{name}/tileset.json",
                             "description": f"{len(new_buildings)} new building(s)",
                             "security": security})
    return out / "tileset.json"
