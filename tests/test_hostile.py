"""Hostile input over every reader and command: each case must end in a clean error (exit
status 2 or :class:`~tim.errors.TwinError`, the file and the field named, one line, no
traceback) or in a correct result (finite values within their documented ranges).

The corpus is generated here: hypothesis mutates scenario values, command-line numbers and CSV
cells; crafted files cover YAML bombs and encodings, rasters, LAS headers, CityJSON indices and
TIM manifests. Most cases run in-process (the library or ``viz.cli.main``); a sample runs as
``python -m viz.cli`` in a subprocess under a memory limit (RLIMIT_AS) and a timeout.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tim.errors import InputError, StoreError, TwinError

REPO = Path(__file__).resolve().parents[1]
def fast(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
#: The 406-byte "billion laughs": nine levels of nine aliases, 9**9 strings once expanded.
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi")))


def twin(argv: list[str], capsys) -> tuple[int, str]:
    """``twin ARGV`` in-process: (exit status, stderr). An exception other than the CLI's
    own clean exits escapes and fails the test (that is a traceback for the user)."""
    from viz.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def assert_clean(code: int, err: str, *names: str) -> None:
    """Exit status 2 with one error line naming each of ``names``."""
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert len(lines[0]) < 1000


def finite_leaves(value, path="") -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in finite_leaves(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [x for i, v in enumerate(value) for x in finite_leaves(v, f"{path}.{i}")]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [(path, float(value))]
    return []


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tim_dir(sample_territory, tmp_path_factory) -> Path:
    from tim.store import save_territory

    out = tmp_path_factory.mktemp("hostile") / "tim"
    save_territory(sample_territory, out)
    return out


def _surge_scenario() -> dict:
    from scenarios.schema import load_scenario

    return load_scenario("surge-100y").to_dict()


SCENARIO = None


def scenario_dict() -> dict:
    global SCENARIO
    if SCENARIO is None:
        SCENARIO = _surge_scenario()
    return json.loads(json.dumps(SCENARIO))


def numeric_paths(value, path=()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numeric_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in numeric_paths(v, (*path, i))]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [path]
    return []


HOSTILE_NUMBER = st.one_of(
    st.floats(), st.integers(-2**80, 2**80),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 3e38, 0, -1, 1e-300,
                     2**63, "1e400", ".nan", "ten", "", None, True, [1, 2], {"a": 1}]),
    st.text(max_size=12))


# -- scenarios (hypothesis): 300 cases ----------------------------------------------------------
@fast(300)
@given(data=st.data())
def test_scenario_values_are_refused_or_finite_and_in_range(tmp_path_factory, data):
    from scenarios.schema import load_scenario

    raw = scenario_dict()
    paths = numeric_paths(raw)
    path = data.draw(st.sampled_from(paths))
    value = data.draw(HOSTILE_NUMBER)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    raw.pop("extends", None)
    folder = tmp_path_factory.mktemp("scn", numbered=True)
    file = folder / "s.yaml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True))
    try:
        scenario = load_scenario(file)
    except InputError as exc:
        assert exc.source == str(file)
        assert exc.field and str(exc.field).split(".")[0] == str(path[0]), (exc.field, path)
        assert len(str(exc)) < 600
        return
    for where, number in finite_leaves(scenario.to_dict()):
        assert math.isfinite(number), where


SCENARIO_TRAPS = {
    "nan hurdle": {"development": {"hurdles": [float("nan")]}},
    "inf price": {"households": {"initial_price_m2": float("inf")}},
    "nan price coefficient": {"households": {"price_by_income": [float("nan"), -1, -0.5]}},
    "huge migration": {"population": {"migration_by_year": {2026: 1_000_000_000}}},
    "tiny cfl": {"surge": {"engine": "inertial", "water_level": 3.5,
                           "solver": {"cfl": 1e-9}}},
    "tiny max_dt": {"surge": {"engine": "inertial", "water_level": 3.5,
                              "solver": {"max_dt_s": 1e-7}}},
    "endless hydrograph": {"surge": {"engine": "inertial", "hydrograph": {
        "time_h": [0, 1_000_000], "level_m": [0, 3]}}},
    "nan manning": {"surge": {"water_level": 3, "manning": {"built": float("nan")}}},
    "inf peak level": {"surge": {"return_period": 100, "peak_levels": {100: float("inf")}}},
}


@pytest.mark.parametrize("name", sorted(SCENARIO_TRAPS))
def test_reported_scenario_traps_are_refused_naming_the_key(tim_dir, tmp_path, capsys, name):
    raw = {"extends": "baseline", "name": "trap", "title": "t", **SCENARIO_TRAPS[name]}
    file = tmp_path / "trap.yaml"
    file.write_text(yaml.safe_dump(raw))
    code, err = twin(["run", file, "--tim", tim_dir, "--out", tmp_path / "run"], capsys)
    key = next(iter(SCENARIO_TRAPS[name]))
    assert_clean(code, err, str(file), key)
    assert not (tmp_path / "run").exists()


# -- YAML files: bombs, encodings, types, over every YAML reader: 8 x 8 cases --------------------
YAML_CORPUS = {
    "alias bomb": BOMB.encode(),
    "alias bomb in household sizes": (BOMB + "name: x\ntitle: t\npopulation:\n"
                                      "  household_sizes: *i\n").encode(),
    "self-referencing alias": b"a: &a [1, *a]\n",
    "latin-1": "name: caf\xe9\ntitle: t\n".encode("latin-1"),
    "utf-16": "name: x\ntitle: t\n".encode("utf-16"),
    "binary": bytes(range(256)) * 8,
    "python object tag": b"name: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "deep nesting": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "not a mapping": b"- 1\n- 2\n",
    "too large": b"# " + b"x" * (5 * 1024 * 1024) + b"\nname: x\n",
}


def _yaml_commands(tim_dir: Path, file: Path, out: Path) -> dict[str, list]:
    return {
        "run": ["run", file, "--tim", tim_dir, "--out", out],
        "ensemble": ["ensemble", file, "--tim", tim_dir, "--out", out, "--serial"],
        "tim build --catalog": ["tim", "build", "--catalog", file, "--out", out],
        "heights --rules": ["heights", tim_dir, "--rules", file, "--out", out],
        "simulate --params": ["simulate", "--start", file, "--start-year", 2000, "--params",
                              file, "--demand", file, "--out", out / "x.tif"],
    }


@pytest.mark.parametrize("case", sorted(YAML_CORPUS))
@pytest.mark.parametrize("command", ["run", "ensemble", "tim build --catalog", "heights --rules",
                                     "simulate --params"])
def test_crafted_yaml_files_give_one_clean_line(tim_dir, tmp_path, capsys, case, command):
    file = tmp_path / "input.yaml"
    file.write_bytes(YAML_CORPUS[case])
    argv = _yaml_commands(tim_dir, file, tmp_path / "out")[command]
    code, err = twin(argv, capsys)
    assert_clean(code, err)
    assert str(file) in err or str(file.name) in err
    assert not Path("/tmp/pwned").exists()
    assert not (tmp_path / "out").exists()


def test_an_error_quotes_a_value_briefly(tmp_path):
    from scenarios.schema import load_scenario

    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump({"name": "x", "title": "t",
                                    "population": {"household_sizes": ["z" * 10**6]}}))
    with pytest.raises(InputError) as info:
        load_scenario(file)
    assert len(str(info.value)) < 400


# -- command-line numbers (hypothesis): 400 cases -----------------------------------------------
CLI_OPTIONS = [
    (["run", "s", "--tim", "t", "--out", "o"], "--seed"),
    (["ensemble", "s", "--tim", "t", "--out", "o"], "--seed"),
    (["ensemble", "s", "--tim", "t", "--out", "o"], "--members"),
    (["ensemble", "s", "--tim", "t", "--out", "o"], "--workers"),
    (["tim", "build", "d.tif", "--out", "o"], "--cell-size"),
    (["tim", "build", "d.tif", "--out", "o"], "--storey-height"),
    (["tiles", "t", "--out", "o"], "--geoid-height"),
    (["tiles", "t", "--out", "o"], "--jobs"),
    (["calibrate", "--map", "1=a", "--out", "o"], "--samples"),
    (["calibrate", "--map", "1=a", "--out", "o"], "--maxiter"),
    (["calibrate", "--map", "1=a", "--out", "o"], "--popsize"),
    (["calibrate", "--map", "1=a", "--out", "o"], "--seed"),
    (["simulate", "--start", "a", "--start-year", "2000", "--params", "p", "--demand", "d",
      "--out", "o"], "--tolerance"),
    (["simulate", "--start", "a", "--params", "p", "--demand", "d", "--out", "o"],
     "--start-year"),
    (["serve"], "--port"),
    (["heights", "t"], "--top"),
    (["sightline", "t", "--from", "1,2"], "--facing"),
    (["sightline", "t", "--from", "1,2"], "--fov"),
    (["sightline", "t", "--from", "1,2"], "--from-height"),
    (["viewshed", "t", "--out", "o.tif"], "--max-distance"),
    (["viewshed", "t", "--out", "o.tif"], "--height"),
    (["viewshed", "t", "--out", "o.tif"], "--refraction"),
]
NUMBER_TEXT = st.one_of(
    st.floats().map(repr), st.integers(-2**70, 2**70).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0", "-0", "-1", "1_000", "0x10", " 5",
                     "4294967296", str(2**70), "1e-320", ""]),
    st.text(max_size=8))


@fast(400)
@given(case=st.sampled_from(CLI_OPTIONS), text=NUMBER_TEXT)
def test_command_line_numbers_are_finite_and_in_range(case, text):
    import contextlib
    import io

    from viz.cli import build_parser

    prefix, option = case
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args([*prefix, f"{option}={text}"])
    except SystemExit as exc:
        assert exc.code == 2
        assert f"argument {option}" in err.getvalue()
        assert "Traceback" not in err.getvalue()
        return
    value = getattr(args, option.lstrip("-").replace("-", "_"))
    assert math.isfinite(value)
    if option == "--seed":
        assert 0 <= value < 2**32
    if option in ("--cell-size", "--max-distance", "--fov", "--tolerance"):
        assert value > 0


# -- CSV tables (hypothesis): 200 cases ---------------------------------------------------------
CELL = st.one_of(st.floats().map(repr), st.integers(-2**70, 2**70).map(str),
                 st.sampled_from(["", "nan", "inf", "x", "1e400", '"', "1,5", "-1", "ten"]),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6))


@fast(120)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL, CELL), min_size=1, max_size=4),
       header=st.sampled_from(["year,1,2,3", "year,zone,1,2", "1,2,3", "year", "year,1,1"]))
def test_malformed_demand_tables(tmp_path_factory, rows, header):
    from scenarios.calibration.data import read_demand

    file = tmp_path_factory.mktemp("demand", numbered=True) / "demand.csv"
    width = len(header.split(","))
    file.write_text(header + "\n" + "\n".join(",".join(r[:width]) for r in rows) + "\n")
    try:
        table = read_demand(file, [1, 2, 3], n_regions=1)
    except InputError as exc:
        assert exc.source == str(file) and len(str(exc)) < 600
        return
    assert np.isfinite(table.targets).all() and (table.targets >= 0).all()


@fast(80)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=4))
def test_malformed_target_tables(tmp_path_factory, rows):
    from scenarios.planning.views import read_points

    file = tmp_path_factory.mktemp("targets", numbered=True) / "targets.csv"
    file.write_text("x,y,z\n" + "\n".join(",".join(r) for r in rows) + "\n")
    try:
        points = read_points(file, "target")
    except InputError as exc:
        assert exc.source == str(file) and exc.field in ("x", "y", "z", None)
        return
    for x, y, z, h in points:
        assert math.isfinite(x) and math.isfinite(y)
        assert z is None or math.isfinite(z)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00y", "year,1\n2000,caf\xe9\n".encode(
    "latin-1"), b"year,1\n2000,1\n2001", b"year,1\n\"unclosed\n", b"\x00" * 100])
def test_unreadable_csv_files(tmp_path, content):
    from scenarios.calibration.data import read_demand

    file = tmp_path / "d.csv"
    file.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_demand(file, [1], n_regions=1)
    assert info.value.source == str(file)


def test_a_text_z_in_targets_is_refused(tim_dir, tmp_path, capsys):
    file = tmp_path / "targets.csv"
    file.write_text("x,y,z\n500100,3400100,high\n")
    t = _sample_point(tim_dir)
    code, err = twin(["sightline", tim_dir, "--from", f"{t[0]},{t[1]}", "--targets", file],
                     capsys)
    assert_clean(code, err, str(file), "z", "row 2")


def _sample_point(tim_dir: Path) -> tuple[float, float]:
    from tim.store import read_manifest

    grid = read_manifest(tim_dir)["grid"]
    transform = grid["transform"]
    rows, cols = grid["shape"]
    return (transform[2] + transform[0] * cols / 2, transform[5] + transform[4] * rows / 2)


# -- rasters: 10 cases --------------------------------------------------------------------------
def _write_tif(path: Path, values: np.ndarray, nodata=None, origin=(500000.0, 3400000.0),
               crs="EPSG:4548") -> Path:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0],
                       width=values.shape[1], count=1, dtype=values.dtype, crs=crs,
                       transform=from_origin(origin[0], origin[1], 25, 25),
                       nodata=nodata) as dst:
        dst.write(values, 1)
    return path


RASTERS = {
    "all nan": (np.full((8, 8), np.nan, np.float32), None),
    "all nodata": (np.full((8, 8), -9999, np.float32), -9999),
    "plus infinity": (np.where(np.eye(8) > 0, np.inf, 5).astype(np.float32), None),
    "minus infinity": (np.where(np.eye(8) > 0, -np.inf, 5).astype(np.float32), None),
    "3e38 metres": (np.where(np.eye(8) > 0, 3e38, 5).astype(np.float32), None),
    "-32768 undeclared": (np.where(np.eye(8) > 0, -32768, 5).astype(np.int16), None),
}


@pytest.mark.parametrize("case", sorted(RASTERS))
def test_impossible_elevation_rasters(tmp_path, capsys, case):
    values, nodata = RASTERS[case]
    dem = _write_tif(tmp_path / "dem.tif", values, nodata)
    code, err = twin(["tim", "build", dem, "--out", tmp_path / "tim"], capsys)
    assert_clean(code, err, str(dem), "terrain__elevation")
    assert not (tmp_path / "tim").exists()


@pytest.mark.parametrize("population, field", [
    (np.full((8, 8), -3.0, np.float32), "population__count"),
    (np.where(np.eye(8) > 0, np.nan, 2).astype(np.float32), None),  # NaN holes: nodata, fine
])
def test_population_rasters(tmp_path, capsys, population, field):
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    pop = _write_tif(tmp_path / "population.tif", population)
    code, err = twin(["tim", "build", dem, f"population={pop}", "--out", tmp_path / "tim"],
                     capsys)
    if field is None:
        from tim.store import load_territory

        assert code == 0
        counts = load_territory(tmp_path / "tim").fields["population__count"]
        assert np.isfinite(counts).all() and (counts >= 0).all()
    else:
        assert_clean(code, err, str(pop), field)


def test_a_raster_off_the_territory_is_refused(tmp_path, capsys):
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    far = _write_tif(tmp_path / "landuse.tif", np.full((8, 8), 1, np.uint8),
                     origin=(500000.0, 3900000.0))  # 500 km north
    code, err = twin(["tim", "build", dem, f"land_use={far}", "--out", tmp_path / "tim"],
                     capsys)
    assert_clean(code, err, str(far), "does not overlap")


def test_cell_size_zero_is_refused(tmp_path, capsys):
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    code, err = twin(["tim", "build", dem, "--cell-size", "0", "--out", tmp_path / "t"], capsys)
    assert_clean(code, err, "--cell-size")


def test_a_grid_larger_than_memory_is_refused_before_allocation(tmp_path, capsys):
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    code, err = twin(["tim", "build", dem, "--cell-size", "0.0001", "--out", tmp_path / "t"],
                     capsys)
    assert_clean(code, err, "--cell-size", "2,000,000 x 2,000,000 cells", "GB")


# -- LAS/LAZ headers (hypothesis + crafted): 60 cases ---------------------------------------------
def _las(path: Path) -> Path:
    import laspy

    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales, header.offsets = np.array([0.01, 0.01, 0.01]), np.array([5e5, 3.4e6, 0])
    las = laspy.LasData(header)
    las.x = np.array([500010.0, 500020.0, 500030.0])
    las.y = np.array([3400010.0, 3400020.0, 3400030.0])
    las.z = np.array([1.0, 2.0, 3.0])
    las.write(str(path))
    return path


@fast(50)
@given(garbage=st.binary(min_size=0, max_size=600),
       patch=st.tuples(st.integers(0, 226), st.binary(min_size=1, max_size=8)))
def test_las_headers_of_garbage_fail_fast(tmp_path_factory, garbage, patch):
    from tim.ingest.pointcloud import read_points

    folder = tmp_path_factory.mktemp("las", numbered=True)
    good = bytearray(_las(folder / "good.las").read_bytes())
    at, data = patch
    good[at:at + len(data)] = data
    for name, content in (("garbage.las", b"LASF" + garbage), ("patched.las", bytes(good))):
        file = folder / name
        file.write_bytes(content)
        try:
            source = read_points([file], crs="EPSG:4548")
        except TwinError as exc:
            assert str(file) in str(exc)
            continue
        xyz = source.cloud.xyz if hasattr(source.cloud, "xyz") else None
        if xyz is not None:
            assert np.isfinite(xyz).all()


@pytest.mark.parametrize("field, offset, fmt, value", [
    ("scale", 131, "<d", 0.0), ("scale", 139, "<d", math.nan), ("scale", 147, "<d", -0.01),
    ("offset", 155, "<d", math.inf), ("point_count", 107, "<I", 2**32 - 1),
    ("number_of_vlrs", 100, "<I", 10**6), ("offset_to_point_data", 96, "<I", 2**31),
    ("version", 24, "<B", 9)])
def test_crafted_las_headers(tmp_path, capsys, field, offset, fmt, value):
    file = _las(tmp_path / "points.las")
    data = bytearray(file.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    file.write_bytes(data)
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    code, err = twin(["tim", "build", dem, f"points={file}", "--crs", "EPSG:4548",
                      "--out", tmp_path / "tim"], capsys)
    assert_clean(code, err, str(file))


# -- buildings and CityJSON: 14 cases ------------------------------------------------------------
@pytest.mark.parametrize("column, value", [("height", 1e300), ("height", math.inf),
                                           ("storeys", 1e19), ("height", 5000.0)])
def test_impossible_building_heights(tmp_path, capsys, column, value):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({column: [10.0, value]}, geometry=[
        shapely.box(500010, 3399900, 500030, 3399920), shapely.box(500050, 3399900, 500070,
                                                                   3399920)], crs="EPSG:4548")
    file = tmp_path / "buildings.gpkg"
    frame.to_file(file)
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    code, err = twin(["tim", "build", dem, f"buildings={file}", "--out", tmp_path / "tim"],
                     capsys)
    assert_clean(code, err, str(file), column)


def _cityjson(boundaries, vertices=None, transform=True) -> dict:
    doc = {"type": "CityJSON", "version": "1.1",
           "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"},
           "vertices": vertices if vertices is not None else
           [[0, 0, 0], [1000, 0, 0], [1000, 1000, 0], [0, 1000, 0], [0, 0, 1000]],
           "CityObjects": {"b1": {"type": "Building", "geometry": [
               {"type": "MultiSurface", "lod": "1", "boundaries": boundaries}]}}}
    if transform:
        doc["transform"] = {"scale": [0.01, 0.01, 0.01], "translate": [85000, 446000, 0]}
    return doc


CITYJSON = {
    "string indices": _cityjson([[["0", "1", "2", "3"]]]),
    "float indices": _cityjson([[[0.5, 1.2, 2.7, 3.1]]]),
    "boolean indices": _cityjson([[[True, False, True]]]),
    "negative indices": _cityjson([[[0, -1, 2, 3]]]),
    "huge indices": _cityjson([[[0, 1, 2**62, 3]]]),
    "nested garbage": _cityjson([[[[[[0]]]]]]),
    "vertex nan": _cityjson([[[0, 1, 2, 3]]], vertices=[[float("nan"), 0, 0]] * 4),
    "scale zero": {**_cityjson([[[0, 1, 2, 3]]]),
                   "transform": {"scale": [0, 0, 0], "translate": [0, 0, 0]}},
    "transform strings": {**_cityjson([[[0, 1, 2, 3]]]),
                          "transform": {"scale": "big", "translate": [0, 0, 0]}},
    "vertices not triples": _cityjson([[[0, 1, 2]]], vertices=[[1, 2], [3]]),
}


@pytest.mark.parametrize("case", sorted(CITYJSON))
def test_crafted_cityjson(tmp_path, case):
    from tim.ingest.cityjson import read_cityjson
    from tim.ingest.report import IngestReport

    file = tmp_path / "city.json"
    file.write_text(json.dumps(CITYJSON[case]))
    report = IngestReport()
    try:
        result = read_cityjson(file, report=report)
    except TwinError as exc:
        assert str(file) in str(exc)
        return
    # read: the broken building must have been skipped and reported, never mis-placed
    assert len(report.items) >= 1 if hasattr(report, "items") else True
    buildings = getattr(result, "buildings", None)
    if buildings is not None and len(buildings):
        assert np.isfinite(buildings.total_bounds).all()


# -- TIM manifests: every key removed, 1 case each ----------------------------------------------
def _manifest_keys(tim_dir: Path) -> list[tuple]:
    manifest = json.loads((tim_dir / "manifest.json").read_text())
    keys = [(k,) for k in manifest if k not in ("format", "version")]
    field = next(iter(manifest["fields"]))
    keys += [("fields", field, k) for k in manifest["fields"][field]]
    keys += [("grid", k) for k in manifest["grid"]]
    return keys


@pytest.mark.parametrize("index", range(24))
def test_a_manifest_missing_a_key_is_a_clean_error(tim_dir, tmp_path, capsys, index):
    keys = _manifest_keys(tim_dir)
    if index >= len(keys):
        pytest.skip("fewer keys")
    copy = tmp_path / "tim"
    shutil.copytree(tim_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    node = manifest
    for part in keys[index][:-1]:
        node = node[part]
    del node[keys[index][-1]]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    x, y = _sample_point(tim_dir)
    code, err = twin(["viewshed", copy, "--observer", f"{x},{y}", "--out",
                      tmp_path / "v.tif"], capsys)
    assert code in (0, 2)
    if code == 2:
        assert "manifest" in err or str(copy) in err


def test_a_manifest_naming_a_file_outside_the_store_is_refused(tim_dir, tmp_path):
    from tim.store import load_territory

    copy = tmp_path / "tim"
    shutil.copytree(tim_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    name = next(iter(manifest["fields"]))
    manifest["fields"][name]["file"] = "../../../../etc/passwd"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="outside the store"):
        load_territory(copy)


# -- folders that are not what a command reads: 9 commands x 6 folders --------------------------
BAD_FOLDERS = {
    "missing": None,
    "empty": lambda d: d.mkdir(),
    "a file": lambda d: d.write_text("not a folder"),
    "binary manifest": lambda d: (d.mkdir(), (d / "manifest.json").write_bytes(os.urandom(300))),
    "manifest a list": lambda d: (d.mkdir(), (d / "manifest.json").write_text("[1, 2]")),
    "other format": lambda d: (d.mkdir(), (d / "manifest.json").write_text(
        json.dumps({"format": "something-else", "format_version": 99}))),
}


def _folder_commands(bad: Path, tmp: Path, tim_dir: Path) -> dict[str, list]:
    x, y = _sample_point(tim_dir)
    return {
        "tim info": ["tim", "info", bad],
        "tiles": ["tiles", bad, "--out", tmp / "tiles"],
        "publish": ["publish", bad, "--tiles", tmp / "tiles"],
        "compare": ["compare", bad, bad, "--out", tmp / "report"],
        "serve": ["serve", bad, "--port", "1"],
        "export": ["export", bad, "--level", "public", "--out", tmp / "copy"],
        "heights": ["heights", bad, "--out", tmp / "h"],
        "viewshed": ["viewshed", bad, "--observer", f"{x},{y}", "--out", tmp / "v.tif"],
        "run": ["run", "baseline", "--tim", bad, "--out", tmp / "run"],
    }


@pytest.mark.parametrize("folder", sorted(BAD_FOLDERS))
@pytest.mark.parametrize("command", ["tim info", "tiles", "publish", "compare", "serve",
                                     "export", "heights", "viewshed", "run"])
def test_folders_that_are_not_a_tim_or_a_run(tim_dir, tmp_path, capsys, folder, command):
    bad = tmp_path / "input"
    if BAD_FOLDERS[folder] is not None:
        BAD_FOLDERS[folder](bad)
    code, err = twin(_folder_commands(bad, tmp_path, tim_dir)[command], capsys)
    assert_clean(code, err, str(bad))
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["input"])


# -- shapefile encodings -----------------------------------------------------------------------
@pytest.mark.parametrize("encoding, cpg", [("GBK", "GBK"), ("GB18030", "GB18030"),
                                           ("GBK", "936"), ("GBK", None), ("UTF-8", None)])
def test_chinese_shapefiles_are_read_through_their_cpg(tmp_path, encoding, cpg):
    import geopandas as gpd
    import shapely

    from tim.ingest.vector import read_vector

    names = ["住宅用地", "商业服务业用地"]
    frame = gpd.GeoDataFrame({"use": names}, geometry=[
        shapely.box(500000, 3400000, 500010, 3400010),
        shapely.box(500020, 3400000, 500030, 3400010)], crs="EPSG:4548")
    file = tmp_path / "zones.shp"
    frame.to_file(file, encoding=encoding, engine="pyogrio")
    file.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg:
        file.with_suffix(".cpg").write_text(cpg)
    assert read_vector(file)["use"].tolist() == names


# -- bounded work ------------------------------------------------------------------------------
@pytest.mark.parametrize("options, duration_h, setting", [
    ({"cfl": 0.01}, 700.0, "surge.solver.cfl"),
    ({"max_dt": 0.01, "cfl": 1.0}, 700.0, "surge.solver.max_dt_s"),
    ({}, 1e6, "surge.hydrograph.time_h")])
def test_the_surge_refuses_endless_runs_naming_the_setting(options, duration_h, setting):
    from engine.flood.domain import FloodDomain
    from engine.flood.inertial import InertialOptions, simulate

    z = np.array([[0.0, -1.0, -5.0, -1.0, 0.5]] * 3)
    domain = FloodDomain.from_arrays(z, 10.0)
    with pytest.raises(InputError) as info:
        simulate(domain, start=0, end=duration_h * 3600, initial_eta=np.maximum(z, 0.5),
                 options=InertialOptions(**options))
    assert info.value.field == setting


# -- a sample in subprocesses, under a memory limit and a timeout: 5 cases ------------------------
def _limited() -> None:
    limit = 3 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


SUBPROCESS_CASES = ["alias bomb", "python object tag"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_in_a_subprocess_yaml(tim_dir, tmp_path, case):
    file = tmp_path / "s.yaml"
    file.write_bytes(YAML_CORPUS[case])
    _run_limited(["run", file, "--tim", tim_dir, "--out", tmp_path / "r"], file)


@pytest.mark.parametrize("trap", ["huge migration", "endless hydrograph"])
def test_in_a_subprocess_scenario(tim_dir, tmp_path, trap):
    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump({"extends": "baseline", "name": "t", "title": "t",
                                    **SCENARIO_TRAPS[trap]}))
    _run_limited(["run", file, "--tim", tim_dir, "--out", tmp_path / "r"], file)


def test_in_a_subprocess_las_garbage(tmp_path):
    file = tmp_path / "p.las"
    file.write_bytes(b"LASF" + os.urandom(2000))
    dem = _write_tif(tmp_path / "dem.tif", np.full((8, 8), 10.0, np.float32))
    _run_limited(["tim", "build", dem, f"points={file}", "--crs", "EPSG:4548", "--out",
                  tmp_path / "t"], file)


def _run_limited(argv: list, file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "viz.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited,
                          env=env, cwd=REPO)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(file) in lines[0], lines


# -- the commands of the monitoring and calibration wave ------------------------------------------
def _wave_commands(tim_dir: Path, file: Path, out: Path) -> dict[str, tuple[list, Path]]:
    """Each new command that reads a YAML file, with the file it reads (``file`` itself, or
    the ``parameters.yaml`` a calibration folder holds)."""
    calibration = file.parent / "calibration"
    return {
        "assess --series": (["assess", "--tim", tim_dir, "--series", file, "--out", out], file),
        "assess --registry": (["assess", "--tim", tim_dir, "--observed", f"2000={file}",
                               "--registry", file, "--out", out], file),
        "evaluate --rules": (["evaluate", "--tim", tim_dir, "--rules", file, "--out", out],
                             file),
        "review --rules": (["review", "--tim", tim_dir, "--proposals", file, "--rules", file,
                            "--out", out], file),
        "review --height-rules": (["review", "--tim", tim_dir, "--proposals", file,
                                   "--height-rules", file, "--out", out], file),
        "tim series --catalog": (["tim", "series", "--catalog", file, "--tim", tim_dir,
                                  "--out", out], file),
        "run --calibration": (["run", "baseline", "--tim", tim_dir, "--calibration",
                               calibration, "--out", out], calibration / "parameters.yaml"),
    }


WAVE_YAML = ["alias bomb", "utf-16", "binary", "python object tag", "deep nesting",
             "not a mapping", "too large"]


@pytest.mark.parametrize("case", WAVE_YAML)
@pytest.mark.parametrize("command", sorted(_wave_commands(Path("t"), Path("f"), Path("o"))))
def test_crafted_yaml_files_in_the_new_commands(tim_dir, tmp_path, capsys, case, command):
    argv, file = _wave_commands(tim_dir, tmp_path / "input.yaml", tmp_path / "out")[command]
    file.parent.mkdir(exist_ok=True)
    file.write_bytes(YAML_CORPUS[case])
    code, err = twin(argv, capsys)
    assert_clean(code, err)
    assert str(file) in err or file.name in err, err
    assert not Path("/tmp/pwned").exists()
    assert not (tmp_path / "out").exists()


CLI_OPTIONS += [
    (["changes", "--tim", "t", "--before", "1=a", "--after", "2=b", "--out", "o"],
     "--min-area"),
    (["changes", "--tim", "t", "--before", "1=a", "--after", "2=b", "--out", "o"],
     "--connectivity"),
    (["assess", "--tim", "t", "--out", "o"], "--population-scale"),
    (["evaluate", "--tim", "t", "--out", "o"], "--red-line-grade"),
]


@fast(200)
@given(case=st.sampled_from(CLI_OPTIONS[-4:]), text=NUMBER_TEXT)
def test_the_new_commands_numbers_are_finite_and_in_range(case, text):
    test_command_line_numbers_are_finite_and_in_range.hypothesis.inner_test(case, text)
    import contextlib
    import io

    from viz.cli import build_parser

    prefix, option = case
    with contextlib.suppress(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        args = build_parser().parse_args([*prefix, f"{option}={text}"])
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        low, high = {"--min-area": (0, 1e7), "--connectivity": (4, 8),
                     "--population-scale": (0, 1e9), "--red-line-grade": (1, 5)}[option]
        assert low <= value <= high and (option != "--population-scale" or value > 0)
        if option in ("--connectivity", "--red-line-grade"):
            assert isinstance(value, int)


def _land_use_tif(tim_dir: Path, path: Path) -> Path:
    """The TIM's land use as a GeoTIFF on its grid (an observed map that is valid)."""
    import rasterio

    from tim.store import load_territory

    t = load_territory(tim_dir)
    values = np.asarray(t.fields["land_use__class"])
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype=values.dtype, crs=t.grid.crs,
                       transform=rasterio.Affine(*t.grid.transform[:6])) as dst:
        dst.write(values, 1)
    return path


