"""Clearances: a dashboard user sees only the TIM layers whose security level is at or below
their clearance (:func:`viz.server.visible`), in every callback answer and download, over real
HTTP on loopback (waitress), with the page saying that some layers are hidden.

The sample TIM is built with its planning units and amenities ``public``, its control lines
``restricted`` and its zoning left at the default (``internal``).
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from test_security import layout_values
import yaml

from tim.errors import InputError
from viz import server

PASSWORD = "sesame-open-42"
LEVELS_BY_ROLE = {"planning_units": "public", "amenities": "public",
                  "control_lines": "restricted"}
HIDDEN_EN = "Some layers are hidden for your clearance."
HIDDEN_ZH = "部分图层因您的密级权限未予显示。"


@pytest.fixture(scope="module")
def sample(sample_catalog, tmp_path_factory) -> dict[str, Path]:
    from viz.cli import main

    root = tmp_path_factory.mktemp("clearance")
    raw = yaml.safe_load(Path(sample_catalog).read_text())
    for source in raw["sources"]:
        if source["role"] in LEVELS_BY_ROLE:
            source["security"] = LEVELS_BY_ROLE[source["role"]]
        source["path"] = str(Path(sample_catalog).parent / source["path"])
    catalog = root / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert main(["tim", "build", "--catalog", str(catalog), "--out", str(root / "tim")]) == 0
    assert main(["run", "baseline", "--tim", str(root / "tim"), "--out", str(root / "run")]) == 0
    assert main(["tiles", str(root / "tim"), "--out", str(root / "tiles"),
                 "--parts", "buildings"]) == 0
    users = root / "users.yaml"
    server.add_user(users, "vera", PASSWORD, "viewer", "public")
    server.add_user(users, "ed", PASSWORD, "editor", "restricted")
    server.add_user(users, "ivan", PASSWORD, "viewer")  # the default: internal
    return {"root": root, "run": root / "run", "tiles": root / "tiles", "users": users,
            "tim": root / "tim"}


@pytest.fixture(scope="module")
def app(sample):
    from viz.app import create_app

    app = create_app([sample["run"]], sample["tiles"])
    return server.secure(app, server.serve_options("127.0.0.1", sample["users"]))


@pytest.fixture(scope="module")
def url(app):
    with server.running(app) as base:
        yield base


@pytest.fixture(scope="module")
def markers(sample) -> dict[str, list[str]]:
    """Strings only a layer's data can put in an answer: its 2D traces' tags and, for the
    control lines, the names their 2D traces and 3D lines carry in both languages (the bare
    names also occur in the indicators' definitions, which are no layer data)."""
    import pyogrio

    from viz.onemap import line_name

    lines = pyogrio.read_dataframe(sample["tim"] / "vectors.gpkg", layer="control_lines")
    kinds = sorted(set(lines["kind"]))
    zones = pyogrio.read_dataframe(sample["tim"] / "vectors.gpkg", layer="zoning")
    return {"control_lines": [*(f"layer:{k}" for k in kinds),
                              *(f'"name": "{line_name(k, lang)}"' for k in kinds
                                for lang in ("en", "zh_CN"))],
            "zoning": ["layer:zoning", *(str(z) for z in zones["zone"] if len(str(z)) > 2)],
            "units": ["layer:units"]}


def _session(url: str, user: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    body = urllib.parse.urlencode({"user": user, "password": PASSWORD}).encode()
    with opener.open(url + "/login", data=body, timeout=60) as response:
        assert response.status == 200  # the page, after the redirect
    return opener


def _get(opener, address: str) -> tuple[int, bytes]:
    try:
        with opener.open(address, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _click_inside_a_control_line(sample) -> dict:
    import pyogrio

    lines = pyogrio.read_dataframe(sample["tim"] / "vectors.gpkg", layer="control_lines")
    point = lines.geometry.iloc[0].representative_point()
    return {"points": [{"x": point.x / 1000.0, "y": point.y / 1000.0}]}


def _every_callback(url: str, opener, sample, lang: str = "en") -> dict[str, str]:
    """The answers of every server callback of the page, with the layout's values, all the
    one-map layers asked for (as a hostile page would) and a click inside a control line;
    by output (``layout``: the page's layout)."""
    status, layout = _get(opener, f"{url}/_dash-layout?lang={lang}")
    assert status == 200
    values = layout_values(json.loads(layout))
    values[("map-layers", "value")] = ["units", "zoning", "control_lines", "amenities"]
    values[("land-use-map", "clickData")] = _click_inside_a_control_line(sample)
    _, deps = _get(opener, url + "/_dash-dependencies")
    deps = json.loads(deps)
    for dep in deps:  # each tab's gates, as if every tab had been opened
        for i in dep["inputs"]:
            if i["id"].startswith("ctx-"):
                values[(i["id"], i["property"])] = {"run": 0, "year": None}
            if i["id"].startswith("on-"):
                values[(i["id"], i["property"])] = i["id"][3:]
    # the click as the browser's gate passes it on (twinmaps.queryAsk)
    values[("map-query-ask", "data")] = {"click": values[("land-use-map", "clickData")],
                                         "ctx": {"run": 0, "year": None}}
    answers = {"layout": _plain(layout)}
    for dep in deps:
        if dep.get("clientside_function") or "{" in dep["output"]:
            continue
        text = dep["output"]
        parts = text[2:-2].split("...") if text.startswith("..") else [text]
        outputs = [{"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]}
                   for p in parts]
        payload = {
            "output": text, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [{**i, "value": values.get((i["id"], i["property"]))}
                       for i in dep["inputs"]],
            "state": [{**s, "value": values.get((s["id"], s["property"]))}
                      for s in dep.get("state", [])],
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"][:1]]}
        request = urllib.request.Request(url + "/_dash-update-component",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        status, body = _get(opener, request)
        assert status in (200, 204), (text, status, body[:200])
        answers[text] = _plain(body)
    return answers


def _plain(body: bytes) -> str:
    """A JSON answer with its non-ASCII characters unescaped (so a Chinese name is found)."""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False)
    except ValueError:
        return body.decode()


def test_the_rule():
    assert server.CLEARANCES == __import__("tim.store").store.LEVELS
    table = {(level, clearance): server.visible(level, clearance)
             for level in server.CLEARANCES for clearance in server.CLEARANCES}
    assert [k for k, v in table.items() if v] == [
        ("public", "public"), ("public", "internal"), ("public", "restricted"),
        ("internal", "internal"), ("internal", "restricted"), ("restricted", "restricted")]
    assert not server.visible("top-secret", "internal")  # unknown level: restricted
    assert server.visible("top-secret", "restricted")
    assert not server.visible("internal", "admin")  # unknown clearance: public


def test_users_carry_a_clearance_and_old_files_still_load(sample, tmp_path):
    users = server.load_users(sample["users"])
    assert {n: u.clearance for n, u in users.items()} == {
        "vera": "public", "ed": "restricted", "ivan": "internal"}
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"users": {"al": {"role": "viewer",
                                                    "password": users["vera"].password}}}))
    assert server.load_users(old)["al"].clearance == "internal"
    old.write_text(yaml.safe_dump({"users": {"al": {"role": "viewer", "clearance": "secret",
                                                    "password": users["vera"].password}}}))
    with pytest.raises(InputError) as info:
        server.load_users(old)
    assert info.value.field == "users.al.clearance" and str(old) in str(info.value)


def test_users_add_and_serve_take_a_clearance_on_the_command_line(tmp_path, monkeypatch,
                                                                  capsys):
    import io

    from viz.cli import main

    path = tmp_path / "u.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough pw\n"))
    assert main(["users", "add", str(path), "pat", "--clearance", "public",
                 "--password-stdin"]) == 0
    assert server.load_users(path)["pat"].clearance == "public"
    for argv in (["users", "add", str(path), "pat", "--clearance", "secret",
                  "--password-stdin"], ["serve", str(tmp_path), "--clearance", "top"]):
        with pytest.raises(SystemExit) as info:  # argparse's refusal: usage and exit 2
            main(argv)
        assert info.value.code == 2
        assert "--clearance" in capsys.readouterr().err
    assert server.serve_options("127.0.0.1", None).clearance == "restricted"
    assert server.serve_options("127.0.0.1", None, clearance="public").clearance == "public"


