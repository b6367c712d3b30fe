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
import signal
import subprocess
import sys
import time
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


def test_links_pipes_devices_and_folders_at_an_entry_are_misses(cache, computed, caplog, tmp_path):
    """No read of /dev/zero without end, no wait on a FIFO, no file reached by a link."""
    fn, args = clusters._check_geometry, _derived()[4][1]
    path = _entry(cache, fn, args)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(path.read_bytes())  # a valid entry, but reached through a link
    makers = {
        "link to /dev/zero": lambda: path.symlink_to("/dev/zero"),
        "fifo": lambda: os.mkfifo(path),
        "link to a valid entry": lambda: path.symlink_to(elsewhere),
        "folder": path.mkdir,
    }
    for label, make in makers.items():
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
        make()
        started = time.monotonic()
        warned = _reread(fn, args, computed, caplog)
        assert time.monotonic() - started < 10, label
        assert len(warned) == 1, (label, warned)
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
    cmd = [sys.executable, "-m", "geotool.cli", "clusters", "--json", "--permutations", "0"]
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


# -- two writers, one folder ------------------------------------------------------------


def _geotool(*args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "geotool.cli", *args], cwd=cwd, env=full,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        p.name: pd.read_csv(p, encoding="utf-8-sig", dtype={"adcode": str})
        for p in sorted(out.glob("*.csv"))
    }


def _one_run(out: Path) -> tuple[int, int]:
    """The (seed, permutations) every table of ``out`` carries: one run's, or fail."""
    from geotool._outdir import read_manifest, verify

    assert verify(out) == []
    tables = _tables(out)
    assert set(tables) == {f["path"] for f in read_manifest(out)["files"]}
    stamps = {
        (int(s), int(p)) for t in tables.values() for s, p in t[["seed", "permutations"]].to_numpy()
    }
    assert len(stamps) == 1, stamps
    return stamps.pop()


def test_a_second_autocorr_on_the_same_folder_is_refused_and_tables_name_their_seed(tmp_path):
    out = tmp_path / "A"
    base = ("--quiet", "autocorr", "--permutations", "99", "--json", "--out", str(out))
    slow = {"GEOTOOL_TEST_PUBLISH_DELAY": "1.5"}  # the first holds the folder for seconds
    first = _geotool(*base, "--seed", "1", cwd=tmp_path, env=slow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        lock = out.parent / ".A.geotool-lock"  # the lock file beside the folder
        if lock.exists() and lock.stat().st_size:
            break
        time.sleep(0.05)
    second = _geotool(*base, "--seed", "2", cwd=tmp_path)
    err2 = second.communicate(timeout=120)[1]
    stdout1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and "in use by another geotool autocorr" in err2, err2
    assert "--out" in err2 and "Traceback" not in err2
    assert _one_run(out) == (1, 99)
    announced = Path(json.loads(stdout1)["local_table"])
    assert announced.parent == out.resolve()
    assert set(_tables(out)[announced.name]["seed"]) == {1}  # the announced table is its own
    # both started at once: whichever publishes, the folder is one run's
    seed = 3
    a = _geotool(*base, "--seed", str(seed), cwd=tmp_path)
    b = _geotool(*base, "--seed", str(seed + 1), cwd=tmp_path)
    a.communicate(timeout=120), b.communicate(timeout=120)
    codes = {a.returncode, b.returncode}
    assert codes <= {0, 2} and 0 in codes
    assert _one_run(out)[0] in (seed, seed + 1)


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    import hashlib

    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(folder))] = (st.st_ino, st.st_mtime_ns, digest)
    return out


def test_commands_on_bad_data_never_write_into_a_published_run(tmp_path, monkeypatch):
    """``geotool run --data`` published ./outputs (tables/match_report.csv among its
    files). tiers and autocorr on a table with an unknown county, without --out, leave
    every entry of ./outputs as it was; pointed into it, no command replaces one of the
    run's files (nor the folder itself)."""
    from geotool._outdir import MANIFEST, read_manifest, verify

    from .test_cli import run_main  # in this process: the test is about folders

    example = ROOT / "examples" / "innovation_scores_gbk.csv"
    monkeypatch.chdir(tmp_path)
    run = run_main("--quiet", "run", "--data", str(example), "--permutations", "99",
                   "--figures", "")  # fmt: skip
    assert run.returncode == 0, run.stderr
    outputs = tmp_path / "outputs"
    assert (outputs / "tables" / "match_report.csv").is_file() and verify(outputs) == []
    everything = _snapshot(outputs)
    owned = [MANIFEST, *(f["path"] for f in read_manifest(outputs)["files"])]
    runs = {k: everything[k] for k in owned}
    bad = tmp_path / "bad.csv"
    bad.write_text("县,值\n江阴市,1\n昆山市,2\n不存在县,3\n常熟市,4\n", encoding="utf-8")
    defaults = [
        ("tiers", "--data", str(bad), "--score", "值"),
        ("autocorr", "--data", str(bad), "--value-col", "值"),
    ]
    inside = [
        ("tiers", "--data", str(example), "--score", "创新得分", "--out", "outputs/tables"),
        ("autocorr", "--data", str(example), "--permutations", "99", "--out", "outputs/tables"),
        ("autocorr", "--permutations", "99", "--out", "outputs"),  # the run's own folder
        ("match", str(example), "--out", "outputs/tables/match_report.csv"),
        ("map", "--data", str(bad), "--value-col", "值", "--out", "outputs/maps/lisa.html"),
    ]
    for command in defaults + inside:
        proc = run_main("--quiet", *command)
        err = proc.stderr
        assert proc.returncode == 2 and "Traceback" not in err, (command, err)
        now = _snapshot(outputs)
        assert now == everything if command in defaults else {k: now[k] for k in owned} == runs
        assert verify(outputs) == [], command
        report = re.search(r"Every row with its status: (\S+match_report\.csv)", err)
        if command in defaults:  # beside the command's own output, every row kept
            path = Path(report[1])
            assert path.parent == tmp_path and len(pd.read_csv(path, encoding="utf-8-sig")) == 4
        else:
            assert "geotool run" in err and "choose another --out" in err, (command, err)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "outputs_tiers.match_report.csv", "outputs_autocorr.match_report.csv",
    }  # fmt: skip


