"""Monitoring on the full Wuhan grid (2931 x 2931 = 8.6 M cells), each beside a plain NumPy /
SciPy baseline (compare rows of one group: the ratio is the speed-up).

- ``labelling``: :func:`engine.kernels.labelling.label` (one pass, every transition) vs
  ``scipy.ndimage.label`` of each transition's mask in turn, on the 2005 -> 2010 changes.
- ``changes``: :func:`scenarios.monitoring.changes.change_patches` (goal: <= 5 s) vs the same
  patches and statistics with SciPy (label per transition, ``ndimage.sum`` per line) - the
  baseline's patch count and areas are checked equal to ours.
- ``distance``: :func:`engine.suitability.distance_to` (the exact transform of
  :mod:`engine.kernels.distance`, Numba) vs ``scipy.ndimage.distance_transform_edt``, from the
  2005 built-up land (the derived development boundary's buffer) - equal distances checked.
- ``changes-command``: ``twin changes`` end to end as :func:`scenarios.monitoring.changes.
  run_changes` runs it (read the TIM and both maps, derive the lines, patches, write the folder
  with polygons and the en + zh_CN reports; goal: <= 5 s) - no baseline of its own: its
  stages' baselines are the rows above.
- ``assess``: :func:`scenarios.monitoring.assess.assess` over 2003, 2005, 2010 (goal: <= 30 s)
  vs the same with the scenarios' stock roll-up (``scenarios.areas.Areas.sums``).
- ``evaluate``: 双评价 with the default rules (goal: <= 20 s) vs the same with the habitat
  patches labelled by ``scipy.ndimage.label``.

Setup (reading the maps, deriving the stand-in lines) is not timed. Skipped without the data
(TWIN_DATA). ``python benchmarks/bench_monitoring.py`` prints one wall / CPU time of each.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from validators import twin_data as twin_data_dir  # noqa: E402


def load():
    """(territory, maps by year, derived lines) of Wuhan: the wuhan-2010 catalog's TIM."""
    from scenarios.monitoring.observed import control_lines, read_observed_raster, read_series
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog

    d = twin_data_dir() / "landuse/wuhan"
    if not (d / "wh2010_refy.tif").is_file():
        pytest.skip(f"Wuhan data not found in {d}")
    territory = build_from_catalog(load_catalog("wuhan-2010"))
    maps = read_series(territory, {y: d / f"wh{y}_refy.tif" for y in (2003, 2005, 2010)})
    water = read_observed_raster(d / "WaterWuhan.tif", territory, "water")
    lines = control_lines(territory, reference=maps[2005], water_constraint=water,
                          derive=True)
    return territory, maps, lines


@pytest.fixture(scope="module")
def wuhan():
    return load()