def test_a_public_viewer_receives_no_layer_above_public(url, sample, markers):
    # A restricted user first, so every cache of the server holds the restricted answers.
    _every_callback(url, _session(url, "ed"), sample)
    vera = _session(url, "vera")
    _, whoami = _get(vera, url + "/twin/whoami")
    assert json.loads(whoami)["clearance"] == "public"
    by_output = _every_callback(url, vera, sample)
    answers = "\n".join(by_output.values())
    for marker in markers["control_lines"] + markers["zoning"]:
        assert marker not in answers, marker
    assert "layer:units" in answers  # public layers are still drawn
    assert HIDDEN_EN in answers
    assert _clicked_line(sample, "en") not in by_output["map-query.children"]
    # the layer toggles offer only what she may see
    _, layout = _get(vera, url + "/_dash-layout")
    options = layout_values(json.loads(layout))[("map-layers", "options")]
    assert {o["value"] for o in options} == {"units", "amenities"}
    zh = "\n".join(_every_callback(url, vera, sample, lang="zh_CN").values())
    assert HIDDEN_ZH in zh and all(m not in zh for m in markers["control_lines"])


def test_an_internal_viewer_sees_zoning_but_not_the_restricted_lines(url, sample, markers):
    answers = "\n".join(_every_callback(url, _session(url, "ivan"), sample).values())
    assert "layer:zoning" in answers
    assert all(m not in answers for m in markers["control_lines"])
    assert HIDDEN_EN in answers