# -- leftovers --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat_file.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked renderers: Linux")
def test_renderer_children_die_with_a_killed_run(tmp_path):
    run = _geotool("--quiet", "run", "--out", str(tmp_path / "out"), "--permutations", "99",
                   cwd=tmp_path, env={"GEOTOOL_BACKGROUND": "1"})  # fmt: skip
    deadline = time.monotonic() + 120
    kids: list[int] = []
    while not kids and run.poll() is None and time.monotonic() < deadline:
        kids = _children(run.pid)
        time.sleep(0.02)
    assert kids, "the run forked no renderer"
    time.sleep(0.3)  # the children are importing or drawing
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=10)
    killed = time.monotonic()
    while any(_alive(k) for k in kids) and time.monotonic() - killed < 5:
        time.sleep(0.02)
    assert not any(_alive(k) for k in kids)
    assert time.monotonic() - killed < 1.0


_HOLD = """
import sys, time
from geotool._outdir import OutputFolder
with OutputFolder(sys.argv[1]) as folder:
    folder.write("a.csv", "x")
    print(folder.staging, flush=True)
    time.sleep(600)
"""


def test_staging_folders_of_killed_runs_go_and_live_or_foreign_ones_stay(tmp_path):
    from geotool._outdir import OutputFolder

    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def hold(name: str) -> tuple[subprocess.Popen, Path]:
        proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / name)], env=env,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        return proc, Path(proc.stdout.readline().strip())

    killed, dead_staging = hold("killed")
    live, live_staging = hold("live")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
        assert dead_staging.parent == tmp_path and (dead_staging / "a.csv").exists()
        dead_pid = killed.pid
        decoys = {  # named like staging, but not geotool's staging of a dead process
            f".notes.geotool-staging-{dead_pid}-abc": None,  # no marker
            f".old.geotool-staging-{dead_pid}-ab12": "link",  # marker is a link
            f".other.geotool-staging-{dead_pid}-cd34": {"pid": dead_pid + 1},  # pid differs
            f".far.geotool-staging-{dead_pid}-ef56": {"pid": dead_pid, "host": "elsewhere"},
        }
        for name, marker in decoys.items():
            (tmp_path / name).mkdir()
            (tmp_path / name / "keep.txt").write_text("mine")
            if marker == "link":
                (tmp_path / name / ".geotool-staging.json").symlink_to(dead_staging / "a.csv")
            elif marker is not None:
                (tmp_path / name / ".geotool-staging.json").write_text(json.dumps(marker))
        (tmp_path / f".file.geotool-staging-{dead_pid}-0a").write_text("a file, not a folder")
        with OutputFolder(tmp_path / "next") as folder:  # any run in the same parent
            folder.write("b.csv", "y")
        assert not dead_staging.exists()
        assert not any("geotool-trash" in p.name for p in tmp_path.iterdir())
        assert live_staging.is_dir() and (live_staging / "a.csv").exists()
        for name in decoys:
            assert (tmp_path / name / "keep.txt").read_text() == "mine"
        assert (tmp_path / f".file.geotool-staging-{dead_pid}-0a").is_file()
    finally:
        live.kill()
        live.communicate(timeout=10)


# --------------------------------------------- keyed digests: only the user's own entries


