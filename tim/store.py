"""The TIM store: a territory on disk that QGIS opens directly.

Layout of ``TIM_DIR``::

    manifest.json              name, CRS, grid, classes, fields, layers, history, plan targets,
                               content hashes
    rasters/<field>.tif        one GeoTIFF per cell field (deflate, nodata set, CRS embedded)
    vectors.gpkg               one GeoPackage, one table per vector layer
    fields.json                class-located fields (small per-class vectors)
    pointclouds/<name>.laz     point clouds (LAS 1.4, CRS in a WKT VLR)
    meshes/<name>.ply          triangle meshes (binary PLY, double vertices, a part per face)

Hashes are of content, not files (a GeoPackage file changes with every write even when its
features do not), so loading can prove that what it read is what was saved.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tim.atomic import atomic_directory
from tim.errors import StoreError, TwinError
from tim.fields import field_spec
from tim.model import ClassTable, Grid, HistoryEntry, Territory, crs_equal
from tim.plan import Plan
from tim.postgis import PostGISStore
from tim.qgis import write_tim_project
from tim.styles import (Category, field_categories, geometry_kind, raster_qml,
                        store_gpkg_styles)

FORMAT = "territory-twin/tim"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.gpkg"


def array_hash(values: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes."""
    h = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def frame_hash(frame: Any) -> str:
    """sha256 of a GeoDataFrame's geometries (WKB) and attributes, independent of file format."""
    h = hashlib.sha256()
    attributes = frame.drop(columns=frame.geometry.name)
    h.update(attributes.to_json(orient="split", index=False, double_precision=15).encode())
    for wkb in frame.geometry.to_wkb():
        h.update(wkb or b"")
    return h.hexdigest()


def write_raster(path: Path, values: np.ndarray, grid: Grid, nodata: float | int | None, *,
                 descriptions: Sequence[str] | None = None,
                 tags: Sequence[dict[str, Any]] | None = None,
                 categories: Sequence[Category] | None = None) -> None:
    """Write a Cloud-Optimized GeoTIFF on ``grid``: one band from a 2D ``values``, or one band
    per leading index of a 3D ``values`` (bands, rows, cols), each with its ``descriptions`` and
    ``tags`` if given. The one raster writer of the project.

    A categorical raster (``categories`` given: land use, grades) gets a colour table, its
    category names (in GDAL's ``.aux.xml``, which QGIS and ArcGIS read) and a ``.qml`` that QGIS
    applies on open; its overviews take the nearest value. A continuous raster gets band
    statistics and averaged overviews.
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine

    stack = values[None] if values.ndim == 2 else values
    profile = dict(driver="GTiff", height=grid.shape[0], width=grid.shape[1],
                   count=len(stack), dtype=values.dtype.name,
                   crs=rasterio.crs.CRS.from_user_input(grid.crs),
                   transform=Affine(*grid.transform))
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.MemoryFile() as memory, memory.open(**profile) as staged:
        staged.write(stack)
        for band, text in enumerate(descriptions or (), start=1):
            staged.set_band_description(band, text)
        for band, band_tags in enumerate(tags or (), start=1):
            staged.update_tags(band, **band_tags)
        if categories and values.dtype in (np.uint8, np.uint16):  # GeoTIFF palettes
            staged.write_colormap(1, {c.code: c.rgba for c in categories})
        else:
            for band, layer in enumerate(stack, start=1):
                staged.update_tags(band, **_statistics(layer, nodata))
        rasterio.shutil.copy(staged, path, driver="COG", compress="DEFLATE",
                             overview_resampling="NEAREST" if categories else "AVERAGE")
    aux = Path(f"{path}.aux.xml")
    aux.unlink(missing_ok=True)
    if categories:
        aux.write_text(_category_pam(categories, nodata), encoding="utf-8")
        Path(path).with_suffix(".qml").write_text(raster_qml(categories), encoding="utf-8")


def _statistics(values: np.ndarray, nodata: float | int | None) -> dict[str, str]:
    """GDAL's band statistics tags over the valid (finite, not nodata) cells."""
    valid = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        valid = valid[valid != nodata]
    if valid.size == 0:
        return {"STATISTICS_VALID_PERCENT": "0"}
    v = valid.astype(np.float64)
    return {"STATISTICS_MINIMUM": repr(float(v.min())), "STATISTICS_MAXIMUM": repr(float(v.max())),
            "STATISTICS_MEAN": repr(float(v.mean())), "STATISTICS_STDDEV": repr(float(v.std())),
            "STATISTICS_VALID_PERCENT": f"{100.0 * valid.size / values.size:.4g}"}


