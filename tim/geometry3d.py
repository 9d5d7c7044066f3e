"""3D data a territory carries besides grids and 2D layers: point clouds and triangle meshes.

Both are plain NumPy containers in the territory's projected CRS (importing this module needs only
NumPy); :func:`write_laz`/:func:`read_laz` and :func:`write_ply`/:func:`read_ply` store them in
formats other tools open (LAZ: CloudCompare, PDAL, QGIS; PLY: MeshLab, CloudCompare, Blender).

Precision. Point coordinates are kept as the LAS format keeps them, integers with a scale and an
offset, so a cloud reads back bit for bit. Mesh vertices are float64 in the projected CRS and the
PLY stores them as doubles: absolute coordinates (e.g. x = 85,000 m, y = 447,000 m in RD New)
would lose centimetres in float32, which is why a mesh is only moved to a local float32 frame
when it is tiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: LAS scale used when points are created from floating coordinates: millimetres.
POINT_SCALE = 0.001


@dataclass(frozen=True)
class PointCloud:
    """Points with their classification (ASPRS codes: 2 ground, 6 building, 9 water, ...).

    Attributes
    ----------
    ints : ndarray, (n, 3) int32
        Stored coordinates; ``xyz = ints * scale + offset``.
    scale, offset : tuple of 3 float
    classification : ndarray, (n,) uint8
    crs : str
        Horizontal CRS of x, y; z is in the territory's vertical datum.
    intensity : ndarray, (n,) uint16
    """

    ints: np.ndarray
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    classification: np.ndarray
    crs: str
    intensity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ints)

    @property
    def xyz(self) -> np.ndarray:
        """Coordinates as float64, shape (n, 3)."""
        return self.ints * np.asarray(self.scale) + np.asarray(self.offset)

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """(xmin, ymin, zmin, xmax, ymax, zmax)."""
        lo = self.ints.min(axis=0) * np.asarray(self.scale) + np.asarray(self.offset)
        hi = self.ints.max(axis=0) * np.asarray(self.scale) + np.asarray(self.offset)
        return (*(float(v) for v in lo), *(float(v) for v in hi))

    @classmethod
    def from_xyz(cls, xyz: np.ndarray, classification: np.ndarray, crs: str,
                 intensity: np.ndarray | None = None,
                 scale: float = POINT_SCALE) -> PointCloud:
        """Quantise float coordinates to ``scale`` (default 1 mm) around their minimum."""
        xyz = np.asarray(xyz, dtype=float)
        offset = np.floor(xyz.min(axis=0))
        ints = np.rint((xyz - offset) / scale)
        if ints.max() > np.iinfo(np.int32).max:
            raise ValueError(f"a point cloud {np.ptp(xyz, axis=0)} m across does not fit LAS "
                             f"int32 coordinates at a {scale} m scale")
        return cls(ints.astype(np.int32), (scale,) * 3, tuple(float(v) for v in offset),
                   np.asarray(classification, dtype=np.uint8), crs,
                   None if intensity is None else np.asarray(intensity, dtype=np.uint16))

    def subset(self, mask: np.ndarray) -> PointCloud:
        return PointCloud(self.ints[mask], self.scale, self.offset, self.classification[mask],
                          self.crs, None if self.intensity is None else self.intensity[mask])


@dataclass(frozen=True)
class TriangleMesh:
    """Triangles in named parts (e.g. the material groups of an OBJ: Building, Terrain, ...).

    Attributes
    ----------
    vertices : ndarray, (n, 3) float64
        In the projected CRS, z in the territory's vertical datum.
    triangles : ndarray, (m, 3) int64
    part : ndarray, (m,) int32
        Index into ``part_names`` of each triangle.
    part_names : tuple of str
    crs : str
    """

    vertices: np.ndarray
    triangles: np.ndarray
    part: np.ndarray
    part_names: tuple[str, ...]
    crs: str

    def __len__(self) -> int:
        return len(self.triangles)

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        used = self.vertices[np.unique(self.triangles)]
        lo, hi = used.min(axis=0), used.max(axis=0)
        return (*(float(v) for v in lo), *(float(v) for v in hi))


# -- storage ----------------------------------------------------------------------------------
def write_laz(path: Path, cloud: PointCloud) -> None:
    """Write a LAS 1.4 point format 6 LAZ with the CRS as a WKT VLR."""
    import laspy
    from pyproj import CRS

    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.asarray(cloud.scale)
    header.offsets = np.asarray(cloud.offset)
    header.add_crs(CRS.from_user_input(cloud.crs))
    las = laspy.LasData(header)
    las.X, las.Y, las.Z = cloud.ints[:, 0], cloud.ints[:, 1], cloud.ints[:, 2]
    las.classification = cloud.classification
    if cloud.intensity is not None:
        las.intensity = cloud.intensity
    las.write(str(path), laz_backend=laspy.LazBackend.Lazrs)


def read_laz(path: Path, crs: str) -> PointCloud:
    """Read back what :func:`write_laz` wrote (``crs`` comes from the manifest)."""
    import laspy

    las = laspy.read(str(path))
    ints = np.column_stack([las.X, las.Y, las.Z]).astype(np.int32)
    return PointCloud(ints, tuple(float(v) for v in las.header.scales),
                      tuple(float(v) for v in las.header.offsets),
                      np.asarray(las.classification, dtype=np.uint8), crs,
                      np.asarray(las.intensity, dtype=np.uint16))


_PLY_VERTEX = np.dtype([("x", "<f8"), ("y", "<f8"), ("z", "<f8")])
_PLY_FACE = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("part", "<i4")])


def write_ply(path: Path, mesh: TriangleMesh) -> None:
    """Binary little-endian PLY: double vertices, triangle faces with an int ``part`` property;
    part names go in ``comment part <index> <name>`` header lines."""
    vertices = np.empty(len(mesh.vertices), dtype=_PLY_VERTEX)
    vertices["x"], vertices["y"], vertices["z"] = mesh.vertices.T
    faces = np.empty(len(mesh.triangles), dtype=_PLY_FACE)
    faces["n"], faces["v"], faces["part"] = 3, mesh.triangles, mesh.part
    header = ["ply", "format binary_little_endian 1.0", "comment territory-twin mesh"]
    header += [f"comment part {i} {name}" for i, name in enumerate(mesh.part_names)]
    header += [f"element vertex {len(vertices)}", "property double x", "property double y",
               "property double z", f"element face {len(faces)}",
               "property list uchar int vertex_indices", "property int part", "end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(vertices.tobytes())
        fh.write(faces.tobytes())


def read_ply(path: Path, crs: str) -> TriangleMesh:
    """Read a PLY written by :func:`write_ply`."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    counts = {ln.split()[1]: int(ln.split()[2]) for ln in lines if ln.startswith("element ")}
    names = [ln.split(" ", 3)[3] for ln in lines if ln.startswith("comment part ")]
    vertices = np.frombuffer(data, _PLY_VERTEX, counts["vertex"], end)
    faces = np.frombuffer(data, _PLY_FACE, counts["face"], end + vertices.nbytes)
    return TriangleMesh(np.column_stack([vertices["x"], vertices["y"], vertices["z"]]),
                        faces["v"].astype(np.int64), faces["part"].astype(np.int32),
                        tuple(names), crs)
