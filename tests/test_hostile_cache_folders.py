"""Hostile cache entries and shared folders: files others can write stay data (issue 22).

The derived-layer cache may be a shared folder; output folders may be written by two
runs at once, or killed mid-way. Every case here is built as an attacker or an
unlucky user would: real payloads, real processes, the bundled data.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geotool import _cache, clusters, settings
from geotool.maps import _linked
from geotool.report import check

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this runs ``touch MARKER`` (what an attacker would put in a cache)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _set() -> tuple[str, tuple[str, ...]]:
    name, defs = clusters.load_set("report2020")
    return name, tuple(defs)


def _derived() -> list:
    """(function, args) of every disk-cached function, on the bundled data."""
    name, defs = _set()
    return [
        (clusters._members, (defs[0],)),
        (clusters._prefecture_membership, (name, defs)),
        (clusters._membership, (name, defs)),
        (clusters._polygons, (defs,)),
        (clusters._check_geometry, (defs,)),
        (clusters._core_distances, (name, defs)),
        (clusters.county_contiguity, ()),
        (check._check_report, ()),
        (_linked._bundled_paths, ()),
        (_linked._maritime_path, (250.0,)),
    ]


def _same(a, b) -> None:
    """Assert two results of a derived function are equal (frames, weights, tuples...)."""
    assert type(a) is type(b)
    if isinstance(a, pd.DataFrame):
        if "geometry" in a.columns:
            assert a.geometry.geom_equals_exact(b.geometry, 0).all() and a.crs == b.crs
            a, b = (
                pd.DataFrame(a.drop(columns="geometry")),
                pd.DataFrame(b.drop(columns="geometry")),
            )
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert type(a.index) is type(b.index)
    elif hasattr(a, "sparse"):
        assert (a.sparse != b.sparse).nnz == 0 and a.sparse.shape == b.sparse.shape
        assert a.ids.equals(b.ids) and a.ids.dtype == b.ids.dtype and a.ids.name == b.ids.name
        assert (a.spec, a.report) == (b.spec, b.report)
    elif isinstance(a, tuple):
        assert a[:2] == b[:2] and np.array_equal(a[2], b[2]) and a[2].dtype == b[2].dtype
        assert a[3] == b[3]
    else:
        assert a == b


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every derived result computed once (no entry to read yet) and the entries written."""
    folder = tmp_path_factory.mktemp("made")
    saved = settings.cache_dir
    settings.cache_dir = folder
    try:
        for fn, _ in _derived():
            fn.cache_clear()
        truth = {fn.__name__: fn(*args) for fn, args in _derived()}
        return truth, folder / "derived"
    finally:
        settings.cache_dir = saved
        for fn, _ in _derived():
            fn.cache_clear()


@pytest.fixture
def computed(made):
    return made[0]


@pytest.fixture
def cache(tmp_path, monkeypatch, made):
    """A fresh cache folder holding every derived entry, written by geotool itself."""
    folder = tmp_path / "cache" / "derived"
    folder.mkdir(parents=True)
    for entry in made[1].iterdir():
        (folder / entry.name).write_bytes(entry.read_bytes())
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")
    yield folder
    for fn, _ in _derived():
        fn.cache_clear()


def _entry(folder: Path, fn, args) -> Path:
    path = fn.cache_file(*args)
    assert path.parent == folder and path.is_file()
    return path


def _reread(fn, args, computed, caplog) -> list[str]:
    """Read ``fn`` again as a fresh process would; return the cache warnings logged."""
    caplog.clear()
    fn.cache_clear()
    with caplog.at_level(logging.WARNING, logger="geotool"):
        _same(fn(*args), computed[fn.__name__])
    fn.cache_clear()
    return [r.getMessage() for r in caplog.records if "cache entry" in r.getMessage()]


def test_every_derived_result_is_stored_as_data_and_reads_back_equal(cache, computed, caplog):
    suffixes = {}
    for fn, args in _derived():
        path = _entry(cache, fn, args)
        suffixes[fn.__name__] = path.suffix
        assert not _reread(fn, args, computed, caplog)
        head = path.read_bytes()[:4]
        assert head in (b"PAR1", b"PK\x03\x04") or path.suffix == ".json", path
    assert suffixes["_polygons"] == ".parquet" and suffixes["_bundled_paths"] == ".npz"
    assert suffixes["_check_geometry"] == ".json" and suffixes["county_contiguity"] == ".npz"