def _category_pam(categories: Sequence[Category], nodata: float | int | None) -> str:
    """GDAL's PAM sidecar with category names and a raster attribute table (value, class
    name, red, green, blue) for band 1, the form ``gdalinfo`` and QGIS read."""
    import xml.etree.ElementTree as ET

    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    by_code = {c.code: c.name for c in categories}
    if min(by_code) >= 0:  # GDAL's category names are indexed by value from 0
        names = ET.SubElement(band, "CategoryNames")
        for code in range(max(by_code) + 1):
            ET.SubElement(names, "Category").text = by_code.get(code, "")
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    for i, (name, kind, usage) in enumerate((("Value", 0, 5), ("Class", 2, 2), ("Red", 0, 6),
                                             ("Green", 0, 7), ("Blue", 0, 8))):
        field = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(field, "Name").text = name
        ET.SubElement(field, "Type").text = str(kind)
        ET.SubElement(field, "Usage").text = str(usage)
    for i, c in enumerate(categories):
        row = ET.SubElement(rat, "Row", index=str(i))
        for value in (c.code, c.name, *c.rgba[:3]):
            ET.SubElement(row, "F").text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_layer(frame: Any, path: Path, layer: str) -> None:
    """Write ``frame`` as ``layer`` of the GeoPackage ``path`` (created or added to), with its
    QGIS style as the layer's default in ``layer_styles``. The one vector writer.

    GeoPackage 1.2 rather than GDAL's newer default 1.4, which GDAL 3.6 and the QGIS built on
    it warn about on every open.
    """
    frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", VERSION="1.2")
    store_gpkg_styles(path, {layer: (geometry_kind(frame.geom_type.dropna().unique()),
                                     [str(c) for c in frame.columns if c != "geometry"])})


def save_territory(territory: Territory, directory: str | Path, *,
                   store: str | None = None) -> Path:
    """Write ``territory`` to ``directory`` atomically and return the directory.

    An existing store there is replaced only once the new one is completely written. With a
    ``store`` URL (``postgresql://...``, :mod:`tim.postgis`) the vector layers and a copy of
    the manifest go to PostGIS, in one transaction committed once the folder is in place.
    """
    directory = Path(directory)
    postgis = PostGISStore.from_url(store) if store else None
    with ExitStack() as stack:
        connection = stack.enter_context(postgis.transaction()) if postgis else None
        if postgis:
            postgis.prepare(connection)
        _save(territory, directory, postgis, connection)
    return directory