def test_a_restricted_editor_sees_everything_and_no_note(url, sample, markers):
    by_output = _every_callback(url, _session(url, "ed"), sample)
    answers = "\n".join(by_output.values())
    english = [m for m in markers["control_lines"] if m.isascii()]
    for marker in english + ["layer:zoning", "layer:units"]:
        assert marker in answers, marker
    # the 3D lines too (the scene's entities carry positions and the lines' names)
    assert any('"positions"' in a and english[-1] in a for a in by_output.values())
    # "what is here" names the control line that was clicked
    assert _clicked_line(sample, "en") in by_output["map-query.children"]


def _clicked_line(sample, lang: str) -> str:
    import pyogrio

    from viz.onemap import line_name

    lines = pyogrio.read_dataframe(sample["tim"] / "vectors.gpkg", layer="control_lines")
    return line_name(str(lines["kind"].iloc[0]), lang)
    assert HIDDEN_EN not in answers


def test_layer_downloads_follow_the_clearance(url, sample, markers):
    vera, ed = _session(url, "vera"), _session(url, "ed")
    base = url + "/twin/download/0/"
    status, body = _get(vera, base + "planning_units.geojson")
    assert status == 200 and json.loads(body)["features"]
    for key in ("control_lines.geojson", "zoning.geojson"):
        status, body = _get(vera, base + key)
        assert status == 404, key
        assert all(m.encode() not in body for m in markers["control_lines"])
    status, body = _get(ed, base + "control_lines.geojson")
    collection = json.loads(body)
    assert status == 200 and collection["type"] == "FeatureCollection"
    import pyogrio
    import shapely.geometry

    source = pyogrio.read_dataframe(sample["tim"] / "vectors.gpkg", layer="control_lines")
    assert len(collection["features"]) == len(source)
    west, south, east, north = shapely.geometry.shape(
        collection["features"][0]["geometry"]).bounds
    assert -180 <= west < east <= 180 and -90 <= south < north <= 90  # WGS 84
    assert collection["features"][0]["properties"]["kind"] == source["kind"].iloc[0]


def test_without_login_the_served_clearance_applies(sample, markers):
    from viz.app import create_app

    app = server.secure(create_app([sample["run"]], sample["tiles"]),
                        server.serve_options("127.0.0.1", None, clearance="public"))
    with server.running(app) as base:
        opener = urllib.request.build_opener()
        answers = "\n".join(_every_callback(base, opener, sample).values())
        assert all(m not in answers for m in markers["control_lines"] + markers["zoning"])
        assert _get(opener, base + "/twin/download/0/control_lines.geojson")[0] == 404


# -- 3D tiles, overlays and run rasters -----------------------------------------------------------
# Tiles of the clearance sample with the terrain draped: the buildings are made from internal
# items (buildings, zoning, ground), the draped terrain paints the restricted red line, and the
# run's new buildings (like all its products) take the level of its TIM: restricted.
@pytest.fixture(scope="module")
def draped(sample) -> Path:
    from viz.cli import main

    tiles = sample["root"] / "tiles-draped"
    assert main(["tiles", str(sample["tim"]), "--out", str(tiles),
                 "--parts", "buildings,terrain", "--drape"]) == 0
    assert main(["publish", str(sample["run"]), "--tiles", str(tiles), "--new-buildings"]) == 0
    return tiles