def _sign(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` as geotool would: with its keyed digest beside it."""
    path.write_bytes(data)
    path.with_name(path.name + ".mac").write_bytes(_cache._digest(path, data))


def _lies(computed) -> dict[str, tuple]:
    """Well-formed entries that lie (the attack trial's): (function, args, layout, value)."""
    name, defs = _set()
    members, core = computed["_members"], computed["_core_distances"]
    floats = {c: np.inf for c in core.columns if core[c].dtype == "float64"}
    assert floats
    return {
        "members with no rows": (clusters._members, (defs[0],), clusters._MEMBERS,
                                 members.iloc[0:0]),
        "members of a code not in the layer": (clusters._members, (defs[0],),
                                               clusters._MEMBERS, members.assign(adcode="999999")),
        "infinite core distances": (clusters._core_distances, (name, defs),
                                    clusters._CORE_DISTANCES, core.assign(**floats)),
    }  # fmt: skip


def test_a_well_formed_entry_that_lies_is_a_miss(cache, computed, caplog):
    """Content of the right layout but changed: the digest fails, the truth is recomputed."""
    for label, (fn, args, layout, value) in _lies(computed).items():
        path = _entry(cache, fn, args)
        good = path.read_bytes()
        path.write_bytes(_cache.encode(layout, value))  # the digest beside it is the truth's
        warned = _reread(fn, args, computed, caplog)
        assert len(warned) == 1 and "keyed digest does not verify" in warned[0], (label, warned)
        _cache._warned.discard(str(path))
        path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit of the truth flipped
        assert len(_reread(fn, args, computed, caplog)) == 1, label
        _cache._warned.discard(str(path))
        _sign(path, good)  # the truth, signed: read, no warning
        assert not _reread(fn, args, computed, caplog)


def test_an_entry_written_with_another_users_key_is_a_miss(cache, computed, caplog, tmp_path,
                                                           monkeypatch):  # fmt: skip
    fn, args = clusters._members, _derived()[0][1]
    mine = _entry(cache, fn, args)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other_user"))
    theirs = fn.cache_file(*args)
    assert theirs != mine and theirs.parent == mine.parent  # a shared folder: both kept
    for src in (mine, mine.with_name(mine.name + ".mac")):  # planted under their name
        (theirs.parent / src.name.replace(mine.name, theirs.name)).write_bytes(src.read_bytes())
    warned = _reread(fn, args, computed, caplog)
    assert len(warned) == 1 and str(theirs) in warned[0] and "keyed digest" in warned[0]
    assert not _reread(fn, args, computed, caplog)  # rewritten with their key: now a hit
    assert mine.is_file() and theirs.is_file()
    assert (tmp_path / "other_user" / "geotool" / "cache-key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "other_user" / "geotool").stat().st_mode & 0o777 == 0o700


def _unusable_keys(tmp_path: Path) -> dict[str, tuple[Path, int]]:
    """Config folders whose key cannot be used, and the log level that says so."""
    out = {}
    for label, make in {
        "readable by others": lambda k: (k.write_bytes(os.urandom(32)), k.chmod(0o644)),
        "a folder": lambda k: k.mkdir(),
        "too short": lambda k: (k.write_bytes(b"12345"), k.chmod(0o600)),
        "a link": lambda k: k.symlink_to(tmp_path / "elsewhere"),
    }.items():
        home = tmp_path / label.replace(" ", "_")
        (home / "geotool").mkdir(parents=True)
        make(home / "geotool" / "cache-key")
        out[label] = (home, logging.WARNING)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "geotool").write_text("a file where the folder would be")  # cannot create
    out["cannot be created"] = (blocked, logging.INFO)
    return out


def test_an_unusable_key_turns_the_disk_cache_off_saying_so_once(computed, caplog, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    fn, args = clusters._check_geometry, _derived()[4][1]
    for label, (home, level) in _unusable_keys(tmp_path).items():
        folder = tmp_path / f"cache_{home.name}"
        monkeypatch.setattr(settings, "cache_dir", folder)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="geotool"):
            for _ in range(2):
                fn.cache_clear()
                assert fn(*args) == computed["_check_geometry"], label
        said = [r for r in caplog.records if "cache is off" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == level, (label, caplog.text)
        assert str(home) in said[0].getMessage()
        assert fn.cache_file(*args) is None and not folder.exists(), label
    fn.cache_clear()


def test_a_dictionary_bomb_is_a_miss_even_when_signed(cache, computed, caplog):
    """340 KB that decode to 3 GiB: refused from its metadata and dictionary, not decoded."""
    fn, args = clusters._members, _derived()[0][1]
    path = _entry(cache, fn, args)
    names = list(computed["_members"].columns)
    one = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(400_000, dtype=np.int32)), pa.array(["x" * 1000])
    ).cast(pa.string())
    table = pa.Table.from_arrays([one] * len(names), names=names)
    meta = {"format": "geotool-frame/1", "crs": settings.default_crs}
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"geotool": json.dumps(meta)}), buf,
                   compression="zstd")  # fmt: skip
    assert len(buf.getvalue()) < 1_000_000
    _sign(path, buf.getvalue())  # as if the user's key had leaked: the layout check still holds
    started = time.monotonic()
    warned = _reread(fn, args, computed, caplog)
    assert time.monotonic() - started < 10
    assert len(warned) == 1 and "decodes to" in warned[0] and "GiB" in warned[0], warned
    with pytest.raises(_cache.ForeignEntryError, match="decodes to"):
        _cache.decode(clusters._MEMBERS, buf.getvalue())
    _cache._warned.discard(str(path))