def _save(territory: Territory, directory: Path, postgis: PostGISStore | None,
          connection: Any) -> None:
    with atomic_directory(directory) as tmp:
        (tmp / "rasters").mkdir()
        fields_meta: dict[str, Any] = {}
        class_fields: dict[str, list] = {}
        for name, values in sorted(territory.fields.items()):
            spec = field_spec(name)
            meta = {"dtype": spec.dtype, "units": spec.units, "location": spec.location,
                    "sha256": array_hash(values)}
            if spec.location == "cell":
                meta["file"] = f"rasters/{name}.tif"
                write_raster(tmp / meta["file"], values, territory.grid, spec.nodata,
                             categories=field_categories(name, territory.classes))
            else:
                meta["file"] = "fields.json"
                class_fields[name] = values.tolist()
            fields_meta[name] = meta
        if class_fields:
            (tmp / "fields.json").write_text(json.dumps(class_fields, indent=1))

        layers_meta: dict[str, Any] = {}
        for name, frame in sorted(territory.layers.items()):
            if postgis:
                where = postgis.write_layer(connection, name, frame)
            else:
                write_layer(frame, tmp / VECTORS, name)
                where = {"file": VECTORS, "layer": name}
            layers_meta[name] = {**where, "crs": frame.crs.to_string(),
                                 "count": int(len(frame)),
                                 "geometry_types": sorted(set(frame.geom_type.dropna())),
                                 "columns": [c for c in frame.columns if c != "geometry"],
                                 "sha256": frame_hash(frame)}

        clouds_meta, meshes_meta = _save_3d(territory, tmp)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "name": territory.name,
            "crs": territory.grid.crs, "crs_wkt": _crs_wkt(territory.grid.crs),
            "vertical_datum": territory.vertical_datum,
            "grid": territory.grid.to_dict() | {"cell_size": list(territory.grid.cell_size),
                                                "bounds": list(territory.grid.bounds)},
            "classes": territory.classes.to_list(),
            "fields": fields_meta, "layers": layers_meta,
            "point_clouds": clouds_meta, "meshes": meshes_meta,
            "security": security_levels(territory),
            "history": [h.to_dict() for h in territory.history],
            "plan": territory.plan.to_dict()["indicators"] if territory.plan else None,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        if postgis:
            postgis.write_manifest(connection, manifest)
        write_tim_project(tmp, manifest)


#: Security levels, lowest first ("one map" classification of planning data).
LEVELS = ("public", "internal", "restricted")
#: Level of what no catalog source classified (derived fields, older stores).
DEFAULT_LEVEL = "internal"


def security_levels(territory: Territory) -> dict[str, dict[str, Any]]:
    """Per field, layer, point cloud and mesh: its security ``level`` and, for vector layers
    to generalise on export, ``generalise_m`` (from the build's last ``classify`` record;
    :data:`DEFAULT_LEVEL` for what it does not name)."""
    recorded: dict[str, Any] = {}
    for entry in territory.history:
        if entry.action == "classify":
            recorded = dict(entry.detail.get("levels", {}))
    names = {*territory.fields, *territory.layers, *territory.point_clouds, *territory.meshes}
    out = {}
    for name in sorted(names):
        item = recorded.get(name) or {}
        level = item.get("level", DEFAULT_LEVEL)
        out[name] = {"level": level if level in LEVELS else "restricted",
                     "generalise_m": item.get("generalise_m")}
    return out


def load_manifest(directory: str | Path, *, fmt: str, version: int, what: str,
                  remedy: str) -> dict[str, Any]:
    """``directory/manifest.json``, checked for format and version; errors name the file.

    Shared by the TIM store and the run directory (``what`` and ``remedy`` word the errors).
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise StoreError(f"{directory}: not a {what} (no {MANIFEST}); {remedy}")
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise StoreError(f"{path}: corrupt manifest ({type(exc).__name__}: "
                         f"{str(exc)[:120]}); {remedy}") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"{path}: corrupt manifest (not a JSON object); {remedy}")
    if manifest.get("format") != fmt:
        raise StoreError(f"{path}: format {manifest.get('format')!r} is not {fmt!r}")
    if manifest.get("format_version") != version:
        raise StoreError(f"{path}: {what} version {manifest.get('format_version')} is not "
                         f"supported (this is version {version}); {remedy}")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a TIM store, checked for format and version."""
    return load_manifest(directory, fmt=FORMAT, version=FORMAT_VERSION, what="TIM store",
                         remedy="build one with 'twin tim build'")


