"""Tiling policy: a point quadtree that groups features into leaves of bounded size.

Pure NumPy, so the policy can be tested and tuned without writing any tile.

Rules
-----
* A node with at most ``max_per_leaf`` points is a leaf.
* Otherwise its square is split into four quadrants at the centre; empty quadrants are dropped.
* A split that leaves all points in one quadrant creates no level: the node shrinks to that
  quadrant and tries again, so every parent has at least two children and every level of the
  hierarchy means something.
* Points that cannot be separated (identical coordinates, or a square smaller than
  :data:`MIN_SIDE`) are cut, in input order, into leaves of ``max_per_leaf``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Below this square side (CRS units) points count as coincident and are chunked instead.
MIN_SIDE = 1e-6


@dataclass(frozen=True)
class QuadNode:
    """A node of the quadtree.

    Attributes
    ----------
    address : str
        Path from the root: one digit 0-3 per split (0 SW, 1 SE, 2 NW, 3 NE), ``k<i>`` for the
        i-th chunk of inseparable points; ``""`` for the root.
    members : ndarray of int64
        Indices of the points under this node, ascending.
    children : tuple of QuadNode
        Empty for a leaf.
    """

    address: str
    members: np.ndarray
    children: tuple[QuadNode, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def leaves(self) -> list[QuadNode]:
        """Leaves under this node, depth first."""
        if self.is_leaf:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def nodes(self) -> list[QuadNode]:
        """This node and every node under it, parents before children."""
        return [self] + [n for child in self.children for n in child.nodes()]


def quadtree(x: np.ndarray, y: np.ndarray, max_per_leaf: int) -> QuadNode:
    """Quadtree over points with at most ``max_per_leaf`` points per leaf.

    Parameters
    ----------
    x, y : ndarray
        Point coordinates (e.g. footprint centroids).
    max_per_leaf : int
        Largest number of points a leaf may hold (>= 1).

    Returns
    -------
    QuadNode
        The root; every point is in exactly one leaf.

    Examples
    --------
    >>> root = quadtree(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0, 1.0]), 2)
    >>> [(leaf.address, leaf.members.tolist()) for leaf in root.leaves()]
    [('0', [0]), ('1', [1]), ('2', [2]), ('3', [3])]
    """
    if max_per_leaf < 1:
        raise ValueError(f"max_per_leaf must be at least 1, not {max_per_leaf}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("x and y must be non-empty 1-D arrays of the same length")
    side = max(float(np.ptp(x)), float(np.ptp(y)))
    # A touch larger than the extent so points on the max edge fall inside the square.
    side = side * (1 + 1e-9) + MIN_SIDE
    return _node("", np.arange(len(x)), x, y, float(x.min()), float(y.min()), side,
                 max_per_leaf)


def _node(address: str, members: np.ndarray, x: np.ndarray, y: np.ndarray, x0: float,
          y0: float, side: float, max_per_leaf: int) -> QuadNode:
    if len(members) <= max_per_leaf:
        return QuadNode(address, members)
    while side >= MIN_SIDE:
        half = side / 2
        quadrant = ((x[members] >= x0 + half).astype(np.int64)
                    + 2 * (y[members] >= y0 + half).astype(np.int64))
        occupied = np.unique(quadrant)
        if len(occupied) > 1:
            children = tuple(
                _node(address + str(q), members[quadrant == q], x, y,
                      x0 + half * (q & 1), y0 + half * (q >> 1), half, max_per_leaf)
                for q in occupied.tolist())
            return QuadNode(address, members, children)
        q = int(occupied[0])
        x0, y0, side = x0 + half * (q & 1), y0 + half * (q >> 1), half
    chunks = np.array_split(members, -(-len(members) // max_per_leaf))
    return QuadNode(address, members,
                    tuple(QuadNode(f"{address}k{i}", chunk) for i, chunk in enumerate(chunks)))