def _poisons(marker: Path, good: bytes) -> dict[str, bytes]:
    """Hostile replacements for a good entry."""
    table = pq.read_table(io.BytesIO(good)) if good[:4] == b"PAR1" else None
    out = {
        "os.system pickle": pickle.dumps(_Payload(marker)),
        "foreign pickle": pickle.dumps({"definition": ["x"], "n": 1}),
        "random bytes": np.random.default_rng(7).bytes(4096),
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "json of another type": json.dumps([1, 2, 3]).encode(),
    }
    if table is not None:
        buf = io.BytesIO()
        pq.write_table(table.drop_columns([table.column_names[-1]]), buf)
        out["parquet missing a column"] = buf.getvalue()
        buf = io.BytesIO()
        pq.write_table(
            table.slice(0, 3).rename_columns([f"c{i}" for i in range(table.num_columns)]), buf
        )
        out["parquet of other columns"] = buf.getvalue()
        buf = io.BytesIO()
        first = table.column_names[0]
        wrong = pa.array([1.5] * table.num_rows)
        pq.write_table(
            table.set_column(0, first, wrong).replace_schema_metadata(table.schema.metadata), buf
        )
        out["parquet, a column of another type"] = buf.getvalue()
        buf = io.BytesIO()
        pd.DataFrame({"a": [1, 2]}).to_parquet(buf)
        out["pandas parquet"] = buf.getvalue()
    if good[:2] == b"PK":
        buf = io.BytesIO()
        obj = np.empty(1, dtype=object)
        obj[0] = _Payload(marker)
        np.savez(buf, tree=np.frombuffer(b"[0]", dtype=np.uint8), a0=obj)
        out["npz with a pickled object array"] = buf.getvalue()
        buf = io.BytesIO()
        np.savez(buf, tree=np.frombuffer(b"[[], [], 0, 1.0]", dtype=np.uint8), a0=np.zeros((2, 3)))
        out["npz of another shape"] = buf.getvalue()
    return out


_FEW = ("os.system pickle", "truncated", "parquet of other columns", "npz of another shape")


@pytest.mark.parametrize(
    "case",
    [("_members", True), ("_check_report", True), ("county_contiguity", True),
     ("_check_geometry", True), ("_polygons", False), ("_bundled_paths", False),
     ("_membership", False)],
)  # fmt: skip
def test_poisoned_entries_are_misses_never_code(case, cache, computed, caplog, tmp_path):
    """Each format (Parquet, .npz, JSON) against every poison; costly layers against a few."""
    which, every = case
    fn, args = next((f, a) for f, a in _derived() if f.__name__ == which)
    path = _entry(cache, fn, args)
    good = path.read_bytes()
    marker = tmp_path / "pwned"
    for label, data in _poisons(marker, good).items():
        if not every and label not in _FEW:
            continue
        path.write_bytes(data)
        warned = _reread(fn, args, computed, caplog)
        assert not marker.exists(), label  # the pickle was never run
        assert len(warned) == 1 and str(path) in warned[0], (label, warned)
        assert path.read_bytes() != data, label  # replaced by the truth
        path.write_bytes(data)
        assert len(_reread(fn, args, computed, caplog)) == 0  # logged once per entry
        _cache._warned.discard(str(path))


def test_a_read_only_poisoned_cache_still_gives_the_right_answer(
    cache, computed, caplog, tmp_path, monkeypatch
):
    import errno

    from geotool import _atomic

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(_atomic, "write_atomic", read_only)  # root ignores chmod
    fn, args = clusters._polygons, _derived()[3][1]
    path = _entry(cache, fn, args)
    marker = tmp_path / "pwned"
    poison = pickle.dumps(_Payload(marker))
    path.write_bytes(poison)
    warned = [_reread(fn, args, computed, caplog) for _ in range(3)]
    assert not marker.exists() and path.read_bytes() == poison  # left, never run
    assert [len(w) for w in warned] == [1, 0, 0]
    _cache._warned.discard(str(path))


def test_the_cli_never_runs_a_pickle_planted_in_a_shared_cache(tmp_path, computed):
    """``geotool clusters`` over a cache where every entry (and legacy names) is a payload."""
    shared = tmp_path / "shared"
    env = {**os.environ, "GEOTOOL_CACHE_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "geotool.cli", "clusters", "--json", "--permutations", "99"]
    clean = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    marker = tmp_path / "pwned"
    entries = list((shared / "derived").iterdir())
    assert entries
    for path in entries:
        path.write_bytes(pickle.dumps(_Payload(marker)))
        path.with_suffix(".pickle").write_bytes(pickle.dumps(_Payload(marker)))
    poisoned = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert poisoned.returncode == 0, poisoned.stderr
    assert not marker.exists()
    assert json.loads(poisoned.stdout) == json.loads(clean.stdout)
    assert "internal error" not in poisoned.stderr and "ignored the cache entry" in poisoned.stderr


def test_nothing_in_the_package_unpickles_or_evaluates_files():
    """No load path of the package can run code: no pickle, marshal, shelve, joblib, dill,
    ``allow_pickle=True``, ``yaml.load`` without SafeLoader, ``eval``/``exec`` of text.
    ``_background`` unpickles only what its own forked child sends through a pipe."""
    banned = re.compile(
        r"\bpickle\.loads?\(|\bimport (pickle|marshal|shelve|joblib|dill|cloudpickle)\b"
        r"|allow_pickle\s*=\s*True|\byaml\.(unsafe_)?load\(|\byaml\.full_load\("
        r"|(?<![\w.])(eval|exec)\(|read_pickle|np\.load\((?!.*allow_pickle=False)"
    )
    found = []
    for path in sorted((ROOT / "geotool").rglob("*.py")):
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if banned.search(line):
                found.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert found == []
