"""Connected-component labelling: cells of equal non-zero value that touch form one patch.

Two passes over the grid with a union-find forest (Wu, Otoo & Suzuki 2009, "Optimizing
two-pass connected-component labeling algorithms"): the first pass gives each cell the label of
an already visited neighbour of the same value (west, north-west, north, north-east) and merges
the labels it joins; the second resolves every label to its root. The root of a set is its
smallest provisional label, created at the set's first cell in raster order, so the final labels
are numbered in the raster order of each patch's first cell - the numbering of
``scipy.ndimage.label`` on a binary mask (the tests check both on the same masks).

Unlike ``scipy.ndimage.label``, the input may hold many values (e.g. a from/to transition code
per changed cell): touching cells of *different* values stay apart, so one pass labels the
patches of every transition at once.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit


@jit
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression keeps later finds short
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@jit
def _union(parent: np.ndarray, a: int, b: int) -> int:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra < rb:
        parent[rb] = ra
        return ra
    parent[ra] = rb
    return rb


@jit
def _label(values: np.ndarray, diagonal: bool) -> tuple[np.ndarray, int]:
    rows, cols = values.shape
    labels = np.zeros((rows, cols), dtype=np.int32)
    parent = np.zeros(rows * cols + 1, dtype=np.int32)
    nxt = 1
    for r in range(rows):
        for c in range(cols):
            v = values[r, c]
            if v == 0:
                continue
            lab = 0
            # visited neighbours: W, then the row above (NW, N, NE)
            if c > 0 and values[r, c - 1] == v:
                lab = labels[r, c - 1]
            if r > 0:
                for dc in range(-1, 2):
                    if dc != 0 and not diagonal:
                        continue
                    cc = c + dc
                    if 0 <= cc < cols and values[r - 1, cc] == v:
                        other = labels[r - 1, cc]
                        lab = other if lab == 0 else _union(parent, lab, other)
            if lab == 0:
                parent[nxt] = nxt
                lab = nxt
                nxt += 1
            labels[r, c] = lab
    # roots are the smallest label of their set: numbering them in order numbers the patches
    # in the raster order of their first cell
    final = np.zeros(nxt, dtype=np.int32)
    count = 0
    for lab in range(1, nxt):
        root = _find(parent, lab)
        if root == lab:
            count += 1
            final[lab] = count
        else:
            final[lab] = final[root]
    for r in range(rows):
        for c in range(cols):
            labels[r, c] = final[labels[r, c]]
    return labels, count


@jit
def _patch_stats(labels: np.ndarray, count: int, masks: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = labels.shape
    n_masks = masks.shape[0]
    cells = np.zeros(count + 1, dtype=np.int64)
    row_sum = np.zeros(count + 1, dtype=np.float64)
    col_sum = np.zeros(count + 1, dtype=np.float64)
    first = np.full(count + 1, -1, dtype=np.int64)
    inside = np.zeros((count + 1, n_masks), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            lab = labels[r, c]
            if lab == 0:
                continue
            cells[lab] += 1
            row_sum[lab] += r
            col_sum[lab] += c
            if first[lab] < 0:
                first[lab] = r * cols + c
            for k in range(n_masks):
                if masks[k, r, c] != 0:
                    inside[lab, k] += 1
    return cells, row_sum, col_sum, first, inside


def label(values: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label the patches of equal non-zero value.

    Parameters
    ----------
    values : ndarray (rows, cols) of integers or bools
        0 is background; touching cells of the same non-zero value form one patch.
    connectivity : {4, 8}
        Whether diagonal neighbours touch (8, the default for land-use patches) or not (4).

    Returns
    -------
    labels : ndarray of int32
        0 on background, 1..count on the patches, numbered in the raster order of their first
        cell.
    count : int

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 2], [0, 0, 2, 2], [3, 0, 0, 0]])
    >>> lab, n = label(a)
    >>> n, lab.tolist()
    (3, [[1, 1, 0, 2], [0, 0, 2, 2], [3, 0, 0, 0]])
    >>> label(np.eye(3, dtype=bool), connectivity=4)[1]
    3
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    values = np.ascontiguousarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D, got shape {values.shape}")
    if values.dtype == bool:
        values = values.view(np.uint8)
    if values.dtype.kind not in "iu":
        raise ValueError(f"values must be integers or bools, got {values.dtype}")
    labels, count = _label(values, connectivity == 8)
    return labels, int(count)


def patch_stats(labels: np.ndarray, count: int, masks: np.ndarray | None = None) -> dict:
    """Per patch 1..count (index 0 is the background): cells, mean row and column, the flat
    index of its first cell (raster order) and how many of its cells lie in each of ``masks``
    (k, rows, cols), in one pass.

    Examples
    --------
    >>> lab = np.array([[1, 1, 0], [0, 0, 2]], dtype=np.int32)
    >>> s = patch_stats(lab, 2, np.array([[[1, 0, 0], [0, 0, 1]]], dtype=np.uint8))
    >>> s["cells"].tolist(), s["col"].tolist(), s["first"].tolist(), s["inside"][:, 0].tolist()
    ([2, 1], [0.5, 2.0], [0, 5], [1, 1])
    """
    if masks is None:
        masks = np.zeros((0,) + labels.shape, dtype=np.uint8)
    masks = np.ascontiguousarray(masks)
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    cells, rsum, csum, first, inside = _patch_stats(np.ascontiguousarray(labels, np.int32),
                                                    int(count), masks)
    n = np.maximum(cells[1:], 1)
    return {"cells": cells[1:], "row": rsum[1:] / n, "col": csum[1:] / n, "first": first[1:],
            "inside": inside[1:]}
