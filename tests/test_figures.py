"""The dashboard's pure figure builders (viz.figures), the drape resampling (viz.cesium) and the
card formatting (viz.layout), without a server or a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tim.classes import DEFAULT_CLASSES
from tim.model import ClassTable, Grid, LandUseClass
from viz.figures import (FLOOD_RAMP, SeriesSpec, class_colorscale, decimate,
                         indicator_timeline, land_use_figure, land_use_rgba, ramp_colours,
                         ramp_gradient, run_colour, use_colours)

# A 4 x 3 grid of 25 m cells whose north-west corner is at (510000, 2710000), in the CGCS2000
# Gauss-Kruger zone of the sample territory.
GRID = Grid("EPSG:4548", (25.0, 0.0, 510000.0, 0.0, -25.0, 2710000.0), (4, 3))
TWO = ClassTable((LandUseClass(1, "Cropland", "#ff0000", "farmland", True),
                  LandUseClass(4, "Built-up", "#0000ff", "built", False)))


def _colour_at(scale: list[list], fraction: float) -> str:
    """The colour a stepped plotly colorscale gives at ``fraction`` (inside a band)."""
    for (lo, colour), (hi, _) in zip(scale[::2], scale[1::2]):
        if lo <= fraction < hi:
            return colour
    raise AssertionError(f"{fraction} outside the colorscale")


# -- decimate ------------------------------------------------------------------------------
def test_decimate_keeps_small_grids_and_strides_large_ones():
    values = np.arange(12).reshape(4, 3)
    same, step = decimate(values, 4)
    assert step == 1 and same is not None and np.array_equal(same, values)
    # 10 cells a side, at most 4 kept: stride ceil(10 / 4) = 3 keeps rows/cols 0, 3, 6, 9.
    sub, step = decimate(np.arange(100).reshape(10, 10), 4)
    assert step == 3
    assert np.array_equal(sub[:, 0], [0, 30, 60, 90])
    with pytest.raises(ValueError):
        decimate(values, 0)


# -- class colours ---------------------------------------------------------------------------
def test_class_colorscale_paints_each_code_in_its_colour():
    scale, zmin, zmax = class_colorscale(TWO)
    # Codes 1..4 span four bands of width 1/4 between zmin = 0.5 and zmax = 4.5; code c sits
    # at (c - zmin) / (zmax - zmin), the middle of its band.
    assert (zmin, zmax) == (0.5, 4.5)
    fraction = lambda code: (code - zmin) / (zmax - zmin)  # noqa: E731
    assert _colour_at(scale, fraction(1)) == "#ff0000"
    assert _colour_at(scale, fraction(4)) == "#0000ff"
    assert _colour_at(scale, fraction(2)) == "#ffffff"  # unused codes are blank
    assert scale[0][0] == 0.0 and scale[-1][0] == 1.0


def test_class_colorscale_of_the_default_table():
    scale, zmin, zmax = class_colorscale(DEFAULT_CLASSES)
    for c in DEFAULT_CLASSES:
        assert _colour_at(scale, (c.code - zmin) / (zmax - zmin)) == c.colour


# -- land-use map ----------------------------------------------------------------------------
def _pixels(trace) -> np.ndarray:
    """The RGBA pixels of an image trace's PNG (its ``source``), first row first."""
    import base64
    import io

    from PIL import Image

    head, data = trace.source.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA"))


def test_land_use_figure_is_north_up_with_a_legend_of_class_names():
    land_use = np.array([[4, 4, 4], [1, 1, 1], [1, 1, 1], [1, 1, 255]], dtype=np.uint8)
    fig = land_use_figure(land_use, GRID, TWO, title="Land use 2030")
    image = fig.data[0]
    pixels = _pixels(image)
    # The image's first row is drawn at y0, upwards: the southern row 3 first, and the
    # northernmost row (built-up, row 0) last, at the top.
    assert pixels.shape == (4, 3, 4)
    assert (pixels[-1, :, :3] == [0, 0, 255]).all() and (pixels[1, :, :3] == [255, 0, 0]).all()
    # Cell centres in km: the southern row's centre is half a cell (12.5 m) above the
    # bottom edge, the first column's half a cell east of the west edge.
    assert image.y0 == pytest.approx((2710000.0 - 3.5 * 25.0) / 1000) and image.dy > 0
    assert image.x0 == pytest.approx((510000.0 + 12.5) / 1000)
    assert pixels[0, 2, 3] == 0  # nodata stays blank
    assert [t.name for t in fig.data[1:]] == ["Cropland", "Built-up"]
    assert [t.marker.color for t in fig.data[1:]] == ["#ff0000", "#0000ff"]
    assert fig.layout.title.text == "Land use 2030"
    assert fig.layout.yaxis.scaleanchor == "x"  # equal scale: cells stay square
    assert fig.layout.yaxis.autorange is True  # not plotly's "reversed" for images


