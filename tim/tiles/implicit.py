"""Implicit tiling (3D Tiles 1.1): a quadtree of buildings described by subtree files, not by a
tile per building group in ``tileset.json``.

Policy
------
* **Square.** The root box is a square (local east/north) around every vertex, from the
  lowest to the highest vertex; a tile at level ``L``, column ``x``, row ``y`` is the
  ``(x, y)``-th of the ``2^L x 2^L`` squares it divides into (full height), as 3D Tiles
  implicit tiling defines it for a box.
* **Loose quadtree** (:func:`loose_quadtree`). Every building lies wholly inside its tile:
  starting from the root, a tile holding more than ``max_per_tile`` buildings passes each
  building that fits in one of its four quarters down to that quarter and keeps those that
  straddle a dividing line (they are few: a line crosses a city's buildings once). So
  parents can have content too; refinement is ``ADD`` and every content lies inside its
  tile's box, with no per-tile bounding volumes to store.
* **Errors.** The root's is its box diagonal (the error of showing nothing), halved per level
  as implicit tiling defines it.
* **Subtrees.** ``subtree_levels`` levels per subtree file (``subtrees/{level}/{x}/{y}.subtree``,
  binary, availability as bitstreams in Morton order, a constant where uniform); content at
  ``content/{level}/{x}/{y}.glb``.
"""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Deepest level a tile may have (a 1 km city: 1.5 cm squares); buildings that still cannot be
#: separated stay together there.
MAX_LEVEL = 16
#: Levels per subtree file.
SUBTREE_LEVELS = 4
CONTENT_TEMPLATE = "content/{level}/{x}/{y}.glb"
SUBTREE_TEMPLATE = "subtrees/{level}/{x}/{y}.subtree"

Key = tuple[int, int, int]  # level, x, y


