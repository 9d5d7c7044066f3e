"""An output never overlaps an input: ``--out`` that is, contains or lies inside something the
command reads, or that is a file where a folder is written, is refused before anything is read
or written (exit 2, one line), and the input is left exactly as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from viz.cli import main


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tim(tmp_path) -> Path:
    """A folder standing for a TIM: the guard refuses before reading it, so any files do."""
    folder = tmp_path / "tim"
    (folder / "rasters").mkdir(parents=True)
    (folder / "manifest.json").write_text('{"name": "t"}')
    (folder / "rasters" / "dem.tif").write_bytes(b"\x00" * 64)
    return folder


def refused(argv: list[str], capsys, *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_run_written_over_its_tim_is_refused_and_the_tim_kept(tim, capsys):
    before = snapshot(tim)
    refused(["run", "baseline", "--tim", str(tim), "--out", str(tim)], capsys,
            "--out", "is the input")
    refused(["run", "baseline", "--tim", str(tim), "--out", str(tim / "rasters")], capsys,
            "lies inside the input")
    refused(["run", "baseline", "--tim", str(tim), "--out", str(tim.parent)], capsys,
            "contains the input")
    assert snapshot(tim) == before


def test_a_link_cannot_hide_the_input(tim, tmp_path, capsys):
    link = tmp_path / "looks-new"
    link.symlink_to(tim, target_is_directory=True)
    refused(["tiles", str(tim), "--out", str(link)], capsys, "is the input")
    assert (tim / "manifest.json").is_file()


def test_an_existing_file_is_not_turned_into_a_folder(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    dem = tmp_path / "dem.tif"
    dem.write_bytes(b"\x00")
    refused(["tim", "build", str(dem), "--out", str(notes)], capsys, "existing file")
    refused(["tim", "build", f"elevation={dem}", "--out", str(dem)], capsys, "existing file")
    assert notes.read_text() == "keep me"


def test_file_outputs_and_named_inputs(tmp_path, capsys):
    start = tmp_path / "lu.tif"
    start.write_bytes(b"\x00")
    params = tmp_path / "cal"
    params.mkdir()
    (params / "parameters.yaml").write_text("format: x\n")
    base = ["simulate", "--start", str(start), "--start-year", "2005",
            "--params", str(params / "parameters.yaml"), "--demand", "d.csv"]
    refused([*base, "--out", str(params)], capsys, "existing directory")
    refused([*base, "--out", str(start)], capsys, "is the input")
    maps = ["calibrate", "--map", f"2003={start}", "--map", f"2005={start}"]
    refused([*maps, "--out", str(tmp_path)], capsys, "contains the input")


def test_compare_and_publish_never_write_into_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    refused(["compare", str(run), "--out", str(run / "report")], capsys, "lies inside")
    refused(["publish", str(run), "--tiles", str(run)], capsys, "--tiles", "is the input")


def test_the_working_directory_and_the_shared_data_are_never_replaced(tmp_path, capsys,
                                                                      monkeypatch):
    work = tmp_path / "project" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    refused(["demo", "--no-serve", "--out", str(tmp_path / "project")], capsys,
            "working directory")
    data = tmp_path / "data"
    (data / "city").mkdir(parents=True)
    monkeypatch.setenv("TWIN_DATA", str(data))
    refused(["example", "denhaag", str(tmp_path)], capsys, "OUT_DIR", "contains the input")
    assert (data / "city").is_dir()


def test_the_command_line_refuses_without_a_traceback(tim):
    """The same refusal as a user sees it, in a process of its own."""
    done = subprocess.run([sys.executable, "-m", "viz.cli", "run", "baseline", "--tim",
                           str(tim), "--out", str(tim)], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("twin: error: --out: is the input")
    assert (tim / "manifest.json").read_text() == '{"name": "t"}'