def test_land_use_figure_draws_only_flooded_cells():
    land_use = np.ones(GRID.shape, dtype=np.uint8)
    depth = np.zeros(GRID.shape, dtype=np.float32)
    depth[3, 0] = 1.5
    depth[2, 0] = np.nan
    fig = land_use_figure(land_use, GRID, TWO, title="t", water_depth=depth)
    flood = [t for t in fig.data if t.name == "flood depth"]
    assert len(flood) == 1
    z = np.asarray(flood[0].z, dtype=float)
    assert np.nansum(z) == 1.5 and np.isfinite(z).sum() == 1
    # Row 3 (southernmost) is drawn first after the north-up flip; only the flooded rows and
    # columns are sent (the one cell here), at that cell's centre.
    assert z[0, 0] == 1.5 and z.shape == (1, 1)
    assert list(flood[0].x) == pytest.approx([510.0125])
    assert list(flood[0].y) == pytest.approx([(2710000.0 - 3.5 * 25.0) / 1000])
    dry = land_use_figure(land_use, GRID, TWO, title="t", water_depth=np.zeros(GRID.shape))
    assert all(t.name != "flood depth" for t in dry.data)


def test_land_use_figure_rejects_a_grid_mismatch():
    with pytest.raises(ValueError, match="not on the grid"):
        land_use_figure(np.ones((2, 2), np.uint8), GRID, TWO, title="t")


def test_land_use_figure_decimates_large_grids():
    grid = Grid("EPSG:4548", (25.0, 0.0, 510000.0, 0.0, -25.0, 2710000.0), (1000, 800))
    fig = land_use_figure(np.ones(grid.shape, np.uint8), grid, TWO, title="t", max_cells=250)
    # Stride ceil(1000 / 250) = 4: 250 rows and 200 columns reach the browser, each pixel
    # 4 cells (100 m) wide, the lowest centred half a pixel above the grid's southern edge.
    image = fig.data[0]
    assert _pixels(image).shape == (250, 200, 4)
    assert image.dx == pytest.approx(0.1) and image.dy == pytest.approx(0.1)
    assert image.y0 == pytest.approx((2710000.0 - 1000 * 25.0 + 50.0) / 1000)


# -- colours and images ----------------------------------------------------------------------
def test_ramp_colours_interpolates_between_stops():
    ramp = ((0.0, "#000000"), (0.5, "#ff0000"), (1.0, "#ffffff"))
    rgb = ramp_colours(np.array([-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0]), ramp)
    assert rgb.tolist() == [[0, 0, 0], [0, 0, 0], [128, 0, 0], [255, 0, 0], [255, 128, 128],
                            [255, 255, 255], [255, 255, 255]]


def test_land_use_rgba_colours_classes_nodata_and_flood():
    land_use = np.array([[1, 4], [255, 1]], dtype=np.uint8)
    depth = np.array([[0.0, 0.0], [0.0, 2.0]])
    img = land_use_rgba(land_use, TWO, water_depth=depth)
    assert img[0, 0].tolist() == [255, 0, 0, 255]
    assert img[0, 1].tolist() == [0, 0, 255, 255]
    assert img[1, 0, 3] == 0
    # The only wet cell holds the largest depth: the end of the flood ramp.
    assert img[1, 1, :3].tolist() == ramp_colours(np.array([1.0]), FLOOD_RAMP)[0].tolist()
    # Lightening by 0.5 moves each channel half-way to white: 0 -> 128 (rounded), 255 stays.
    light = land_use_rgba(land_use, TWO, lighten=0.5)
    assert light[0, 0, :3].tolist() == [255, 128, 128]