@dataclass(frozen=True)
class Square:
    """The root square (local east/north metres) and the vertical range of the tree."""

    x0: float
    y0: float
    side: float
    z0: float
    z1: float

    def box(self) -> list[float]:
        """The root's 3D Tiles box (centre, half-axes along east, north, up)."""
        half = self.side / 2
        hz = max((self.z1 - self.z0) / 2, 0.005)
        return [self.x0 + half, self.y0 + half, (self.z0 + self.z1) / 2,
                half, 0.0, 0.0, 0.0, half, 0.0, 0.0, 0.0, hz]

    def tile_bounds(self, key: Key) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of tile ``key``."""
        level, x, y = key
        size = self.side / 2 ** level
        return (np.array([self.x0 + x * size, self.y0 + y * size, self.z0]),
                np.array([self.x0 + (x + 1) * size, self.y0 + (y + 1) * size, self.z1]))


def square_around(lower: np.ndarray, upper: np.ndarray, margin: float = 0.01) -> Square:
    """The smallest square (plus ``margin`` metres around) holding every box [lower, upper]."""
    lo, hi = lower.min(axis=0), upper.max(axis=0)
    side = float(max(hi[0] - lo[0], hi[1] - lo[1])) + 2 * margin
    return Square(float(lo[0]) - margin, float(lo[1]) - margin, side, float(lo[2]),
                  float(hi[2]))


def loose_quadtree(lower: np.ndarray, upper: np.ndarray, square: Square, max_per_tile: int,
                   max_level: int = MAX_LEVEL) -> dict[Key, np.ndarray]:
    """The members (row indices, ascending) of every tile with content (module doc).

    Examples
    --------
    >>> lower = np.array([[0.0, 0, 0], [60, 0, 0], [45, 45, 0]])
    >>> upper = lower + [10.0, 10, 5]
    >>> tiles = loose_quadtree(lower, upper, Square(0.0, 0.0, 100.0, 0.0, 5.0), 1)
    >>> {k: v.tolist() for k, v in sorted(tiles.items())}
    {(0, 0, 0): [2], (1, 0, 0): [0], (1, 1, 0): [1]}
    """
    if max_per_tile < 1:
        raise ValueError(f"max_per_tile must be at least 1, not {max_per_tile}")
    tiles: dict[Key, np.ndarray] = {}
    stack: list[tuple[Key, np.ndarray]] = [((0, 0, 0), np.arange(len(lower)))]
    while stack:
        (level, x, y), members = stack.pop()
        if len(members) <= max_per_tile or level >= max_level:
            tiles[(level, x, y)] = members
            continue
        size = square.side / 2 ** (level + 1)

        def cell(values: np.ndarray, origin: float, first: int) -> np.ndarray:
            return np.clip(np.floor((values - origin) / size).astype(np.int64), first,
                           first + 1)

        lo_x = cell(lower[members, 0], square.x0, 2 * x)
        hi_x = cell(upper[members, 0], square.x0, 2 * x)
        lo_y = cell(lower[members, 1], square.y0, 2 * y)
        hi_y = cell(upper[members, 1], square.y0, 2 * y)
        fits = (lo_x == hi_x) & (lo_y == hi_y)
        if not fits.any():
            tiles[(level, x, y)] = members
            continue
        if not fits.all():
            tiles[(level, x, y)] = members[~fits]
        quarter = (lo_x[fits] - 2 * x) + 2 * (lo_y[fits] - 2 * y)
        moving = members[fits]
        for q in np.unique(quarter).tolist():
            stack.append(((level + 1, 2 * x + (q & 1), 2 * y + (q >> 1)), moving[quarter == q]))
    return tiles


def available(content: set[Key]) -> set[Key]:
    """Every tile with content and all their ancestors (implicit tiling requires a tile's
    parent to be available)."""
    out: set[Key] = set()
    for level, x, y in content:
        while (level, x, y) not in out:
            out.add((level, x, y))
            if level == 0:
                break
            level, x, y = level - 1, x >> 1, y >> 1
    return out


def morton(x: int, y: int) -> int:
    """Z-order index of (x, y): x's bits at even, y's at odd positions.

    >>> [morton(x, y) for y in (0, 1) for x in (0, 1)], morton(3, 5)
    ([0, 1, 2, 3], 39)
    """
    out = 0
    for bit in range(32):
        out |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return out


def subtrees(tiles: set[Key], content: set[Key], subtree_levels: int) -> dict[Key, bytes]:
    """The subtree files (by their root tile) describing ``tiles`` (available) and
    ``content`` (tiles with content)."""
    per_subtree: dict[Key, dict[str, set[int]]] = defaultdict(
        lambda: {"tiles": set(), "content": set(), "children": set()})
    for level, x, y in tiles:
        base = (level // subtree_levels) * subtree_levels
        local = level - base
        root = (base, x >> local, y >> local)
        index = (4 ** local - 1) // 3 + morton(x - (root[1] << local), y - (root[2] << local))
        per_subtree[root]["tiles"].add(index)
        if (level, x, y) in content:
            per_subtree[root]["content"].add(index)
        if local == 0 and level > 0:  # the root of a child subtree: mark it in its parent
            parent = (level - subtree_levels, x >> subtree_levels, y >> subtree_levels)
            per_subtree[parent]["children"].add(
                morton(x - (parent[1] << subtree_levels), y - (parent[2] << subtree_levels)))
    n_tiles = (4 ** subtree_levels - 1) // 3
    n_children = 4 ** subtree_levels
    return {root: subtree_file(bits["tiles"], bits["content"], bits["children"], n_tiles,
                               n_children) for root, bits in per_subtree.items()}


def subtree_file(tiles: set[int], content: set[int], children: set[int], n_tiles: int,
                 n_children: int) -> bytes:
    """One binary subtree (``subt`` v1): JSON then the bitstreams, each 8-byte aligned."""
    binary = bytearray()
    views: list[dict[str, int]] = []

    def availability(bits: set[int], count: int) -> dict[str, int]:
        if not bits:
            return {"constant": 0}
        if len(bits) == count:
            return {"constant": 1}
        stream = np.zeros(-(-count // 8), dtype=np.uint8)
        for i in bits:
            stream[i >> 3] |= 1 << (i & 7)
        binary.extend(b"\0" * ((-len(binary)) % 8))
        views.append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(stream)})
        binary.extend(stream.tobytes())
        return {"bitstream": len(views) - 1, "availableCount": len(bits)}

    data: dict[str, Any] = {
        "tileAvailability": availability(tiles, n_tiles),
        "contentAvailability": [availability(content, n_tiles)],
        "childSubtreeAvailability": availability(children, n_children)}
    binary.extend(b"\0" * ((-len(binary)) % 8))
    if views:
        data = {"buffers": [{"byteLength": len(binary)}], "bufferViews": views, **data}
    text = json.dumps(data, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<4sIQQ", b"subt", 1, len(text), len(binary)) + text + bytes(binary)


def read_subtree(data: bytes) -> dict[str, Any]:
    """A subtree file's JSON with each availability as a set of indices (``None``: all),
    the reader the tests and :func:`subtree_file` share.

    Examples
    --------
    >>> sub = read_subtree(subtree_file({0, 1, 3}, {3}, set(), 5, 16))
    >>> sub["tileAvailability"], sub["contentAvailability"][0], sub["childSubtreeAvailability"]
    ({0, 1, 3}, {3}, set())
    """
    magic, version, json_length, binary_length = struct.unpack("<4sIQQ", data[:24])
    if magic != b"subt" or version != 1:
        raise ValueError(f"not a subtree v1 (magic {magic!r}, version {version})")
    if 24 + json_length + binary_length != len(data):
        raise ValueError("subtree lengths do not add up to the file size")
    header = json.loads(data[24:24 + json_length])
    binary = data[24 + json_length:]
    views = header.get("bufferViews", [])

    def bits(spec: dict[str, int]) -> set[int] | None:
        if "constant" in spec:
            return None if spec["constant"] == 1 else set()
        view = views[spec["bitstream"]]
        raw = np.frombuffer(binary, np.uint8, view["byteLength"], view["byteOffset"])
        return set(np.flatnonzero(np.unpackbits(raw, bitorder="little")).tolist())

    out = dict(header)
    out["tileAvailability"] = bits(header["tileAvailability"])
    out["contentAvailability"] = [bits(c) for c in header["contentAvailability"]]
    out["childSubtreeAvailability"] = bits(header["childSubtreeAvailability"])
    return out
