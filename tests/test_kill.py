"""Outputs survive ``kill -9``: SIGKILL at a random point of ``twin tim build``, ``run``,
``tiles`` and ``publish`` leaves the previous result whole under its name, and the next run
leaves no litter (staging or retired folders, lock files). Also: a kill between the two renames
of the fallback swap, two writers on one output, and ``twin tiles`` keeping published overlays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tim import atomic

REPO = Path(__file__).resolve().parents[1]
RNG = random.Random(20261207)  # the kill points: random, but the same on every run


def _twin(*argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "viz.cli", *map(str, argv)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _complete(*argv) -> float:
    started = time.perf_counter()
    proc = _twin(*argv)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    return time.perf_counter() - started


def _kill_at(seconds: float, *argv) -> None:
    proc = _twin(*argv)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)


def _litter(folder: Path) -> list[str]:
    """Hidden files and folders anywhere under ``folder`` (staging, retired, locks)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in
                                       p.relative_to(folder).parts)}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    from tim.sample import write_sample_sources

    root = tmp_path_factory.mktemp("kill")
    return {"root": root, "catalog": write_sample_sources(root / "src")}


def _check_tim(path: Path) -> None:
    from tim.store import load_territory

    assert load_territory(path, layers=True).fields


def _check_run(path: Path) -> None:
    from scenarios.rundir import RunDirectory

    run = RunDirectory.open(path)
    assert len(run.indicators) > 0


def _check_tiles(path: Path) -> None:
    root = json.loads((path / "tileset.json").read_text())
    assert root["root"]
    for tileset in path.rglob("tileset.json"):
        json.loads(tileset.read_text())


def _check_overlays(path: Path) -> None:
    index = json.loads((path / "overlays" / "index.json").read_text())
    for name, entry in index["overlays"].items():
        assert (path / "overlays" / entry["file"]).is_file(), name


@pytest.mark.parametrize("stage", ["tim build", "run", "tiles", "publish"])
def test_sigkill_at_a_random_point_keeps_the_prior_result(workspace, stage):
    root = workspace["root"]
    tim, run, tiles = root / "tim", root / "run", root / "tiles"
    commands = {
        "tim build": (["tim", "build", "--catalog", workspace["catalog"], "--out", tim], tim,
                      _check_tim),
        "run": (["run", "baseline", "--tim", tim, "--out", run], run, _check_run),
        "tiles": (["tiles", tim, "--out", tiles, "--parts", "buildings"], tiles, _check_tiles),
        "publish": (["publish", run, "--tiles", tiles, "--new-buildings"], tiles,
                    _check_overlays),
    }
    argv, out, check = commands[stage]
    took = _complete(*argv)  # the prior result (the stages run in order: each needs the last)
    check(out)
    before = _snapshot(out)
    kill_after = RNG.uniform(0.3, 1.0) * took
    _kill_at(kill_after, *argv)
    check(out)  # whole, old or new
    assert _snapshot(out) == before
    _complete(*argv)
    check(out)
    assert _litter(root) == [], f"killed after {kill_after:.1f} s"
    if stage == "publish":
        assert any(name.startswith("new-buildings-baseline") for name in json.loads(
            (out / "overlays" / "index.json").read_text())["overlays"])


def test_tiles_keep_the_overlays_that_publish_wrote(workspace):
    root = workspace["root"]
    tiles = root / "tiles"
    if not (tiles / "overlays" / "index.json").is_file():
        pytest.skip("needs the publish stage above")
    index = json.loads((tiles / "overlays" / "index.json").read_text())["overlays"]
    assert any(name.startswith("new-buildings-") for name in index)
    _complete("tiles", root / "tim", "--out", tiles, "--parts", "buildings")
    again = json.loads((tiles / "overlays" / "index.json").read_text())["overlays"]
    assert set(index) <= set(again)
    _check_overlays(tiles)


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from tim import atomic
atomic._exchange = lambda a, b: False          # the two-rename fallback
real = os.replace
calls = []
def replace(a, b):
    real(a, b)
    calls.append(b)
    if len(calls) == 1:                           # old result retired, new not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
with atomic.atomic_directory(sys.argv[1]) as tmp:
    (tmp / "result.txt").write_text("new")
"""


def test_a_kill_between_the_two_renames_keeps_the_old_result(tmp_path):
    out = tmp_path / "result"
    with atomic.atomic_directory(out) as tmp:
        (tmp / "result.txt").write_text("old")
    done = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(out)],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert not out.exists() and any(".old-" in p for p in _litter(tmp_path))
    with atomic.output_lock(out):  # what the next writer does first
        atomic.recover(out)
    assert (out / "result.txt").read_text() == "old"
    assert _litter(tmp_path) == []


def test_the_swap_never_leaves_the_final_name_empty(tmp_path):
    """With renameat2 exchange (Linux), the final name holds a whole result at every
    instant: a reader polling in a tight loop during 30 swaps never misses it."""
    import threading

    out = tmp_path / "result"
    with atomic.atomic_directory(out) as tmp:
        (tmp / "v").write_text("0")
    missing = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                (out / "v").read_text()
            except FileNotFoundError:
                missing.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    for k in range(30):
        with atomic.atomic_directory(out) as tmp:
            (tmp / "v").write_text(str(k))
    stop.set()
    thread.join()
    assert missing == []
    assert (out / "v").read_text() == "29" and _litter(tmp_path) == []


def test_two_writers_on_one_output_fail_fast(tmp_path, capsys):
    from viz.cli import main

    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom tim.atomic import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
         str(out)], env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        # The TIM does not exist: refused for the lock, the command did no work at all.
        code = main(["run", "baseline", "--tim", str(tmp_path / "no-tim"), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and f"pid {holder.pid}" in err and "writing this output" in err
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock went with it
    with atomic.output_lock(out):
        pass
    assert _litter(tmp_path) == []