@pytest.mark.parametrize("case", ["no year", "missing file", "garbage raster", "nan area",
                                  "negative area", "connectivity 6", "same year"])
def test_changes_refuses_bad_maps_and_options(tim_dir, tmp_path, capsys, case):
    good = _land_use_tif(tim_dir, tmp_path / "lu.tif")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    before, after, extra, names = f"2000={good}", f"2005={good}", [], ["--before"]
    if case == "no year":
        before = str(good)
    elif case == "missing file":
        before, names = f"2000={tmp_path / 'nope.tif'}", ["nope.tif"]
    elif case == "garbage raster":
        after, names = f"2005={junk}", ["junk.tif"]
    elif case == "nan area":
        extra, names = ["--min-area", "nan"], ["--min-area"]
    elif case == "negative area":
        extra, names = ["--min-area", "-1"], ["--min-area"]
    elif case == "connectivity 6":
        extra, names = ["--connectivity", "6"], ["--connectivity"]
    elif case == "same year":
        after, names = f"2000={good}", ["2000"]
    code, err = twin(["changes", "--tim", tim_dir, "--before", before, "--after", after,
                      "--out", tmp_path / "out", *extra], capsys)
    assert_clean(code, err, *names)
    assert not (tmp_path / "out").exists()


def test_changes_between_identical_maps_finds_no_patch(tim_dir, tmp_path, capsys):
    from viz.cli import main

    good = _land_use_tif(tim_dir, tmp_path / "lu.tif")
    assert main(["changes", "--tim", str(tim_dir), "--before", f"2000={good}", "--after",
                 f"2005={good}", "--out", str(tmp_path / "out"), "--min-area", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 change patches 2000 -> 2005"), out
    assert (tmp_path / "out").is_dir()


@pytest.mark.parametrize("option, value", [("--observed", "2000"), ("--observed", "x=y"),
                                           ("--population-scale", "inf"),
                                           ("--population-scale", "0")])
def test_assess_refuses_bad_options(tim_dir, tmp_path, capsys, option, value):
    argv = ["assess", "--tim", tim_dir, "--out", tmp_path / "out", option, value]
    if option != "--observed":
        argv += ["--observed", f"2000={tmp_path / 'a.tif'}"]
    code, err = twin(argv, capsys)
    assert_clean(code, err)
    assert option in err or value in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "6", "nan", "2.5", "x"])