def scipy_patches(before, after, masks, cell_ha, min_area_ha):
    """Baseline: per transition, scipy.ndimage.label and ndimage.sum; (areas, inside)."""
    from scipy import ndimage

    changed = (before != after) & (before != 255) & (after != 255)
    pairs = np.unique(before[changed].astype(np.int32) * 256 + after[changed])
    areas, inside = [], []
    for pair in pairs:
        mask = changed & (before == pair // 256) & (after == pair % 256)
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        index = np.arange(1, n + 1)
        cells = ndimage.sum_labels(mask, labels, index)
        keep = cells * cell_ha >= min_area_ha - 1e-9
        areas.append(cells[keep] * cell_ha)
        inside.append(np.stack([ndimage.sum_labels(m, labels, index)[keep] for m in masks], 1))
    return np.concatenate(areas), np.concatenate(inside)


@pytest.mark.benchmark(group="monitoring-labelling")
@pytest.mark.parametrize("impl", ["numba", "scipy"])
def test_labelling(benchmark, wuhan, impl):
    from scipy import ndimage

    from engine.kernels.labelling import label

    _, maps, _ = wuhan
    a, b = maps[2005], maps[2010]
    changed = (a != b) & (a != 255) & (b != 255)
    key = np.where(changed, a.astype(np.int32) * 256 + b + 1, 0)
    if impl == "numba":
        label(key[:50, :50])  # compile outside the timing
        _, n = benchmark(label, key)
    else:
        def per_pair():
            total = 0
            for pair in np.unique(key[changed]):
                total += ndimage.label(key == pair, structure=np.ones((3, 3)))[1]
            return total
        n = benchmark.pedantic(per_pair, rounds=1, iterations=1)
    assert n > 100_000  # about 166 k patches before the minimum size


@pytest.mark.benchmark(group="monitoring-changes")
@pytest.mark.parametrize("impl", ["ours", "scipy"])
def test_changes(benchmark, wuhan, impl):
    from scenarios.monitoring.changes import change_patches

    territory, maps, lines = wuhan
    cell_ha = territory.grid.cell_area / 1e4
    ours = change_patches(territory, maps[2005], maps[2010], lines)  # warm (compile)
    if impl == "ours":
        result = benchmark.pedantic(change_patches, args=(territory, maps[2005], maps[2010],
                                                          lines), rounds=2, iterations=1)
        assert len(result.patches) == len(ours.patches)
    else:
        masks = [lines.masks[n] for n in lines.masks]
        areas, inside = benchmark.pedantic(scipy_patches, args=(
            maps[2005], maps[2010], masks, cell_ha, 1.0), rounds=1, iterations=1)
        assert len(areas) == len(ours.patches)
        assert areas.sum() == pytest.approx(ours.patches["area_ha"].sum())
        red = list(lines.masks).index("ecological_red_line")
        assert inside[:, red].sum() * cell_ha == pytest.approx(
            ours.patches["red_line_ha"].sum())


@pytest.mark.benchmark(group="monitoring-distance")
@pytest.mark.parametrize("impl", ["numba", "scipy"])
def test_distance(benchmark, wuhan, impl):
    from scipy import ndimage

    from engine.suitability import distance_to

    territory, maps, _ = wuhan
    towns = maps[2005] == territory.classes.built.code
    cell = territory.grid.cell_size
    ours = distance_to(towns, cell)  # warm (compile)
    if impl == "numba":
        got = benchmark.pedantic(distance_to, args=(towns, cell), rounds=2, iterations=1)
    else:
        got = benchmark.pedantic(lambda: ndimage.distance_transform_edt(
            ~towns, sampling=(cell[1], cell[0])).astype(np.float32), rounds=1, iterations=1)
    np.testing.assert_array_equal(got, ours)


@pytest.fixture(scope="module")
def wuhan_store(wuhan, tmp_path_factory):
    from tim.store import save_territory

    return save_territory(wuhan[0], tmp_path_factory.mktemp("wuhan") / "tim")


def changes_command(tim, out):
    """``twin changes`` on Wuhan 2005 -> 2010 with derived lines, as docs/monitoring.md runs
    it (without the PDF)."""
    from scenarios.monitoring.changes import run_changes

    d = twin_data_dir() / "landuse/wuhan"
    return run_changes(tim, f"2005={d / 'wh2005_refy.tif'}", f"2010={d / 'wh2010_refy.tif'}",
                       out, derive_lines=True, water_constraint=d / "WaterWuhan.tif",
                       langs=("en", "zh_CN"))


@pytest.mark.benchmark(group="monitoring-changes-command")
def test_changes_command(benchmark, wuhan_store, tmp_path):
    result = benchmark.pedantic(changes_command, args=(wuhan_store, tmp_path / "changes"),
                                rounds=1, iterations=1)
    assert (tmp_path / "changes" / "patches.gpkg").is_file() and len(result.patches) > 10_000


@pytest.mark.benchmark(group="monitoring-assess")
@pytest.mark.parametrize("impl", ["ours", "stock-rollup"])
def test_assess(benchmark, wuhan, impl, monkeypatch):
    import scenarios.monitoring.assess as assess_module

    territory, maps, lines = wuhan
    people = {2010: territory.fields["population__count"]}
    if impl == "stock-rollup":
        from scenarios.areas import Areas

        monkeypatch.setattr(assess_module, "_Areas", Areas)
    result = benchmark.pedantic(assess_module.assess, args=(territory, maps, lines),
                                kwargs={"population": people}, rounds=1, iterations=1)
    assert result.years == [2003, 2005, 2010]


@pytest.mark.benchmark(group="monitoring-evaluate")
@pytest.mark.parametrize("impl", ["ours", "scipy-label"])
def test_evaluate(benchmark, wuhan, impl, monkeypatch):
    from scenarios.monitoring.evaluation import evaluate, load_rules

    territory, maps, _ = wuhan
    if impl == "scipy-label":
        import engine.kernels.labelling as labelling
        from scipy import ndimage

        monkeypatch.setattr(labelling, "label", lambda m, connectivity=8: ndimage.label(
            m, structure=np.ones((3, 3))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = benchmark.pedantic(evaluate, args=(territory, load_rules()), rounds=1,
                                    iterations=1)
    assert set(result.grades) == {"ecological_importance", "agricultural_suitability",
                                  "urban_suitability"}


def main() -> None:
    """One run of each, wall and CPU seconds (the machine's load shows as their gap)."""
    from scenarios.monitoring.assess import assess
    from scenarios.monitoring.changes import change_patches
    from scenarios.monitoring.evaluation import evaluate

    import shutil
    import tempfile

    from tim.store import save_territory

    territory, maps, lines = load()
    change_patches(territory, maps[2005], maps[2010], lines)  # compile
    people = {2010: territory.fields["population__count"]}
    tmp = Path(tempfile.mkdtemp())
    tim = save_territory(territory, tmp / "tim")
    jobs = {"changes 2005->2010": lambda: change_patches(territory, maps[2005], maps[2010],
                                                         lines),
            "twin changes, end to end": lambda: changes_command(tim, tmp / "changes"),
            "assess 2003, 2005, 2010": lambda: assess(territory, maps, lines,
                                                      population=people),
            "evaluate (双评价)": lambda: evaluate(territory)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, job in jobs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            job()
            print(f"{name}: {time.perf_counter() - wall:.2f} s wall, "
                  f"{time.process_time() - cpu:.2f} s CPU")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