def load_territory(directory: str | Path, *, layers: bool = True,
                   fields: Callable[[str], bool] | None = None) -> Territory:
    """Read a TIM store back; every field and layer is checked against its manifest hash.
    With ``fields``, only the fields it accepts (by name) are read: a command that needs two
    of a city's rasters does not decompress and hash the rest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        return _load_territory(directory, manifest, layers, fields)
    except TwinError:
        raise
    except KeyError as exc:
        raise StoreError(f"{directory / MANIFEST}: the manifest lacks the key {exc.args[0]!r} "
                         "(edited, or written by another version?); rebuild it with "
                         "'twin tim build'") from None
    except (TypeError, ValueError, AttributeError, IndexError, OSError) as exc:
        raise StoreError(f"{directory / MANIFEST}: malformed TIM store: "
                         f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _stored(directory: Path, relative: Any) -> Path:
    """A file the manifest names, which must lie inside the store (a crafted manifest must
    not make a reader open ``../../etc/passwd``)."""
    if not isinstance(relative, str):
        raise StoreError(f"{directory / MANIFEST}: a file entry must be a relative path, got "
                         f"{str(relative)[:80]!r}")
    path = directory / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(directory.resolve()):
        raise StoreError(f"{directory / MANIFEST}: {relative[:80]!r} lies outside the store")
    return path


def _load_territory(directory: Path, manifest: dict[str, Any], layers: bool,
                    wanted: Callable[[str], bool] | None = None) -> Territory:
    grid = Grid.from_dict(manifest["grid"])
    territory = Territory(grid=grid, classes=ClassTable.from_list(manifest["classes"]),
                          name=manifest["name"], vertical_datum=manifest["vertical_datum"],
                          history=[HistoryEntry.from_dict(h) for h in manifest["history"]],
                          plan=Plan(indicators=manifest["plan"]) if manifest.get("plan")
                          else None)
    class_fields = None
    for name, meta in manifest["fields"].items():
        if wanted is not None and not wanted(name):
            continue
        path = _stored(directory, meta["file"])
        if meta["location"] == "cell":
            values = _read_raster(path, grid)
        else:
            if class_fields is None:
                class_fields = json.loads((directory / "fields.json").read_text())
            values = np.asarray(class_fields[name], dtype=meta["dtype"])
        if array_hash(values) != meta["sha256"]:
            raise StoreError(f"{path}: field {name} does not match its manifest hash "
                             "(the file was changed or is corrupt)")
        territory.set_field(name, values)
    if layers:
        for name, frame in read_layers(directory, manifest).items():
            territory.add_layer(name, frame)
        _load_3d(territory, directory, manifest)
    return territory


def read_layers(directory: str | Path, manifest: dict[str, Any],
                names: Sequence[str] | None = None) -> dict[str, Any]:
    """The vector layers ``names`` (default all) of a TIM, from its GeoPackage or its PostGIS
    store, each checked against its manifest hash. The one reader of a TIM's layers."""
    directory = Path(directory)
    metas = {n: m for n, m in manifest["layers"].items() if names is None or n in names}
    frames = {name: _read_layer(_stored(directory, meta["file"]), name, meta)
              for name, meta in metas.items() if "store" not in meta}
    in_postgis = {n: m for n, m in metas.items() if "store" in m}
    if in_postgis:
        first = next(iter(in_postgis.values()))
        postgis = PostGISStore.from_url(f"{first['store']}?schema={first['schema']}")
        with postgis.transaction() as connection:
            for name, meta in in_postgis.items():
                frame = postgis.read_layer(connection, meta, meta["crs"])
                if frame_hash(frame) != meta["sha256"]:
                    raise StoreError(f"{postgis.url}: table {postgis.table(meta['table'])} "
                                     "does not match its manifest hash (changed in the "
                                     "database since the TIM was built)")
                frames[name] = frame
    return {name: frames[name] for name in metas}


