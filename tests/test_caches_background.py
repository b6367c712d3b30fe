"""The run's speed-ups change nothing but time: derived-layer cache, GeoJSON writer,
map and figure rendering in a second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geotool import _background, _cache, _geojson, clusters, settings


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "cache_dir", tmp_path)
    return tmp_path


def _clear():
    for fn in (clusters._polygons, clusters._members, clusters._membership):
        fn.cache_clear()


def test_derived_layers_read_back_equal_to_computed(cache_dir):
    _clear()
    computed = clusters.polygons("plans")
    files = sorted((cache_dir / "derived").glob("geotool.clusters._polygons.*.parquet"))
    assert len(files) == 1
    _clear()  # a new process has only the disk
    again = clusters.polygons("plans")
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.drop(columns="geometry")),
        pd.DataFrame(computed.drop(columns="geometry")),
    )
    assert again.geometry.geom_equals_exact(computed.geometry, 0).all()
    assert again.crs == computed.crs


def test_a_fresh_process_reads_the_layer_instead_of_computing_it(cache_dir):
    code = (
        "import time; from geotool import clusters, settings; "
        f"settings.cache_dir = __import__('pathlib').Path({str(cache_dir)!r}); "
        "t = time.perf_counter(); clusters.check_geometry('plans'); "
        "print(time.perf_counter() - t)"
    )
    first = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)  # fmt: skip
    names = {p.name.split(".")[2] for p in (cache_dir / "derived").iterdir()}
    assert {"_check_geometry", "_polygons", "_members"} <= names
    second = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout)  # fmt: skip
    assert second < first / 3  # read, not computed (typically ~0.01 s against ~0.5 s)


def test_changed_data_is_a_miss_and_a_corrupt_file_is_recomputed(
    cache_dir, tmp_path_factory, monkeypatch
):
    def files():
        return sorted((cache_dir / "derived").glob("geotool.clusters._polygons.*.parquet"))

    _clear()
    first = clusters.polygons("report2020")
    (ours,) = files()
    # a copy of the data folder is another install: its layer is kept beside ours
    data = tmp_path_factory.mktemp("data")
    for f in Path(settings.data_dir).iterdir():
        if f.is_file():
            (data / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(settings, "data_dir", data)
    _clear()
    clusters.polygons("report2020")
    assert len(files()) == 2
    (copy,) = [f for f in files() if f != ours]
    # a file of the copy touched: another fingerprint, a miss; the copy's old layer goes
    os.utime(data / "cluster_cores.csv", ns=(1, 1))
    _cache._fingerprint_of.cache_clear()
    _clear()
    clusters.polygons("report2020")
    assert len(files()) == 2 and ours in files() and copy not in files()
    monkeypatch.undo()
    monkeypatch.setattr(settings, "cache_dir", cache_dir)
    ours.write_bytes(b"not a table")  # a corrupt file is a miss, recomputed and replaced
    _clear()
    again = clusters.polygons("report2020")
    assert again.geometry.geom_equals_exact(first.geometry, 0).all()
    assert pd.read_parquet(ours).shape == first.shape  # plain data again (WKB geometry)


def test_no_cache_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "cache_dir", None)
    monkeypatch.chdir(tmp_path)
    _clear()
    assert len(clusters.polygons("report2020")) > 0
    assert _cache._disk_path(clusters._polygons, ("x",), str) is None
    assert not any(tmp_path.iterdir())


def test_geojson_writer_matches_geopandas(counties):
    frame = counties.iloc[:300][["name", "province", "geometry"]].copy()
    frame["value"] = np.where(np.arange(300) % 7 == 0, np.nan, np.arange(300) / 3)
    frame["count"] = np.arange(300)
    frame.loc[frame.index[5], "geometry"] = None
    ours = json.loads(_geojson.dumps(frame))
    theirs = json.loads(frame.to_json(ensure_ascii=False))
    assert ours == theirs
    back = gpd.read_file(_geojson.dumps(frame).encode())
    assert shapely.equals_exact(
        back.geometry.iloc[:5].to_numpy(), frame.geometry.iloc[:5].to_numpy(), 0
    ).all()


def test_background_returns_values_and_raises_errors(monkeypatch):
    for on in (True, False):
        monkeypatch.setattr(settings, "background", on)
        assert _background.start(lambda: {"pid": os.getpid(), "x": [1, 2]}).result()["x"] == [1, 2]
        pending = _background.start(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            pending.result()
    monkeypatch.setattr(settings, "background", True)
    if _background.forking():  # the work ran in another process
        assert _background.start(os.getpid).result() != os.getpid()


_WARMED: list[str] = []


def _warm_slowly(marker: Path | None = None, seconds: float = 0.0) -> None:
    import time

    time.sleep(seconds)
    _WARMED.append("warm")  # in the child's memory only
    if marker is not None:
        marker.write_text("warm")


def _what_ran(big: np.ndarray, *, extra: int) -> tuple[list[str], int, float, int]:
    return list(_WARMED), os.getpid(), float(big.sum()), extra


def test_prepared_work_warms_while_the_parent_goes_on(tmp_path, monkeypatch):
    """The child warms up before its arguments arrive; the parent is not held up by a
    child still warming, even with arguments larger than a pipe holds (64 kB)."""
    monkeypatch.setattr(settings, "background", True)
    if not _background.forking():
        pytest.skip("no fork here: work runs at once")
    marker = tmp_path / "warmed"
    prepared = _background.prepare(_what_ran, warm=lambda: _warm_slowly(marker, seconds=2.0))
    big = np.ones(1_000_000)  # 8 MB pickled
    pending = prepared.submit(big, extra=7)
    assert not marker.exists()  # submit returned while the child was still warming
    warmed, pid, total, extra = pending.result()
    assert (warmed, total, extra) == (["warm"], 1_000_000.0, 7)
    assert pid != os.getpid() and _WARMED == []
    with pytest.raises(RuntimeError, match="already submitted"):
        prepared.submit(big, extra=1)


def test_prepared_work_in_one_process_skips_warm_and_runs_at_submit(monkeypatch):
    monkeypatch.setattr(settings, "background", False)
    prepared = _background.prepare(_what_ran, warm=_warm_slowly)
    assert _WARMED == []
    warmed, pid, total, extra = prepared.submit(np.ones(3), extra=2).result()
    assert (warmed, pid, total, extra) == ([], os.getpid(), 3.0, 2)


def test_prepared_work_reports_a_failed_warm_and_refuses_unpicklable_arguments(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(settings, "background", True)
    if not _background.forking():
        pytest.skip("no fork here: work runs at once")
    broken = _background.prepare(_what_ran, warm=lambda: __import__("no_such_module_here"))
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        broken.submit(np.ones(2), extra=0).result()
    unpicklable = _background.prepare(_what_ran)
    with pytest.raises(Exception, match=r"pickle|lambda"):
        unpicklable.submit(np.ones(2), extra=lambda: 0)
    unpicklable.cancel()  # the waiting child is stopped
    waiting = _background.prepare(_what_ran, warm=lambda: _warm_slowly(seconds=60))
    waiting.cancel()
    assert not [p for p in multiprocessing.active_children() if p.name == "geotool-background"]


def _take_places(taken, pause: float, places: int) -> list[int]:
    """Walk the places in order, drawing (pausing) those this process takes."""
    import time

    from geotool import pipeline

    take, mine = pipeline._taker(taken), []
    for place in range(places):
        if take(place):
            mine.append(place)
            time.sleep(pause)
    return mine


def test_a_forked_process_that_itself_forks_shares_the_figures_once_each(monkeypatch):
    """The figures' process (``forks=True``, it may have children) and the one it forks
    take each figure exactly once between them, the faster taking more."""
    import multiprocessing
    from functools import partial

    monkeypatch.setattr(settings, "background", True)
    if not _background.forking():
        pytest.skip("no fork here: work runs at once")

    def both(_: int) -> tuple[list[int], list[int]]:
        taken = multiprocessing.get_context("fork").Value("i", 0)
        other = _background.start(partial(_take_places, taken, 0.02, 60))
        return _take_places(taken, 0.002, 60), other.result()

    ours, theirs = _background.prepare(both, forks=True).submit(0).result()
    assert sorted(ours + theirs) == list(range(60)) and not set(ours) & set(theirs)
    assert len(ours) > len(theirs)  # the faster process drew more
    daemonic = _background.prepare(both)  # a daemon may not fork: an error, reported
    with pytest.raises(AssertionError, match="daemonic"):
        daemonic.submit(0).result()


def test_cluster_colours_are_matplotlibs_tab20():
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from geotool.maps.pages import TAB20

    assert list(TAB20) == [to_hex(colormaps["tab20"](i)) for i in range(20)]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file of a run but its summary (timings) and manifest (times)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("summary.json", ".geotool-manifest.json")
    }


def test_a_run_is_the_same_with_and_without_the_second_process(tmp_path, shared_run):
    """Every file byte for byte (the summary but for its timings), forked or not; map
    pages too (folium's random element ids are numbered). Forked: conftest's report run
    (``GEOTOOL_BACKGROUND=1``), the same arguments here without."""
    from .conftest import SHARED_ENV, SHARED_RUNS

    forked = shared_run("report_zh")
    assert forked.returncode == 0, forked.stderr[-2000:]
    outs = {"1": forked.out, "0": tmp_path / "bg0"}
    env = {**os.environ, **SHARED_ENV, "GEOTOOL_BACKGROUND": "0"}
    subprocess.run(
        [sys.executable, "-m", "geotool.cli", "run", *SHARED_RUNS["report_zh"], "--out",
         str(outs["0"])],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    a, b = _tree(outs["1"]), _tree(outs["0"])
    assert sorted(a) == sorted(b)
    different = [k for k in a if a[k] != b[k]]
    assert different == []
    sa, sb = (json.loads((outs[k] / "summary.json").read_text()) for k in ("1", "0"))
    sa.pop("timings_s"), sb.pop("timings_s")
    assert sorted(sa.pop("files")) == sorted(sb.pop("files"))
    assert sa == sb


def test_work_still_running_is_stopped_by_cancel(monkeypatch):
    import multiprocessing
    import time

    monkeypatch.setattr(settings, "background", True)
    if not _background.forking():
        pytest.skip("no fork here: work runs at once")
    start = time.perf_counter()
    pending = _background.start(lambda: time.sleep(60))
    pending.cancel()
    assert time.perf_counter() - start < 10
    assert not [p for p in multiprocessing.active_children() if p.name == "geotool-background"]


def test_a_failed_run_stops_its_other_processes_and_leaves_no_output(tmp_path, monkeypatch):
    import multiprocessing

    from geotool import pipeline
    from geotool._errors import DataError
    from geotool.report import study as report

    monkeypatch.setattr(settings, "background", True)

    def broken(*args, **kwargs):
        raise DataError("clusters broke")

    # the clusters stage runs after both renderers have started
    monkeypatch.setattr(pipeline.clusters, "ranking_counts", broken)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="clusters broke"):
        report.run(report.study(out=out, permutations=99, seed=1))
    assert not [p for p in multiprocessing.active_children() if p.name == "geotool-background"]
    left = [p.name for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert left in ([], [".geotool-lock"])  # the folder's lock file, as after any failure


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GEOTOOL_CACHE_DIR": "off"}, "None"),
        ({"GEOTOOL_CACHE_DIR": "/tmp/gt-cache"}, "/tmp/gt-cache"),
        ({"GEOTOOL_CACHE_DIR": "", "XDG_CACHE_HOME": "/tmp/xdg"}, "/tmp/xdg/geotool"),
    ],
)
def test_the_cache_folder_comes_from_the_environment(env, expected):
    code = "from geotool import settings; print(settings.cache_dir)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    assert out == expected


def test_no_submit_after_cancel(monkeypatch):
    for on in (True, False):
        monkeypatch.setattr(settings, "background", on)
        prepared = _background.prepare(_what_ran)
        prepared.cancel()
        with pytest.raises(RuntimeError, match="cancelled"):
            prepared.submit(np.ones(2), extra=0)