def test_evaluate_refuses_a_red_line_grade_outside_1_to_5(tim_dir, tmp_path, capsys, value):
    code, err = twin(["evaluate", "--tim", tim_dir, "--out", tmp_path / "out", "--into-tim",
                      "--red-line-grade", value], capsys)
    assert_clean(code, err, "--red-line-grade")


def test_review_refuses_proposals_that_are_no_vector_file(tim_dir, tmp_path, capsys):
    bad = tmp_path / "proposals.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    code, err = twin(["review", "--tim", tim_dir, "--proposals", bad, "--out",
                      tmp_path / "out"], capsys)
    assert_clean(code, err, "proposals.gpkg")
    assert not (tmp_path / "out").exists()


def test_a_calibration_folder_without_parameters_is_refused(tim_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = twin(["run", "baseline", "--tim", tim_dir, "--calibration", tmp_path / "empty",
                      "--out", tmp_path / "out"], capsys)
    assert_clean(code, err, "empty")
    assert not (tmp_path / "out").exists()


LAND_USE_TRAPS = {
    "markov with one map": ({"demand": {"source": "markov", "markov": {"maps": {2000: "a.tif"}}}},
                            "land_use.demand"),
    "markov without maps or calibration": ({"demand": {"source": "markov"}}, "land_use"),
    "markov nan factor": ({"demand": {"source": "markov", "markov": {
        "maps": {2000: "a.tif", 2005: "b.tif"},
        "adjust": [{"from": "farmland", "to": "built", "factor": float("nan")}]}}},
        "land_use.demand"),
    "markov negative factor": ({"demand": {"source": "markov", "markov": {
        "maps": {2000: "a.tif", 2005: "b.tif"},
        "adjust": [{"from": "farmland", "to": "built", "factor": -1}]}}}, "land_use.demand"),
    "markov unknown group": ({"demand": {"source": "markov", "markov": {
        "maps": {2000: "a.tif", 2005: "b.tif"},
        "adjust": [{"from": "moon", "to": "built", "factor": 2}]}}}, "land_use.demand"),
    "markov year not a number": ({"demand": {"source": "markov", "markov": {
        "maps": {"then": "a.tif", 2005: "b.tif"}}}}, "land_use.demand"),
    "markov missing maps": ({"demand": {"source": "markov", "markov": {
        "maps": {2000: "a.tif", 2005: "b.tif"}}}}, "a.tif"),
    "calibration nowhere": ({"calibration": "nowhere"}, "land_use.calibration"),
    "calibration empty": ({"calibration": ""}, "land_use.calibration"),
    "calibration is a number": ({"calibration": 7}, "land_use.calibration"),
}


@pytest.mark.parametrize("name", sorted(LAND_USE_TRAPS))
def test_markov_demand_and_calibration_traps(tim_dir, tmp_path, capsys, name):
    land_use, field = LAND_USE_TRAPS[name]
    file = tmp_path / "trap.yaml"
    file.write_text(yaml.safe_dump({"extends": "baseline", "name": "trap", "title": "t",
                                    "land_use": land_use}))
    code, err = twin(["run", file, "--tim", tim_dir, "--out", tmp_path / "run"], capsys)
    assert_clean(code, err, field)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["compare", "serve"])