def test_drape_image_covers_the_grid_footprint_in_degrees():
    from viz.cesium import drape_image, drape_rectangle

    grid = Grid("EPSG:4548", (25.0, 0.0, 510000.0, 0.0, -25.0, 2710000.0), (40, 40))
    rgba = land_use_rgba(np.full(grid.shape, 1, np.uint8), TWO)
    image = drape_image(rgba, grid)
    west, south, east, north = drape_rectangle(grid)
    # The 1 km square lies near 117.1 E, 24.5 N: about 0.01 degrees a side.
    assert 117.0 < west < east < 117.3 and 24.4 < south < north < 24.6
    assert 0.008 < east - west < 0.012 and 0.008 < north - south < 0.011
    # Resampled, not stretched: the centre is covered, in the class colour.
    h, w = image.shape[:2]
    assert image[h // 2, w // 2].tolist() == [255, 0, 0, 255]
    assert (image[..., 3] == 255).mean() > 0.95


# -- timeline --------------------------------------------------------------------------------
def test_indicator_timeline_one_line_per_run_and_panel():
    years = [2025, 2026, 2027]
    rows = [{"run": run, "year": y, "indicator": key, "value": float(i + k + y - 2025)}
            for i, run in enumerate(["base", "growth"])
            for k, key in enumerate(["population", "per_capita"]) for y in years]
    panels = [SeriesSpec("population", "Population", "persons"),
              SeriesSpec("per_capita", "Land per capita", "m2/person", green=(65.0, 115.0)),
              ]
    fig = indicator_timeline(pd.DataFrame(rows), panels, ["base", "growth"], year=2026,
                             highlight="growth")
    assert len(fig.data) == 4  # 2 runs x 2 panels
    growth = [t for t in fig.data if t.name == "growth"]
    assert list(growth[1].y) == [2.0, 3.0, 4.0]  # run 1, panel 1: 1 + 1 + (year - 2025)
    assert all(t.line.width == 3 for t in growth)
    assert fig.data[0].line.color == run_colour(0)
    assert sum(t.showlegend for t in fig.data) == 2
    shapes = fig.layout.shapes
    # The green band of the second panel, its two bounds and the year line.
    assert any(s.type == "rect" and s.y0 == 65.0 and s.y1 == 115.0 for s in shapes)
    assert any(s.type == "line" and s.x0 == 2026 and s.x1 == 2026 for s in shapes)
    assert [a.text for a in fig.layout.annotations] == ["Population (persons)",
                                                        "Land per capita (m2/person)"]


def test_ramp_gradient_and_use_colours():
    assert ramp_gradient(((0.0, "#000000"), (0.5, "#ff0000"), (1.0, "#ffffff"))) == (
        "linear-gradient(to right, #000000 0%, #ff0000 50%, #ffffff 100%)")
    colours = use_colours(["residential", "port", "harbour"])
    assert colours["residential"] == "#ffb74d"
    assert len(set(colours.values())) == 3  # unknown uses get distinct spare colours


# -- card text -------------------------------------------------------------------------------
@pytest.mark.parametrize("value, unit, text", [
    (48390.0, "persons", "48,390"), (908.0, "buildings", "908"), (346.9375, "ha", "346.9"),
    (71.696115, "m2/person", "71.7"), (0.0, "%", "0.0"), (12345.6, "ha", "12,346")])
def test_format_value(value, unit, text):
    from viz.layout import format_value

    assert format_value(value, unit) == text


@pytest.mark.parametrize("delta, unit, text", [
    (908.0, "buildings", "+908"), (-2.25, "ha", "\u22122.2"), (0.0, "ha", "\u00b10"),
    (0.01, "ha", "\u00b10"), (-1500.4, "persons", "\u22121,500")])
def test_format_delta(delta, unit, text):
    from viz.layout import format_delta

    assert format_delta(delta, unit) == text


# -- timeline bands ----------------------------------------------------------------------------
def test_indicator_timeline_draws_a_band_behind_the_runs_that_have_one():
    years = [2025, 2026, 2027]
    rows = [{"run": run, "year": y, "indicator": "p", "value": float(y - 2020)}
            for run in ("base", "growth") for y in years]
    bands = pd.DataFrame({"run": "growth", "year": years, "indicator": "p",
                          "lo": [4.0, 5.5, 6.0], "hi": [6.0, 6.5, 8.0],
                          "name": "growth: 5-95 % of 4 seeds"})
    fig = indicator_timeline(pd.DataFrame(rows), [SeriesSpec("p", "Pop", "persons"),
                                                  SeriesSpec("q", "Other", "ha")],
                             ["base", "growth"], bands=bands, columns=1)
    filled = [t for t in fig.data if t.fill == "tonexty"]
    (band,) = filled  # only panel p has band rows, only growth has a band
    assert list(band.y) == [6.0, 6.5, 8.0] and list(band.customdata) == [4.0, 5.5, 6.0]
    lower = fig.data[list(fig.data).index(band) - 1]  # the band fills down to its lower edge
    assert list(lower.y) == [4.0, 5.5, 6.0] and lower.showlegend is False
    assert band.fillcolor == "rgba(239, 108, 0, 0.2)"  # run colour 1, translucent
    assert band.name == "growth: 5-95 % of 4 seeds" and band.showlegend
    # columns=1: two panels stacked.
    assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0]


