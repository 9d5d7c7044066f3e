"""Sightlines: the raster walk against a brute-force reference, hand-built scenes with known
answers for both methods (raster DSM, exact ray-mesh), and bad input."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.sightlines import SURFACE, Point, raster_sightlines
from engine.kernels.raycast import clearances, crossings
from scenarios.planning.sightlines import BuildingScene
from tim.errors import InputError
from tim.model import Grid
from tim.tiles.buildings import extrude_footprints


def reference_crossings(surface, eye, target):
    """Clip the segment to every cell's square (Liang-Barsky) and keep the cells whose interior
    it crosses, except those where it starts or ends; excess as in the kernel's contract."""
    (u0, v0, z0), (u1, v1, z1) = eye, target
    du, dv = u1 - u0, v1 - v0
    rows, cols = surface.shape
    out = []
    for r in range(rows):
        for c in range(cols):
            lo, hi = 0.0, 1.0
            for p, q in ((-du, u0 - c), (du, c + 1 - u0), (-dv, v0 - r), (dv, r + 1 - v0)):
                if p == 0:
                    if q < 0:
                        lo, hi = 1.0, 0.0
                else:
                    t = q / p
                    lo, hi = (max(lo, t), hi) if p < 0 else (lo, min(hi, t))
            if hi - lo <= 1e-9:
                continue
            mid_u, mid_v = u0 + du * (lo + hi) / 2, v0 + dv * (lo + hi) / 2
            if not (c < mid_u < c + 1 and r < mid_v < r + 1):
                continue  # along an edge: touches, does not cross
            if lo <= 1e-9 or hi >= 1 - 1e-9:
                continue  # the eye's and the target's cells
            low = min(z0 + (z1 - z0) * lo, z0 + (z1 - z0) * hi)
            out.append((r * cols + c, lo, hi, surface[r, c] - low))
    return sorted(out, key=lambda x: x[1])


# On cell edges and corners (halves) or well off them (micrometres): near-degenerate values
# such as 12 - 2e-16 are edge-or-not by rounding, for any implementation.
coordinate = st.one_of(st.floats(0.0, 12.0).map(lambda x: round(x, 6)),
                       st.integers(0, 24).map(lambda k: k / 2))


@settings(max_examples=150, deadline=None)
@given(st.tuples(coordinate, coordinate, coordinate, coordinate), st.integers(0, 2 ** 32 - 1))
def test_the_walk_matches_brute_force_clipping(ends, seed):
    u0, v0, u1, v1 = ends
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 10, (12, 12))
    eye, target = (u0, v0, rng.uniform(0, 12)), (u1, v1, rng.uniform(0, 12))
    expected = reference_crossings(z, eye, target)
    cells, t_in, t_out, excess = crossings(z, eye, target)
    assert cells.tolist() == [e[0] for e in expected]
    np.testing.assert_allclose(t_in, [e[1] for e in expected], atol=1e-9)
    np.testing.assert_allclose(t_out, [e[2] for e in expected], atol=1e-9)
    np.testing.assert_allclose(excess, [e[3] for e in expected], atol=1e-9)
    if len(expected):
        clear, worst, n = clearances(z, eye, np.array([target]), tolerance=0.0)
        assert clear[0] == pytest.approx(-max(e[3] for e in expected))
        assert n[0] == sum(e[3] > 0 for e in expected)


def test_many_rays_give_the_same_answers_with_any_thread_count():
    rng = np.random.default_rng(5)
    z = rng.uniform(0, 20, (80, 90))
    targets = np.column_stack([rng.uniform(0, 90, 500), rng.uniform(0, 80, 500),
                               rng.uniform(0, 30, 500)])
    threads = numba.get_num_threads()
    results = []
    try:
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            results.append(clearances(z, (45.2, 40.7, 22.0), targets))
    finally:
        numba.set_num_threads(threads)
    for got in results:
        for a, b in zip(got, results[0]):
            np.testing.assert_array_equal(a, b)
    for k in range(0, 500, 50):  # and the batch agrees with single walks
        excess = crossings(z, (45.2, 40.7, 22.0), tuple(targets[k]))[3]
        assert results[0][0][k] == (-excess.max() if len(excess) else np.inf)


# --- hand-built scenes: 1 m cells, ground at 0, the line along y = 0.5 (mid-row) ---------
GRID = Grid("EPSG:28992", (1.0, 0.0, -10.0, 0.0, -1.0, 30.0), (60, 140))


def scene(boxes):
    """Boxes (x0, y0, x1, y1, height) on flat ground: a DSM with labels, and their meshes."""
    z = np.zeros(GRID.shape)
    labels = np.full(GRID.shape, SURFACE)
    for k, (x0, y0, x1, y1, h) in enumerate(boxes):
        rows = slice(int(30 - y1), int(30 - y0))
        cols = slice(int(x0 + 10), int(x1 + 10))
        z[rows, cols] = h
        labels[rows, cols] = k
    footprints = np.array([shapely.box(*b[:4]) for b in boxes])
    mesh = extrude_footprints(footprints, np.zeros(len(boxes)), np.array([b[4] for b in boxes]))
    meshes = BuildingScene.from_triangles(mesh.positions, mesh.triangles,
                                          mesh.triangle_building,
                                          [f"b{k}" for k in range(len(boxes))])
    return z, labels, meshes