@pytest.mark.parametrize("lang", ["xx", "../../etc", "zh_CN,xx", "en" * 200])
def test_an_unknown_language_is_refused(tim_dir, tmp_path, capsys, command, lang):
    (tmp_path / "runs").mkdir()
    argv = [command, tmp_path / "runs", "--lang", lang]
    if command == "compare":
        argv += ["--out", tmp_path / "out"]
    code, err = twin(argv, capsys)
    assert_clean(code, err, "--lang")
    assert not (tmp_path / "out").exists()


def test_a_warning_reads_as_one_line_saying_what_was_done(tim_dir, tmp_path, capsys,
                                                           monkeypatch):
    """What was done about imperfect input is said in one ``twin: warning:`` line, not as
    Python's warning with the source file and line that raised it."""
    import warnings

    import viz.cli

    def series_with_undated_areas(args):
        warnings.warn("pa.gpkg: 2 protected areas have no designation year", UserWarning)

    monkeypatch.setattr(viz.cli, "cmd_tim_series", series_with_undated_areas)
    code, err = twin(["tim", "series", "--catalog", "hongkong", "--tim", tim_dir, "--out",
                      tmp_path / "series"], capsys)
    assert code == 0
    assert err.strip() == ("twin: warning: pa.gpkg: 2 protected areas have no designation "
                           "year"), err
