"""The one-way data flow: engine stays light, nothing imports viz."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("dash", "plotly", "pyvista", "trimesh", "py3dtiles", "geopandas", "flask", "viz")


def test_importing_the_engine_loads_no_gui_gis_or_3d_stack():
    code = ("import sys, engine, engine.simulation, engine.processes, engine.suitability, "
            "tim.model, tim.fields; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert done.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_packages_import_only_downstream_of_them():
    allowed = {"tim": {"tim"}, "engine": {"engine", "tim"}, "agents": {"agents", "engine", "tim"},
               "scenarios": {"scenarios", "agents", "engine", "tim"}}
    ours = {"tim", "engine", "agents", "scenarios", "viz"}
    for package, may in allowed.items():
        for path in (REPO / package).rglob("*.py"):
            wrong = (_imports(path) & ours) - may
            assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"
    for path in (REPO / "engine").rglob("*.py"):
        assert not _imports(path) & {"dash", "plotly", "pyvista"}, path


def test_engine_uses_only_the_territory_model_from_tim():
    for path in (REPO / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and n.module and n.module.startswith("tim")}
        assert modules <= {"tim.model", "tim.fields", "tim.errors"}, path