@pytest.fixture(scope="module")
def draped_app(sample, draped):
    from viz.app import create_app

    app = create_app([sample["run"]], draped)
    return server.secure(app, server.serve_options("127.0.0.1", sample["users"]))


@pytest.fixture(scope="module")
def draped_url(draped_app):
    with server.running(draped_app) as base:
        yield base


def _first_content(tileset: Path) -> str:
    stack = [json.loads(tileset.read_text())["root"]]
    while stack:
        tile = stack.pop()
        if "content" in tile:
            return tile["content"]["uri"]
        stack.extend(tile.get("children", []))
    raise AssertionError(f"{tileset} has no content")


def _contents_levels(tileset: Path) -> set[str]:
    levels, stack = set(), [json.loads(tileset.read_text())["root"]]
    while stack:
        tile = stack.pop()
        if "content" in tile:
            levels.add(tile["content"]["extras"]["security"])
        stack.extend(tile.get("children", []))
    return levels


def _overlay_dir(draped: Path) -> str:
    index = json.loads((draped / "overlays" / "index.json").read_text())["overlays"]
    return next(e["file"] for n, e in index.items() if e["kind"] == "tileset")


def test_tiles_record_the_most_restrictive_level_of_their_sources(draped):
    root = json.loads((draped / "tileset.json").read_text())
    assert root["asset"]["extras"]["security"] == {
        "level": "restricted", "parts": {"buildings": "internal", "terrain": "restricted"}}
    terrain = json.loads((draped / "terrain" / "tileset.json").read_text())
    assert terrain["asset"]["extras"]["security"]["level"] == "restricted"
    assert "control__ecological_red_line" in terrain["asset"]["extras"]["security"]["sources"]
    buildings = json.loads((draped / "buildings" / "tileset.json").read_text())
    assert set(buildings["asset"]["extras"]["security"]["sources"]) == {
        "buildings", "terrain__elevation", "planning_units", "zoning"}
    assert _contents_levels(draped / "terrain" / "tileset.json") == {"restricted"}
    assert _contents_levels(draped / "buildings" / "tileset.json") == {"internal"}
    index = json.loads((draped / "overlays" / "index.json").read_text())["overlays"]
    assert {e["kind"]: e["security"] for e in index.values()} == {
        "feature-properties": "internal", "tileset": "restricted"}  # zoning; new buildings
    overlay = draped / "overlays" / _overlay_dir(draped)
    assert _contents_levels(overlay) == {"restricted"}


def test_tiles_and_run_rasters_are_served_only_at_or_above_their_level(draped_url, draped,
                                                                       sample):
    run = json.loads((sample["run"] / "manifest.json").read_text())
    year = run["years"][-1]
    files = {"root": "/tiles/tileset.json",
             "buildings": "/tiles/buildings/tileset.json",
             "buildings content": "/tiles/buildings/"
             + _first_content(draped / "buildings" / "tileset.json"),
             "zoning overlay": "/tiles/overlays/zoning.json",
             "terrain": "/tiles/terrain/tileset.json",
             "terrain content": "/tiles/terrain/"
             + _first_content(draped / "terrain" / "tileset.json"),
             "new buildings": "/tiles/overlays/" + _overlay_dir(draped),
             "land-use raster": f"/twin/download/0/land_use_{year}.tif",
             "land-use drape": f"/twin/drape/0/{year}.png"}
    expected = {"vera": set(), "ivan": {"buildings", "buildings content", "zoning overlay"},
                "ed": set(files)}
    for user, allowed in expected.items():
        opener = _session(draped_url, user)
        statuses = {name: _get(opener, draped_url + path)[0] for name, path in files.items()}
        assert statuses == {name: 200 if name in allowed else 404 for name in files}, user
    # A link planted in a part the user may read does not reach a part above it.
    planted = draped / "buildings" / "planted.json"
    planted.symlink_to(draped / "terrain" / "tileset.json")
    try:
        ivan = _session(draped_url, "ivan")
        assert _get(ivan, draped_url + "/tiles/buildings/planted.json")[0] == 404
        assert _get(_session(draped_url, "ed"),
                    draped_url + "/tiles/buildings/planted.json")[0] == 200
    finally:
        planted.unlink()


