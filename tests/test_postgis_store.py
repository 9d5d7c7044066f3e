"""The PostGIS store of a TIM's vector layers and metadata, on a real PostgreSQL server:
the same API and checks as the GeoPackage store (round trip in tests/test_tim.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tim.errors import InputError, StoreError
from tim.postgis import PostGISStore
from tim.store import load_territory, read_layers, save_territory


def _sql(url: str, statement: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(statement)
        return rows.fetchall() if rows.description else []


def test_layers_and_manifest_are_tables_in_the_schema(sample_territory, tmp_path,
                                                      postgis_server):
    save_territory(sample_territory, tmp_path / "tim", store=postgis_server + "?schema=haiwan")
    manifest = json.loads((tmp_path / "tim" / "manifest.json").read_text())
    assert not (tmp_path / "tim" / "vectors.gpkg").exists()
    tables = {r[0] for r in _sql(postgis_server, "SELECT table_name FROM "
                                 "information_schema.tables WHERE table_schema = 'haiwan'")}
    assert tables == set(sample_territory.layers) | {"twin_manifest"}
    for name, frame in sample_territory.layers.items():
        meta = manifest["layers"][name]
        assert meta["store"] == postgis_server and meta["table"] == name
        count, srid = _sql(postgis_server, f'SELECT count(*), max(ST_SRID(geom)) FROM '
                                           f'haiwan."{name}"')[0]
        assert count == len(frame) and srid == 4548
    stored = _sql(postgis_server, "SELECT manifest FROM haiwan.twin_manifest")[0][0]
    assert stored["layers"] == manifest["layers"] and stored["name"] == sample_territory.name
    # The dashboard's one map reads the same layers through the one reader.
    units = read_layers(tmp_path / "tim", manifest, ["planning_units"])["planning_units"]
    assert len(units) == len(sample_territory.layers["planning_units"])


def test_a_table_changed_in_the_database_is_detected(sample_territory, tmp_path,
                                                     postgis_server):
    save_territory(sample_territory, tmp_path / "tim", store=postgis_server + "?schema=edited")
    _sql(postgis_server, 'UPDATE edited."buildings" SET height = height + 1 WHERE fid = 3')
    with pytest.raises(StoreError, match="buildings.*hash"):
        load_territory(tmp_path / "tim")


def test_a_failed_save_rolls_the_database_back(sample_territory, tmp_path, postgis_server,
                                               monkeypatch):
    url = postgis_server + "?schema=rollback"
    save_territory(sample_territory, tmp_path / "tim", store=url)
    before = _sql(postgis_server, "SELECT written FROM rollback.twin_manifest")
    import tim.store

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(tim.store, "write_tim_project", broken)
    changed = sample_territory.copy()
    changed.layers["buildings"] = changed.layers["buildings"].iloc[:10]
    with pytest.raises(OSError, match="disk full"):
        save_territory(changed, tmp_path / "tim", store=url)
    assert _sql(postgis_server, "SELECT written FROM rollback.twin_manifest") == before
    back = load_territory(tmp_path / "tim")
    assert len(back.layers["buildings"]) == len(sample_territory.layers["buildings"])


def test_urls_are_checked_before_anything_is_written():
    with pytest.raises(InputError, match="password"):
        PostGISStore.from_url("postgresql://twin:secret@127.0.0.1/gis")
    with pytest.raises(InputError, match="schema"):
        PostGISStore.from_url("postgresql://127.0.0.1/gis?schema=x;drop")
    with pytest.raises(InputError, match="postgresql://"):
        PostGISStore.from_url("postgresql://127.0.0.1")


def test_cli_builds_into_postgis_and_refuses_an_unreachable_server(sample_catalog, tmp_path,
                                                                   postgis_server):
    def twin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "viz.cli", "tim", "build", "--catalog",
                               str(sample_catalog), *args], capture_output=True, text=True,
                              timeout=600)

    done = twin("--out", str(tmp_path / "tim"), "--store", postgis_server + "?schema=cli")
    assert done.returncode == 0, done.stderr
    territory = load_territory(tmp_path / "tim")
    assert np.isfinite(territory.fields["terrain__elevation"]).any()
    assert len(territory.layers["control_lines"]) > 0
    dead = twin("--out", str(tmp_path / "tim2"), "--store", "postgresql://twin@127.0.0.1:1/gis")
    assert dead.returncode == 2 and "Traceback" not in dead.stderr
    assert "cannot connect" in dead.stderr and not (tmp_path / "tim2").exists()