def test_ensemble_timeline_median_in_a_p10_p90_band():
    from viz.figures import ensemble_timeline

    iv = pd.DataFrame({"year": [2025, 2026, 2027], "indicator": "p",
                       "p05": [1.0, 2.0, 3.0], "p10": [1.2, 2.2, 3.2], "p50": [1.5, 2.5, 3.5],
                       "p90": [1.8, 2.8, 3.8], "p95": [2.0, 3.0, 4.0],
                       "min": [0.5, 1.5, 2.5], "max": [2.5, 3.5, 4.5]})
    fig = ensemble_timeline(iv, [SeriesSpec("p", "Pop", "persons")], label="e",
                            colour="#ef6c00", year=2026, band_name="{lo}–{hi} %",
                            median_name="中位数")
    by_name = {}
    for t in fig.data:
        by_name.setdefault(t.name, []).append(t)
    assert set(by_name) == {"10–90 %", "中位数"}
    inner, (median,) = by_name["10–90 %"], by_name["中位数"]
    assert [list(t.y) for t in inner] == [[1.2, 2.2, 3.2], [1.8, 2.8, 3.8]]
    assert inner[1].fill == "tonexty" and inner[1].meta == "band"
    assert list(median.y) == [1.5, 2.5, 3.5] and median.meta == "median"
    assert any(s.type == "line" and s.x0 == 2026 for s in fig.layout.shapes)
    # an ensemble written before P10/P90 existed: its 5-95 % band, said so
    old = ensemble_timeline(iv.drop(columns=["p10", "p90"]), [SeriesSpec("p", "Pop", "")],
                            label="e", colour="#ef6c00")
    assert old.data[1].name == "P5–P95" and list(old.data[1].y) == [2.0, 3.0, 4.0]


# -- analysis maps (viz.maps) ------------------------------------------------------------------
def test_built_difference_and_its_map():
    from viz.maps import (DIFF_BOTH, DIFF_COLOURS, DIFF_ONLY_A, DIFF_ONLY_B, built_difference,
                          difference_figure)

    a = np.array([[4, 4, 1], [1, 4, 1], [1, 1, 1], [4, 1, 1]], dtype=np.uint8)
    b = np.array([[4, 1, 4], [1, 4, 1], [4, 4, 1], [1, 1, 1]], dtype=np.uint8)
    d = built_difference(a, b, TWO, GRID)
    expected = np.where((a == 4) & (b == 4), DIFF_BOTH,
                        np.where(a == 4, DIFF_ONLY_A, np.where(b == 4, DIFF_ONLY_B, 0)))
    assert np.array_equal(d.codes, expected)
    # 25 m cells: 0.0625 ha each; A alone has 2 cells, B alone 3, both 2.
    assert (d.only_a_cells, d.only_b_cells) == (2, 3)
    assert (d.only_a_ha, d.only_b_ha, d.both_ha) == (0.125, 0.1875, 0.125)
    fig = difference_figure(d, GRID, ("base", "growth"), 2030, colours=("#111111", "#222222"))
    pixels = _pixels([t for t in fig.data if t.type == "image"][0])
    # North up: the southern row 3 comes first - its first cell built in A only, the rest in
    # neither (blank); the northern row 0 last - both, A only, B only.
    assert pixels[0, 0].tolist() == [0x11, 0x11, 0x11, 255] and (pixels[0, 1:, 3] == 0).all()
    both = [int(DIFF_COLOURS[DIFF_BOTH][i:i + 2], 16) for i in (1, 3, 5)]
    assert pixels[-1, :, :3].tolist() == [both, [0x11] * 3, [0x22] * 3]
    names = [t.name for t in fig.data if t.type == "scatter"]
    assert names == ["built up in both: 0 ha", "only in A: 0.1 ha", "only in B: 0.2 ha"]
    with pytest.raises(ValueError, match="not on the grid"):
        built_difference(a[:2], b, TWO, GRID)