def test_the_3d_view_lists_only_the_tilesets_the_user_is_cleared_for(draped_url, draped_app,
                                                                     sample):
    import flask

    for user, parts in (("vera", None), ("ivan", ["buildings"]),
                        ("ed", ["buildings", "terrain"])):
        _, layout = _get(_session(draped_url, user), draped_url + "/_dash-layout")
        values = layout_values(json.loads(layout))
        options = [o["value"] for o in values.get(("layers", "options"), [])]
        assert (options or None) == parts, user
        urls = (values[("cesium-config", "data")]["parts"] or {}).values()
        assert ("/tiles/terrain/tileset.json" in urls) == (user == "ed")
        assert ("/tiles/buildings/tileset.json" in urls) == (user != "vera")
        if parts is None:
            assert values[("cesium-message", "children")] == HIDDEN_EN
    from viz.overlays import TilesFolder

    tiles = TilesFolder.open(sample["root"] / "tiles-draped")
    name = next(iter(tiles.overlays.keys() - {"zoning"}))
    with draped_app.server.test_request_context():
        for clearance, listed in (("internal", False), ("restricted", True)):
            flask.g.twin_clearance = clearance
            assert (tiles.overlay_tileset(name) is not None) == listed


def test_the_download_list_leaves_out_the_run_products_above_the_clearance(draped_app, sample):
    import flask

    from scenarios.rundir import RunDirectory
    from viz import downloads

    run = RunDirectory.open(sample["run"])
    with draped_app.server.test_request_context():
        kinds = {}
        for clearance in ("internal", "restricted"):
            flask.g.twin_clearance = clearance
            kinds[clearance] = {d.kind for d in downloads.catalogue(run, run.years[-1])}
    assert kinds["restricted"] - kinds["internal"] == {"map", "buildings"}
    assert "table" in kinds["internal"]


def test_the_served_clearance_applies_to_tiles_without_login(sample, draped):
    from viz.app import create_app

    for clearance, status in (("public", 404), ("internal", 200)):
        app = server.secure(create_app([sample["run"]], draped),
                            server.serve_options("127.0.0.1", None, clearance=clearance))
        with server.running(app) as base:
            assert _get(urllib.request.build_opener(),
                        base + "/tiles/buildings/tileset.json")[0] == status


def test_a_part_whose_level_is_raised_while_serving_is_refused_at_once(draped_url, draped):
    """As if 'twin tiles' rewrote the folder with the buildings now restricted: the tiles
    route reads the levels again when the root tileset changes."""
    import os

    ivan = _session(draped_url, "ivan")
    address = draped_url + "/tiles/buildings/tileset.json"
    assert _get(ivan, address)[0] == 200
    path, root = draped / "buildings" / "tileset.json", draped / "tileset.json"
    before = path.read_text()
    tileset = json.loads(before)
    tileset["asset"]["extras"]["security"]["level"] = "restricted"
    try:
        path.write_text(json.dumps(tileset))
        stat = root.stat()
        os.utime(root, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert _get(ivan, address)[0] == 404
        assert _get(_session(draped_url, "ed"), address)[0] == 200
    finally:
        path.write_text(before)
        stat = root.stat()
        os.utime(root, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert _get(ivan, address)[0] == 200


def test_the_tabs_draw_no_run_map_above_the_clearance(draped_app, sample):
    """The scenario and compare tabs' maps of a run whose products are above the user's
    clearance carry no image, only the note; cleared users get every year's image."""
    import flask

    from viz.app import load_dashboard
    from viz.onemap import hidden_note
    from viz.tabs import compare, scenario

    board = load_dashboard([sample["run"]])
    with draped_app.server.test_request_context():
        shown = {}
        for clearance in ("internal", "restricted"):
            flask.g.twin_clearance = clearance
            frames = scenario.map_frames(board, 0, None)
            maps = compare.compare_maps(board, 0, 0, board.runs[0].years[-1])
            images = [t for m in maps for t in m.to_plotly_json()["data"]
                      if t.get("type") == "image"]
            shown[clearance] = (frames["years"], frames["figure"], images, hidden_note())
    years, figure, images, note = shown["internal"]
    assert years == {} and not images
    assert all(t.get("type") != "image" for t in figure["data"])
    assert note in json.dumps(figure, ensure_ascii=False)
    years, figure, images, _ = shown["restricted"]
    assert set(years) == {str(y) for y in board.runs[0].years} and len(images) == 2
