"""Buffers around control lines (``land_use.protect_buffers``): no cell within the width of a
protected line becomes built-up; outside it conversion is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from engine.landuse import CAParams
from engine.landuse_config import LandUseConfig, LandUsePolicy
from engine.process import Clock
from engine.processes.land_use import LandUseChange, buffer_zone, territory_model
from scenarios.schema import LandUse, land_use_config, load_scenario
from tim.errors import InputError
from tim.classes import DEFAULT_CLASSES
from tim.model import Grid, Territory

CROP, BUILT = 1, 7
CELL = 10.0


def _strip(rows: int = 12, cols: int = 12, line_cols: int = 2) -> Territory:
    """Cropland everywhere, one built cell in the far corner, the red line on the first
    ``line_cols`` columns."""
    t = Territory(Grid("EPSG:32650", (CELL, 0, 0, 0, -CELL, rows * CELL), (rows, cols)),
                  DEFAULT_CLASSES)
    lu = np.full((rows, cols), CROP, np.uint8)
    lu[-1, -1] = BUILT
    red = np.zeros((rows, cols), np.uint8)
    red[:, :line_cols] = 1
    t.set_field("land_use__class", lu)
    t.set_field("land_use__suitability", np.ones((rows, cols), np.float32))
    t.set_field("control__ecological_red_line", red)
    t.set_field("control__permanent_basic_farmland", np.zeros((rows, cols), np.uint8))
    return t


def _config(buffer_m: float | None) -> LandUseConfig:
    lines = ("control__ecological_red_line",)
    buffers = () if buffer_m is None else (("control__ecological_red_line", buffer_m),)
    return LandUseConfig(CAParams(neighbourhood_size=3),
                         LandUsePolicy(hard_constraints=lines, buffers=buffers))


@pytest.mark.parametrize("k", [1, 3])
def test_no_built_up_within_k_cells_of_the_line_and_all_of_it_outside(k):
    """Red line on columns 0-1, a buffer of k cells: columns 2 .. 1+k stay cropland; demand
    for every other cell plus 2 is met outside exactly, the 2 are a shortfall."""
    t = _strip()
    before = t.get("land_use__class").copy()
    first_free = 2 + k
    outside = before[:, first_free:] == CROP
    demand = np.zeros(len(t.classes), np.int64)
    demand[t.classes.index_of(BUILT)] = int(outside.sum()) + 2
    t.set_field("land_use__demand", demand)
    report = LandUseChange(t, _config(k * CELL)).run_one_step(Clock(0, 2026, 5))
    after = t.get("land_use__class")
    assert (after[:, :first_free] == CROP).all()  # line and buffer: nothing built
    assert (after[:, first_free:] == BUILT).all()  # outside: all of it converted
    assert report.values["shortfall_7"] == 2


def test_without_a_buffer_the_cells_next_to_the_line_are_built():
    t = _strip()
    demand = np.zeros(len(t.classes), np.int64)
    demand[t.classes.index_of(BUILT)] = int((t.get("land_use__class") == CROP).sum()) - 24
    t.set_field("land_use__demand", demand)
    LandUseChange(t, _config(None)).run_one_step(Clock(0, 2026, 5))
    assert (t.get("land_use__class")[:, 2:] == BUILT).all()


def test_a_zero_buffer_is_no_buffer():
    t = _strip()
    none, zero = territory_model(t, _config(None)), territory_model(t, _config(0.0))
    assert np.array_equal(none.constraints.forbid, zero.constraints.forbid)
    wide = territory_model(t, _config(3 * CELL)).constraints.forbid
    assert not np.array_equal(none.constraints.forbid, wide)


def test_buffer_zone_is_the_euclidean_distance_on_non_square_cells():
    """Against a brute-force distance between cell centres (cells 20 m wide, 10 m high)."""
    line = np.zeros((9, 7), bool)
    line[4, 3] = line[0, 0] = True
    width, (w, h) = 25.0, (20.0, 10.0)
    rows, cols = np.indices(line.shape)
    lr, lc = np.nonzero(line)
    d = np.sqrt(((rows[..., None] - lr) * h) ** 2 + ((cols[..., None] - lc) * w) ** 2).min(-1)
    assert np.array_equal(buffer_zone(line, width, (w, h)), d <= width)
    assert not buffer_zone(np.zeros((3, 3), bool), 100.0, (w, h)).any()


def test_the_policy_refuses_a_buffer_of_an_unprotected_line_or_a_bad_width():
    with pytest.raises(InputError, match="protect the line too"):
        LandUsePolicy(hard_constraints=(), buffers=(("control__ecological_red_line", 50.0),))
    for width in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="finite number of metres"):
            LandUsePolicy(buffers=(("control__ecological_red_line", width),))


@pytest.mark.parametrize("value, pattern", [
    ("{ecological_red_line: -10}", r"protect_buffers\.ecological_red_line: .*greater than or "
                                   r"equal to 0 \(got -10\)"),
    ("{ecological_red_line: .nan}", r"protect_buffers\.ecological_red_line: .*finite"),
    ("{ecological_red_line: .inf}", r"protect_buffers\.ecological_red_line: .*finite"),
    ("{ecological_red_line: 6000}", r"protect_buffers\.ecological_red_line: .*less than or "
                                    r"equal to 5000"),
    ("{green_belt: 100}", r"protect_buffers\.green_belt.*'ecological_red_line'.*"
                          r"\(got 'green_belt'\)"),
])
def test_bad_buffers_name_file_and_field(tmp_path, value, pattern):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: x\ntitle: t\nland_use: {{protect_buffers: {value}}}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: land_use\." + pattern):
        load_scenario(path)


def test_a_buffer_of_an_unprotected_line_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntitle: t\nland_use: {protect: [permanent_basic_farmland], "
                    "protect_buffers: {ecological_red_line: 100}}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: land_use: protect_buffers: "
                                         r"ecological_red_line not in protect"):
        load_scenario(path)


def test_the_buffer_maps_onto_the_policy():
    policy = land_use_config(LandUse(protect_buffers={"ecological_red_line": 200})).policy
    assert policy.buffers == (("control__ecological_red_line", 200.0),)
    assert land_use_config(LandUse()).policy.buffers == ()
