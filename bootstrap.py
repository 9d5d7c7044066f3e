#!/usr/bin/env python3
"""Set up Territory Twin on a machine that has only Python 3.11+, then run the demo or the tests.

    python3 bootstrap.py demo      # environment + sample territory + dashboard
    python3 bootstrap.py test      # environment + browser + GDAL + the whole test suite

Idempotent: the virtual environment (``.venv``), the npm packages (``viz/node_modules``) and the
Debian test packages (Chromium, GDAL) are installed once and reused; a stamp file records what
was installed from which ``pyproject.toml`` / ``package.json`` so that a changed dependency list
triggers a reinstall.

Standard library only: this file runs before anything else is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
NODE_DIR = ROOT / "viz"
CHROMIUM = Path("/usr/bin/chromium")


def log(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def run(cmd: list[str | os.PathLike], **kw) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def stamped(name: str, key: str) -> bool:
    return (VENV / f".twin-{name}").exists() and (VENV / f".twin-{name}").read_text() == key


def stamp(name: str, key: str) -> None:
    (VENV / f".twin-{name}").write_text(key)


def ensure_python_env(extras: str) -> None:
    """The virtualenv with the package installed editable, plus ``extras`` (e.g. ``test``).

    Reinstalls only when ``pyproject.toml`` changed or the extras are not installed yet; an
    environment set up for the tests also serves the demo.
    """
    if sys.version_info < (3, 11):
        sys.exit(f"Territory Twin needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        log(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    project = digest(ROOT / "pyproject.toml")
    stamp_file = VENV / ".twin-python"
    recorded = stamp_file.read_text().split() if stamp_file.exists() else []
    if recorded[:1] == [project] and (not extras or extras in recorded[1:]):
        return
    wanted = sorted({*recorded[1:], extras} - {""}) if recorded[:1] == [project] else \
        [e for e in [extras] if e]
    spec = f".[{','.join(wanted)}]" if wanted else "."
    run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", spec], cwd=ROOT)
    stamp_file.write_text(" ".join([project, *wanted]))


def ensure_node_packages() -> None:
    """Cesium (served to the dashboard) and gltf-validator (tests), with the Node from the wheel."""
    key = digest(NODE_DIR / "package.json", NODE_DIR / "package-lock.json")
    if stamped("node", key) and (NODE_DIR / "node_modules").is_dir():
        return
    npm = BIN / "npm"
    lock = (NODE_DIR / "package-lock.json").exists()
    # --ignore-scripts: neither package needs install scripts, and they would reach the network.
    run([npm, "ci" if lock else "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=NODE_DIR)
    stamp("node", key)


#: Debian packages the tests need: the browser, its driver and CJK fonts for the browser tests
#: (the class names are bilingual; without the fonts Chromium draws boxes), and GDAL's command
#: line tools, against which the viewshed is validated (``gdal_viewshed``).
TEST_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk", "gdal-bin", "poppler-utils")
CJK_FONT = Path("/usr/share/fonts/opentype/noto")
#: Real QGIS (PyQGIS for the system Python) to open the QGIS projects the tests write; without
#: recommends it is ~1.5 min to install.
QGIS_PACKAGES = ("python3-qgis", "qgis-providers")
PYQGIS = Path("/usr/lib/python3/dist-packages/qgis/core")
#: A real PostgreSQL with PostGIS for the PostGIS store's tests (~1 min to install).
POSTGIS_PACKAGES = ("postgresql-15", "postgresql-15-postgis-3")
POSTGIS = Path("/usr/share/postgresql/15/extension/postgis.control")


def ensure_test_packages() -> None:
    """The Debian packages of :data:`TEST_PACKAGES`, installed once (needs root or sudo)."""
    if CHROMIUM.exists() and shutil.which("chromedriver") and CJK_FONT.is_dir() \
            and shutil.which("gdal_viewshed") and shutil.which("pdftoppm") and PYQGIS.is_dir() \
            and POSTGIS.exists():
        return
    if shutil.which("apt-get") is None:
        sys.exit("The tests need Chromium at /usr/bin/chromium, GDAL's gdal_viewshed, "
                 "poppler's pdftoppm, PyQGIS and PostGIS; install them (Debian/Ubuntu: "
                 "apt-get install " + " ".join(TEST_PACKAGES + QGIS_PACKAGES + POSTGIS_PACKAGES) + ") and rerun.")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([*sudo, "apt-get", "update", "-q"], env=env)
    run([*sudo, "apt-get", "install", "-y", "-q", *TEST_PACKAGES], env=env)
    run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *QGIS_PACKAGES,
         *POSTGIS_PACKAGES], env=env)


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        ensure_python_env("")
        ensure_node_packages()
        return subprocess.call([BIN / "twin", "demo", *rest], cwd=ROOT)
    ensure_python_env("test")
    ensure_node_packages()
    ensure_test_packages()
    return subprocess.call([PY, "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