def cloud_hash(cloud: Any) -> str:
    """sha256 of a point cloud's stored integers, scale, offset and classification."""
    h = hashlib.sha256(f"{cloud.scale}{cloud.offset}".encode())
    for values in (cloud.ints, cloud.classification):
        h.update(array_hash(values).encode())
    return h.hexdigest()


def mesh_hash(mesh: Any) -> str:
    """sha256 of a mesh's vertices, triangles, parts and part names."""
    h = hashlib.sha256("\n".join(mesh.part_names).encode())
    for values in (mesh.vertices, mesh.triangles.astype(np.int64), mesh.part.astype(np.int32)):
        h.update(array_hash(values).encode())
    return h.hexdigest()


def _save_3d(territory: Territory, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from tim.geometry3d import write_laz, write_ply

    clouds, meshes = {}, {}
    for name, cloud in sorted(territory.point_clouds.items()):
        (tmp / "pointclouds").mkdir(exist_ok=True)
        clouds[name] = {"file": f"pointclouds/{name}.laz", "crs": cloud.crs,
                        "count": len(cloud), "bounds": list(cloud.bounds),
                        "sha256": cloud_hash(cloud)}
        write_laz(tmp / clouds[name]["file"], cloud)
    for name, mesh in sorted(territory.meshes.items()):
        (tmp / "meshes").mkdir(exist_ok=True)
        meshes[name] = {"file": f"meshes/{name}.ply", "crs": mesh.crs,
                        "triangles": len(mesh), "parts": list(mesh.part_names),
                        "bounds": list(mesh.bounds), "sha256": mesh_hash(mesh)}
        write_ply(tmp / meshes[name]["file"], mesh)
    return clouds, meshes


def _load_3d(territory: Territory, directory: Path, manifest: dict[str, Any]) -> None:
    from tim.geometry3d import read_laz, read_ply

    for name, meta in manifest.get("point_clouds", {}).items():
        path = _stored(directory, meta["file"])
        try:
            cloud = read_laz(path, meta["crs"])
        except Exception as exc:  # laspy/lazrs raise several types for missing/corrupt files
            raise StoreError(f"{path}: cannot read point cloud {name!r}: {exc}") from exc
        if cloud_hash(cloud) != meta["sha256"]:
            raise StoreError(f"{path}: point cloud {name!r} does not match its manifest hash "
                             "(the file was changed or is corrupt)")
        territory.add_3d(name, cloud)
    for name, meta in manifest.get("meshes", {}).items():
        path = _stored(directory, meta["file"])
        try:
            mesh = read_ply(path, meta["crs"])
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: cannot read mesh {name!r}: {exc}") from exc
        if mesh_hash(mesh) != meta["sha256"]:
            raise StoreError(f"{path}: mesh {name!r} does not match its manifest hash "
                             "(the file was changed or is corrupt)")
        territory.add_3d(name, mesh)


def _read_raster(path: Path, grid: Grid) -> np.ndarray:
    import rasterio

    try:
        with rasterio.open(path) as src:
            values = src.read(1)
            if tuple(src.transform)[:6] != grid.transform or not crs_equal(src.crs, grid.crs):
                raise StoreError(f"{path}: raster grid does not match the manifest grid")
    except rasterio.errors.RasterioIOError as exc:
        raise StoreError(f"{path}: cannot read raster: {exc}") from exc
    return values


def _read_layer(path: Path, name: str, meta: dict[str, Any]) -> Any:
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, layer=name, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for missing/corrupt files
        raise StoreError(f"{path}: cannot read layer {name!r}: {exc}") from exc
    if frame_hash(frame) != meta["sha256"]:
        raise StoreError(f"{path}: layer {name!r} does not match its manifest hash "
                         "(the file was changed or is corrupt)")
    return frame


def _crs_wkt(crs: str) -> str:
    from pyproj import CRS

    return CRS.from_user_input(crs).to_wkt()