def both_methods(boxes, viewpoint, targets, target_labels=None):
    z, labels, meshes = scene(boxes)
    raster = raster_sightlines(z, GRID, viewpoint, targets, labels=labels,
                               target_labels=target_labels)
    mesh = meshes.sightlines(viewpoint, targets, target_labels=target_labels)
    # With or without Embree's first pass, the same blockers.
    exhaustive = meshes.sightlines(viewpoint, targets, target_labels=target_labels,
                                   use_embree=False)
    assert exhaustive == mesh
    return raster, mesh


EYE = Point(0.0, 0.5, 1.6)


def test_a_box_between_two_points_must_come_down_to_the_eye_line():
    # A level line at 1.6 m through a 10 m box: lower it by 10 - 1.6 = 8.4 m.
    (line,), (blockers,) = both_methods([(40, -10, 60, 10, 10.0)], EYE, [Point(100, 0.5, 1.6)])
    assert not line.visible and line.clearance == pytest.approx(-8.4)
    for found in (line.blockers, blockers):
        (b,) = found
        assert b.label == 0 and b.lower_by == pytest.approx(8.4)
        assert 40 <= b.distance <= 60


def test_a_rising_line_is_lowest_at_the_near_face():
    # z = 1.6 + 0.1 x: over the box (x 40..60) the line is lowest at x = 40, z = 5.6, so an
    # 8 m box must lose 2.4 m; an 5.6 m one just touches and a 5.65 m one blocks by 5 cm.
    target = Point(100, 0.5, 11.6)
    for height, blocked in ((8.0, 2.4), (5.6, None), (5.65, 0.05)):
        (line,), (blockers,) = both_methods([(40, -10, 60, 10, height)], EYE, [target])
        assert line.visible == (blocked is None)
        assert (len(blockers) == 0) == (blocked is None)
        if blocked is not None:
            assert line.blockers[0].lower_by == pytest.approx(blocked)
            assert blockers[0].lower_by == pytest.approx(blocked, abs=1e-6)


def test_a_tower_just_touching_the_line_does_not_block():
    # Above: the tower's top meets the line at its near edge. Beside: the line runs along the
    # tower's face (y = 0.5 is not a cell edge, so the face is put there: cells y 0.5..).
    target = Point(100, 0.5, 11.6)
    (line,), (blockers,) = both_methods([(30, -5, 40, 5, 4.6)], EYE, [target])
    assert line.visible and not blockers and line.clearance == pytest.approx(0.0, abs=1e-9)
    beside = [(30, 1, 40, 11, 50.0)]
    (line,), (blockers,) = both_methods(beside, Point(0, 1.0, 1.6), [Point(100, 1.0, 1.6)])
    assert line.visible and not blockers


def test_two_blockers_lowered_by_their_amounts_free_the_view():
    boxes = [(20, -3, 25, 3, 12.0), (70, -3, 80, 3, 7.0)]
    target = Point(110, 0.5, 1.6 + 0.05 * 110)  # z = 1.6 + 0.05 x
    (line,), (blockers,) = both_methods(boxes, EYE, [target])
    expected = [12.0 - (1.6 + 0.05 * 20), 7.0 - (1.6 + 0.05 * 70)]
    for found in (line.blockers, blockers):
        assert [b.label for b in found] == [0, 1]  # in order along the line
        np.testing.assert_allclose([b.lower_by for b in found], expected, atol=1e-6)
    lowered = [(*b[:4], b[4] - e) for b, e in zip(boxes, expected)]
    (line,), (blockers,) = both_methods(lowered, EYE, [target])
    assert line.visible and not blockers


def test_a_building_between_neighbours_sharing_its_walls_is_found():
    # Row houses: the middle one's walls coincide with its neighbours'; a multi-hit ray query
    # sees one face per shared wall and can lose it. The plane sections do not.
    boxes = [(20, -5, 40, 5, 10.0), (40, -5, 60, 5, 12.0), (60, -5, 80, 5, 9.0)]
    (line,), (blockers,) = both_methods(boxes, EYE, [Point(100, 0.5, 1.6)])
    for found in (line.blockers, blockers):
        assert [b.label for b in found] == [0, 1, 2]
        np.testing.assert_allclose([b.lower_by for b in found], [8.4, 10.4, 7.4], atol=1e-9)


def test_a_landmark_does_not_hide_its_own_top():
    # Target on the roof of box 1; box 0 stands in front but below the line.
    boxes = [(20, -3, 25, 3, 2.0), (80, -10, 100, 10, 30.0)]
    target = Point(90, 0.5, 30.0)
    (line,), (blockers,) = both_methods(boxes, EYE, [target], target_labels=[1])
    assert line.visible and not blockers
    (line,), (blockers,) = both_methods(boxes, EYE, [target])
    assert [b.label for b in line.blockers] == [1] and [b.label for b in blockers] == [1]


@pytest.mark.parametrize("viewpoint, targets, kw, message", [
    (Point(-20, 0, 1.6), [Point(50, 0, 1.6)], {}, "viewpoint lies outside"),
    (EYE, [Point(50, 0, 1.6), Point(500, 0, 1.6)], {}, "target 2 lies outside"),
    (Point(0, 0, -1.0), [Point(50, 0, 1.6)], {}, "viewpoint is underground"),
    (EYE, [Point(0, 0.5, 30.0)], {}, "straight above or below the viewpoint"),
    (EYE, [Point(-5, 0.5, 1.6)], {"facing": 90.0, "field_of_view": 120.0},
     "target is behind the viewpoint"),
    (EYE, [], {}, "no targets"),
])
def test_bad_points_are_named(viewpoint, targets, kw, message):
    z = np.zeros(GRID.shape)
    with pytest.raises(InputError, match=message):
        raster_sightlines(z, GRID, viewpoint, targets, ground=z, **kw)
