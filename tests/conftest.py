"""Shared fixtures: the sample territory (built once per session), the demo output, real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from validators import REPO
from validators import twin_data as twin_data_dir

ARTIFACTS = Path(os.environ.get("TWIN_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="session")
def twin_data() -> Path:
    path = twin_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set TWIN_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def city(twin_data) -> Path:
    """The city data folder (Den Haag CityJSON, Delft AHN3 / BGT / 3dfier)."""
    folder = twin_data / "city"
    if not (folder / "denhaag_scheveningen").is_dir():
        pytest.skip(f"city data not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def sample_catalog(tmp_path_factory) -> Path:
    from tim.sample import write_sample_sources

    return write_sample_sources(tmp_path_factory.mktemp("sample-sources"))


@pytest.fixture(scope="session")
def sample_territory(sample_catalog):
    """The sample territory, built from its sources. Tests must not modify it (use .copy())."""
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog

    return build_from_catalog(load_catalog(sample_catalog))


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> Path:
    """The whole demo pipeline (sources, TIM, tiles, three runs, report), without the server."""
    from viz.demo import run_demo

    # A demo made beforehand ('twin demo --no-serve --out DIR') saves minutes when
    # running a few dashboard tests by hand: TWIN_DEMO=DIR.
    ready = os.environ.get("TWIN_DEMO")
    if ready and (Path(ready) / "runs").is_dir():
        return Path(ready)
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, serve_app=False)
    return out


# tests/landuse_reference.py is imported by name from the tests
import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def postgis_server():
    """A real PostgreSQL with PostGIS on loopback (Debian's postgresql and postgis packages,
    installed by the test set-up), in a throw-away cluster; its URL without a schema."""
    import shutil
    import socket
    import subprocess
    import tempfile

    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdb:
        pytest.skip("PostgreSQL server not installed (Debian: postgresql postgresql-15-postgis-3;"
                    " python3 bootstrap.py test installs them)")
    bin_dir = initdb[-1].parent
    version = bin_dir.parent.name
    if not Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
        pytest.skip(f"PostGIS is not installed for PostgreSQL {version}")
    as_postgres: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="twin-pg-"))  # under /tmp: the server user must reach it
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*command: str) -> None:
        subprocess.run([*as_postgres, *command], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "twin",
        "--no-sync", "-E", "UTF8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "twin", "gis")
        yield f"postgresql://twin@127.0.0.1:{port}/gis"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)