def test_continuous_rgba_blends_over_the_backdrop():
    from viz.maps import continuous_rgba

    values = np.array([[0.0, 1.0], [np.nan, 0.5]])
    backdrop = np.full((2, 2, 4), 200, dtype=np.uint8)
    ramp = ((0.0, "#000000"), (1.0, "#ffffff"))
    img = continuous_rgba(values, ramp, 0.0, 1.0, backdrop=backdrop, opacity=0.5)
    # Half the ramp colour, half the backdrop's 200: 0 -> 100, 255 -> 227.5 -> 228.
    assert img[0, 0, :3].tolist() == [100] * 3 and img[0, 1, :3].tolist() == [228] * 3
    assert img[1, 0].tolist() == [200] * 4  # no value: the backdrop as it was
    skipped = continuous_rgba(values, ramp, 0.0, 1.0, skip=values <= 0)
    assert skipped[0, 0, 3] == 0 and skipped[0, 1, 3] == 255


def test_raster_figure_is_north_up_over_its_backdrop():
    from viz.maps import raster_figure

    values = np.arange(12, dtype=np.float32).reshape(GRID.shape)
    backdrop = np.zeros(GRID.shape + (4,), np.uint8)
    backdrop[0] = [255, 0, 0, 255]  # the northern row in red
    fig = raster_figure(values, GRID, title="t", ramp=((0.0, "#000"), (1.0, "#fff")),
                        vmin=0.0, vmax=11.0, colorbar="m", hover="%{z}", backdrop=backdrop)
    image, heat = fig.data[0], fig.data[1]
    z = np.asarray(heat.z, dtype=float)
    assert z[-1].tolist() == [0.0, 1.0, 2.0]  # the last row drawn (top) is row 0 (north)
    assert np.asarray(heat.y)[-1] > np.asarray(heat.y)[0]
    assert _pixels(image)[-1][0].tolist() == [255, 0, 0, 255]
    # The image's first row is the southern one, at the lowest cell centre (km).
    assert image.y0 == pytest.approx((2710000.0 - 3.5 * 25.0) / 1000.0)
    assert fig.layout.yaxis.autorange is True  # not plotly's "reversed" for images
    with pytest.raises(ValueError, match="not on the grid"):
        raster_figure(values[:2], GRID, title="t", ramp=((0.0, "#000"), (1.0, "#fff")),
                      vmin=0.0, vmax=1.0, colorbar="m", hover="%{z}")


def test_outlines_and_markers_are_in_kilometres():
    from viz.maps import marker_traces, outline_traces

    (line,) = outline_traces([("wedge", np.array([[510000.0, 2700000.0],
                                                  [511500.0, 2701000.0]]), "#000", "dash")])
    assert list(line.x) == [510.0, 511.5] and list(line.y) == [2700.0, 2701.0]
    assert line.line.dash == "dash"
    (mark,) = marker_traces([("Viewpoint", 512000.0, 2705000.0, "#00f", "circle")])
    assert (mark.x[0], mark.y[0], mark.text[0]) == (512.0, 2705.0, "Viewpoint")


def test_memo_keeps_the_latest_values_and_their_owners():
    from viz.figures import Memo

    memo, built = Memo(2), []

    def build(value):
        return lambda: built.append(value) or value

    owner = object()
    assert memo.get(("a", id(owner)), build(1), owner) == 1
    assert memo._items[("a", id(owner))][1] is owner  # held while its entry lives
    assert memo.get(("a", id(owner)), build(99)) == 1  # kept: not built again
    memo.get("b", build(2))
    memo.get(("a", id(owner)), build(99))  # used: "b" is now the oldest
    memo.get("c", build(3))
    assert len(memo) == 2 and built == [1, 2, 3]
    assert memo.get("b", build(4)) == 4  # dropped, built again
