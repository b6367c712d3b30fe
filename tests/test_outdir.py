"""Output folders as transactions (geotool._outdir): rules, kills, parallel runs."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geotool import _outdir
from geotool._errors import InputError
from geotool._outdir import LOCK, MANIFEST, OutputFolder, read_manifest, verify

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = {"notes.txt": "mine", "tables/mine.csv": "a,b\n1,2\n", "own/deep/x.txt": "x"}

# A fake run: writes N files whose content is the run id; prints each publishing step.
RUN_SCRIPT = """
import os, sys, time
from geotool import _outdir
from geotool._errors import InputError

out, n, pause, step_pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

def hook(step):
    print(step, flush=True)
    time.sleep(step_pause)

_outdir._publish_hook = hook
try:
    with _outdir.OutputFolder(out) as folder:
        print("started", folder.run_id, flush=True)
        for i in range(n):
            folder.write(f"{('tables', 'maps', 'figures')[i % 3]}/f{i}.txt", folder.run_id)
            time.sleep(pause)
        print("publishing", flush=True)
except InputError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
print("done", flush=True)
"""
PUBLISH_STEPS = {"publishing", "prepared", "carried", "aside", "published", "salvaged"}


def _put(out: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)


def _run(out: Path, files: dict[str, str] | list[str], **kwargs) -> OutputFolder:
    if isinstance(files, list):
        files = dict.fromkeys(files, "")
    with OutputFolder(out, **kwargs) as folder:
        for rel, text in files.items():
            folder.write(rel, text or folder.run_id)
    return folder


def _listing(out: Path) -> set[str]:
    """Relative paths of every file under ``out`` but geotool's internal top-level ones."""
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if not p.is_dir() and not p.relative_to(out).parts[0].startswith(".geotool-")
    }


def _consistent(out: Path, foreign: dict[str, str], *, by_content: bool = True) -> str | None:
    """Assert ``out`` holds one complete run (or none) besides ``foreign``; its run id."""
    for rel, text in foreign.items():
        assert (out / rel).read_text() == text, rel
    ours = _listing(out) - set(foreign)
    manifest = read_manifest(out)
    if manifest is None:
        assert ours == set()
        return None
    assert verify(out) == []
    assert ours == {f["path"] for f in manifest["files"]}
    if by_content:
        assert {(out / rel).read_text() for rel in ours} <= {manifest["run"]}
    return manifest["run"]


def _no_leftovers(out: Path) -> None:
    """No staging, backup or lock file beside ``out``; only the manifest inside."""
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] == []
    assert sorted(p.name for p in out.glob(".geotool-*")) in ([MANIFEST], [])


def _interrupted(out: Path, published: set[str | None] | None = None) -> bool:
    """``out`` is gone and its previous run waits in a backup beside it (killed mid-commit).

    ``published``: the runs published so far (``{None}``: none yet, so the backup is the
    user's folder as it was, without a manifest); otherwise the backup is a whole run.
    """
    backups = list(out.parent.glob(f".{out.name}.geotool-backup-*"))
    if out.exists():
        return False
    assert len(backups) == 1
    if published == {None}:
        assert read_manifest(backups[0]) is None and _listing(backups[0]) == set(FOREIGN)
    else:
        assert verify(backups[0]) == []
    assert verify(out) == [f"{out}: a publish was interrupted (the next run restores the folder)"]
    return True


# -- the rules ----------------------------------------------------------------------------
def test_nothing_visible_until_published(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        staged = folder.write("tables/a.csv", "1")
        assert staged.read_text() == "1"
        assert not (out / "tables").exists()
        assert read_manifest(out) is None
    assert (out / "tables/a.csv").read_text() == "1"
    assert folder.files == ["tables/a.csv"]
    assert _consistent(out, {}, by_content=False) == folder.run_id
    _no_leftovers(out)


@pytest.mark.parametrize(
    "text",
    [b"{bad", b"\xff\xfe{}", b'{"run": "x", "files": "all"}', b'{"run": 1, "files": []}',
     b'{"run": "x", "files": [{"path": "a.csv"}]}', b'{"files": [["a.csv", 1, "00"]]}'],
)  # fmt: skip
def test_a_manifest_that_is_not_one_is_refused_and_kept(tmp_path, text):
    """Edited or another program's: which files are geotool's is unknown, so nothing is touched."""
    out = tmp_path / "out"
    _run(out, ["tables/a.csv"])
    (out / MANIFEST).write_bytes(text)
    with pytest.raises(InputError, match=r"is not a geotool manifest .*remove the file") as exc:
        _run(out, ["tables/b.csv"])
    assert "\n" not in str(exc.value)
    assert (out / MANIFEST).read_bytes() == text and (out / "tables/a.csv").is_file()
    assert not (out / "tables/b.csv").exists()


def test_foreign_files_kept_and_stale_own_files_removed(tmp_path):
    out = tmp_path / "out"
    _run(out, ["tables/rankings.csv", "maps/lisa.html", "index.html", "summary.json"])
    _put(out, FOREIGN)
    (out / "empty").mkdir()
    os.chmod(out / "tables", 0o750)
    second = _run(out, ["tables/user_lisa.csv", "summary.json"])  # a --data run
    assert _listing(out) == {*FOREIGN, "tables/user_lisa.csv", "summary.json"}
    assert not (out / "maps").exists()  # held only the previous run's files
    assert (out / "empty").is_dir()
    assert (out / "tables").stat().st_mode & 0o777 == 0o750
    assert _consistent(out, FOREIGN) == second.run_id
    _no_leftovers(out)


def test_legacy_output_without_manifest(tmp_path, caplog):
    out = tmp_path / "out"
    summary = {"geotool_version": "0.1.0", "files": ["index.html", "maps/lisa.html"]}
    _put(out, {"index.html": "old", "maps/lisa.html": "old", "notes.txt": "mine"})
    _put(out, {"summary.json": json.dumps(summary)})
    with caplog.at_level(logging.INFO, logger="geotool"):
        _run(out, ["summary.json", "tables/user_lisa.csv"])
    assert "count as geotool's" in caplog.text
    assert _listing(out) == {"notes.txt", "summary.json", "tables/user_lisa.csv"}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_leaves_previous_output(tmp_path, error):
    out = tmp_path / "out"
    first = _run(out, ["index.html", "tables/a.csv"])
    _put(out, FOREIGN)
    with pytest.raises(error), OutputFolder(out) as folder:
        folder.write("index.html", "new")
        folder.write("tables/b.csv", "new")
        raise error("late failure")
    assert _consistent(out, FOREIGN) == first.run_id
    _no_leftovers(out)
    _run(out, ["index.html"])  # the lock was released


def test_second_run_refused_while_one_is_in_progress(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        with pytest.raises(InputError) as info, OutputFolder(out / "." / ""):
            pass
        folder.write("a.txt", "1")
    message = str(info.value)
    assert "\n" not in message
    assert str(out) in message
    assert f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d')}" in message
    assert message.endswith("wait for it or choose another out=")
    assert (out / "a.txt").read_text() == "1"


def test_stale_lock_taken_over(tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = {"pid": int(dead.stdout), "started": "2020-01-01 00:00:00", "owner": "geotool run"}
    (tmp_path / f".out{LOCK}").write_text(json.dumps(record))  # the lock beside the folder
    (tmp_path / ".out.geotool-staging-1-0a0b0c0d").mkdir()  # a killed run's staging
    (tmp_path / ".out.geotool-staging-1-0a0b0c0d" / _outdir.MARKER).write_text("{}")
    (tmp_path / ".out.geotool-staging-1-0a0b0c0d" / "index.html").write_text("half")
    with caplog.at_level(logging.INFO, logger="geotool"):
        _run(out, ["index.html"])
    assert f"no longer running (pid {dead.stdout.strip()}" in caplog.text
    assert (out / "index.html").read_text() != "half"
    _no_leftovers(out)


def test_inputs_are_never_destinations(tmp_path):
    table = tmp_path / "mine.csv"
    table.write_text("x")
    with pytest.raises(InputError, match="is one of the inputs"):
        OutputFolder(table, inputs=[table]).__enter__()
    out = tmp_path / "out"
    _put(out, {"tables/mine.csv": "y"})
    (out / "index.html").symlink_to(table)
    with OutputFolder(out, inputs=[table, out / "tables/mine.csv"]) as folder:
        for rel in ("tables/mine.csv", "index.html"):
            with pytest.raises(InputError, match="never writes over its inputs"):
                folder.path(rel)
        folder.write("tables/other.csv", "z")
    assert table.read_text() == "x"
    assert (out / "tables/mine.csv").read_text() == "y"


def test_stale_own_file_used_as_input_is_kept(tmp_path):
    out = tmp_path / "out"
    _run(out, ["tables/rankings.csv", "index.html"])
    table = out / "tables/rankings.csv"
    kept = table.read_text()
    _run(out, ["summary.json"], inputs=[table])
    assert table.read_text() == kept
    assert "tables/rankings.csv" not in {f["path"] for f in read_manifest(out)["files"]}


@pytest.mark.parametrize(
    "relative",
    ["/etc/x", "../x", "a/../../x", "tables/", "", ".", "a//b", "a\\b", "c:x", MANIFEST,
     ".geotool-lock", "./a"],
)  # fmt: skip
def test_path_escape_refused(tmp_path, relative):
    with OutputFolder(tmp_path / "out") as folder, pytest.raises(ValueError, match="plain"):
        folder.path(relative)


def test_paths_under_files_or_links_refused(tmp_path):
    out = tmp_path / "out"
    _put(out, {"maps": "a file", "figs/x": ""})
    (out / "tables").symlink_to(tmp_path)
    with OutputFolder(out) as folder:
        with pytest.raises(InputError, match="maps is a file, not a folder"):
            folder.path("maps/a.html")
        with pytest.raises(InputError, match="tables is a symbolic link"):
            folder.path("tables/a.csv")
        with pytest.raises(InputError, match="is a folder"):
            folder.path("figs")


def test_bad_folders(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"is a file, not a folder: remove it or choose"):
        OutputFolder(tmp_path / "file").__enter__()
    with pytest.raises(InputError, match=r"cannot create .*file is a file; choose another"):
        OutputFolder(tmp_path / "file" / "out").__enter__()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(_outdir.tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match=r"not writable \(Permission denied\); choose another"):
        OutputFolder(tmp_path / "ro").__enter__()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(InputError, match="not writable"):
        OutputFolder(tmp_path / "ro").__enter__()
    with pytest.raises(InputError, match="cannot create the output folder"):
        OutputFolder(tmp_path / "ro" / "out").__enter__()


def test_full_disk_while_writing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _run(out, ["index.html"])
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_outdir.os, "fdopen", lambda fd, *a: Full(real_fdopen(fd, *a)))
    with pytest.raises(InputError) as info, OutputFolder(out) as folder:
        folder.write("tables/a.csv", "x")
    monkeypatch.undo()
    assert str(info.value) == (
        f"no space left on device while writing {out}/tables/a.csv; nothing in {out} was "
        "changed; free space or choose another out="
    )
    assert _consistent(out, {}) == first.run_id
    _no_leftovers(out)


def test_full_disk_while_publishing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _run(out, ["index.html"])
    _put(out, FOREIGN)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / MANIFEST))

    monkeypatch.setattr(_outdir.os, "replace", full)
    with pytest.raises(InputError, match=r"^no space left on device while writing"):
        _run(out, ["index.html", "tables/b.csv"])
    monkeypatch.undo()
    assert _consistent(out, FOREIGN) == first.run_id
    _no_leftovers(out)


def test_failed_commit_restores_the_previous_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _run(out, ["index.html", "tables/a.csv"])
    _put(out, FOREIGN)
    real_rename = os.rename

    def rename(src, dst):  # moving the folder aside works; renaming staging to it fails
        if ".geotool-staging-" in str(src) and Path(dst) == out:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(_outdir.os, "rename", rename)
    with pytest.raises(InputError, match=r"^no space left on device while writing"):
        _run(out, ["index.html", "tables/b.csv"])
    monkeypatch.undo()
    assert _consistent(out, FOREIGN) == first.run_id
    _no_leftovers(out)


def test_other_os_errors_of_the_run_pass_through(tmp_path):
    with pytest.raises(FileNotFoundError), OutputFolder(tmp_path / "out"):
        (tmp_path / "missing.csv").read_text()


def test_foreign_file_created_during_publish_survives(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _run(out, ["index.html"])

    def late(step):
        if step == "carried":  # after the foreign files were linked, before the commit
            _put(out, {"tables/late.csv": "late", "late.txt": "late"})

    monkeypatch.setattr(_outdir, "_publish_hook", late)
    _run(out, ["index.html", "tables/a.csv"])
    assert (out / "tables/late.csv").read_text() == "late"
    assert (out / "late.txt").read_text() == "late"
    _no_leftovers(out)


@pytest.mark.parametrize("step", ["prepared", "carried", "aside", "published", "salvaged"])
def test_crash_while_publishing_then_recovery(tmp_path, monkeypatch, step):
    """A kill at each step: the folder is one whole run, or (between the two renames) gone
    with the previous run in a backup; the next run restores or finishes it."""
    out = tmp_path / "out"
    first = _run(out, ["index.html", "maps/lisa.html", "tables/a.csv"])
    _put(out, FOREIGN)

    def crash(at):
        if at == step:
            raise SystemExit("killed")  # nothing after this point runs, like a kill

    monkeypatch.setattr(_outdir, "_publish_hook", crash)
    with pytest.raises(SystemExit):
        _run(out, ["index.html", "tables/a.csv", "tables/b.csv"])
    monkeypatch.undo()
    if step == "aside":
        assert _interrupted(out)
    else:
        run = _consistent(out, FOREIGN)
        assert run == first.run_id or step in ("published", "salvaged")
    with pytest.raises(RuntimeError), OutputFolder(out):  # the next run recovers first
        raise RuntimeError("a failed run publishes nothing")
    run = _consistent(out, FOREIGN)
    assert run == first.run_id or step in ("published", "salvaged")
    with OutputFolder(out):
        pass
    _consistent(out, FOREIGN)
    _no_leftovers(out)


def test_working_directory_inside_the_folder_follows_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    _run(Path("."), ["index.html"])
    assert Path("index.html").exists()
    assert Path.cwd() == out and os.stat(".").st_ino == out.stat().st_ino


# -- kills and parallel runs --------------------------------------------------------------
def _start(script: Path, out: Path, env: dict, *, n: int, pause: float, step_pause: float):
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(n), str(pause), str(step_pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def run_script(tmp_path):
    script = tmp_path / "fake_run.py"
    script.write_text(RUN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return script, env


def test_kill_at_random_moments(tmp_path, run_script):
    script, env = run_script
    out = tmp_path / "kill" / "out"
    out.mkdir(parents=True)
    _put(out, FOREIGN)
    rng = random.Random(20240601)
    outcomes: dict[str, int] = {}
    published: set[str | None] = {None}
    left = False  # the last trial left an interrupted publish behind
    trials = ["random"] * 15 + ["publish"] * 15
    for i, when in enumerate(trials):
        proc = _start(script, out, env, n=rng.randint(34, 42), pause=0.002, step_pause=0.02)
        if when == "random":
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            assert proc.stdout is not None
            while (line := proc.stdout.readline()) and line.strip() != "publishing":
                pass
            time.sleep(rng.uniform(0.0, 0.09))
        proc.kill()
        stdout, _ = proc.communicate()
        lines = stdout.split()
        last = lines[-1] if lines else "start"
        moment = "in publish" if last in PUBLISH_STEPS else "before publish"
        key = "done" if last == "done" else moment
        outcomes[key] = outcomes.get(key, 0) + 1
        if _interrupted(out, published):  # killed between the renames: the next run restores it
            # by this run, or left by the last one and this run killed before restoring it
            assert last in PUBLISH_STEPS or (left and last not in PUBLISH_STEPS | {"done"})
            left = True
        else:
            left = False
            run = _consistent(out, FOREIGN)
            assert run in published or last in PUBLISH_STEPS | {"done"}
        published.add(read_manifest(out)["run"] if read_manifest(out) else None)
        if i % 4 == 3:  # a next run succeeds and cleans up; other trials start over the mess
            with OutputFolder(out):
                pass
            published.add(_consistent(out, FOREIGN))
            _no_leftovers(out)
            left = False
    print(f"kill trials: {len(trials)}: {outcomes}")
    assert outcomes.get("in publish", 0) >= 5
    proc = _start(script, out, env, n=40, pause=0.0, step_pause=0.0)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert _consistent(out, FOREIGN) is not None
    _no_leftovers(out)


def test_parallel_runs(tmp_path, run_script):
    script, env = run_script
    out = tmp_path / "out"
    out.mkdir()
    _put(out, FOREIGN)
    procs = [_start(script, out, env, n=40, pause=0.002, step_pause=0.0) for _ in range(2)]
    results = [(*p.communicate(timeout=30), p.returncode) for p in procs]
    results = [(code, out_, err) for out_, err, code in results]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2])
    if codes == [0, 2]:
        winner = next(p for p, r in zip(procs, results, strict=True) if r[0] == 0)
        refusal = next(err for code, _, err in results if code == 2).strip()
        assert refusal.startswith(f"the output folder {out} is in use by another geotool run")
        assert f"(pid {winner.pid}, started " in refusal
        assert refusal.endswith("wait for it or choose another out=")
    assert _consistent(out, FOREIGN) is not None
    assert len(read_manifest(out)["files"]) == 40
    _no_leftovers(out)


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _one_run(out: Path) -> int:
    """The seed of the one run ``out`` holds: summary, manifest and tables agree on it."""
    assert _consistent(out, FOREIGN, by_content=False) is not None
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["files"]) == {f["path"] for f in read_manifest(out)["files"]}
    seeds = {
        int(line.split(",")[list_index])
        for table in (out / "tables").glob("global_*.csv")
        for header, *rows in [table.read_text(encoding="utf-8-sig").splitlines()]
        for list_index in [header.split(",").index("seed")]
        for line in rows
    }
    assert seeds == {summary["seed"]}, (seeds, summary["seed"])
    return int(summary["seed"])


@pytest.mark.slow
def test_real_run_killed_and_raced(tmp_path):
    """``geotool run`` killed at random moments, then two at once: always one whole run.

    Slow (five real runs). Covered by default by test_kill_at_random_moments (the same
    transaction killed at 30 moments), test_parallel_runs and
    test_second_run_refused_while_one_is_in_progress (the refusal of a second run).
    """
    out = tmp_path / "out"
    _put(out, FOREIGN)

    def cmd(seed: int) -> list[str]:
        return [sys.executable, "-m", "geotool.cli", "-q", "run", "--out", str(out),
                "--permutations", "99", "--seed", str(seed)]  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(ROOT), "GEOTOOL_TEST_PUBLISH_DELAY": "0.3",
           "GEOTOOL_BACKGROUND": "1"}  # killed with its renderers at work
    subprocess.run(cmd(1), env=env, capture_output=True, check=True, timeout=300)
    assert _one_run(out) == 1
    rng = random.Random(99)
    seen = set()
    for seed, delay in enumerate(sorted(rng.uniform(2.0, 11.0) for _ in range(2)), start=2):
        proc = subprocess.Popen(
            cmd(seed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        proc.kill()
        proc.wait()
        seen.add(_one_run(out))  # the previous run, or this one if it had published
    assert seen <= {1, 2, 3}
    first = subprocess.Popen(cmd(7), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    lock = tmp_path / f".out{LOCK}"  # beside the folder
    while str(first.pid) not in _text_or_empty(lock) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first run holds the folder
    second = subprocess.run(
        cmd(8), check=False, env=env, capture_output=True, text=True, timeout=300
    )
    first.communicate(timeout=300)
    assert first.returncode == 0
    assert second.returncode == 2 and "in use by another geotool run" in second.stderr
    assert second.stderr.strip().endswith("choose another --out")
    assert _one_run(out) == 7
    _no_leftovers(out)


def test_a_manifest_naming_a_users_file_deletes_nothing_of_hers(tmp_path):
    """A planted (or stale) manifest lists her files with hashes they do not have: hers."""
    out = tmp_path / "out"
    _run(out, ["tables/a.csv"])
    (out / "thesis.docx").write_text("chapter 1", encoding="utf-8")
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "sub" / "deeper" / "f.txt").write_text("notes", encoding="utf-8")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    for rel, size in (("thesis.docx", 9), ("sub/deeper/f.txt", 5)):
        manifest["files"].append({"path": rel, "sha256": "0" * 64, "size": size})
    (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (out / "tables" / "a.csv").write_text("edited by her", encoding="utf-8")
    _run(out, ["tables/b.csv"])
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "chapter 1"
    assert (out / "sub" / "deeper" / "f.txt").read_text(encoding="utf-8") == "notes"
    assert (out / "tables" / "a.csv").read_text(encoding="utf-8") == "edited by her"
    assert {f["path"] for f in read_manifest(out)["files"]} == {"tables/b.csv"}


def test_a_legacy_summary_is_believed_only_where_geotool_writes(tmp_path):
    """No manifest (an output of before 0.9): summary.json's list names geotool's files only
    in tables/, maps/, figures/ and its own top-level pages."""
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    (out / "thesis.docx").write_text("chapter 1", encoding="utf-8")
    (out / "tables" / "old.csv").write_text("geotool's", encoding="utf-8")
    listed = ["thesis.docx", "tables/old.csv", "summary.json"]
    (out / "summary.json").write_text(json.dumps({"geotool_version": "0.1", "files": listed}),
                                      encoding="utf-8")  # fmt: skip
    _run(out, ["tables/new.csv"])
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "chapter 1"
    assert not (out / "tables" / "old.csv").exists()


def test_a_users_file_where_the_run_writes_one_is_kept_beside_it(tmp_path, caplog):
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    (out / "index.html").write_text("my page", encoding="utf-8")
    (out / "tables" / "lisa.csv").write_text("my table", encoding="utf-8")
    (out / "notes.txt").write_text("notes", encoding="utf-8")
    (out / "onepage.yours.html").write_text("her notes", encoding="utf-8")  # named so by her
    (out / "onepage.html").write_text("her page", encoding="utf-8")
    with caplog.at_level("INFO", logger="geotool"):
        _run(out, {"index.html": "run 1", "tables/lisa.csv": "t", "onepage.html": "run"})
    assert (out / "onepage.yours.html").read_text(encoding="utf-8") == "her notes"
    assert (out / "onepage.yours-2.html").read_text(encoding="utf-8") == "her page"
    assert (out / "index.html").read_text(encoding="utf-8") == "run 1"
    assert (out / "index.yours.html").read_text(encoding="utf-8") == "my page"
    assert (out / "tables" / "lisa.yours.csv").read_text(encoding="utf-8") == "my table"
    assert (out / "notes.txt").read_text(encoding="utf-8") == "notes"
    assert "kept your index.html as index.yours.html" in caplog.text
    (out / "index.html").write_text("edited by her", encoding="utf-8")  # no longer the run's
    _run(out, {"index.html": "run 2", "tables/lisa.csv": "t", "onepage.html": "run"})
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                   if not p.name.startswith(".geotool"))  # fmt: skip
    assert (out / "index.yours-2.html").read_text(encoding="utf-8") == "edited by her"
    assert (out / "index.yours.html").read_text(encoding="utf-8") == "my page"  # once, kept
    assert not [n for n in names if "yours-3" in n or "lisa.yours-2" in n], names


def test_a_home_root_or_crowded_folder_of_hers_is_never_the_output(tmp_path, monkeypatch):
    """Publishing swaps the output folder for a new one: a shared study's ``out = "~"``
    replaced her home (processes working in it were left in a deleted folder). Her home,
    a folder holding it, a root, and a crowded folder with no geotool output are refused;
    nothing in them changes."""
    home = tmp_path / "home" / "her"
    (home / "docs").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    before = os.stat(home).st_ino
    for out in ("~", str(home), str(home.parent), "/"):
        with (pytest.raises(InputError, match=r"home folder|holding your home|root"),
              OutputFolder(out) as folder):  # fmt: skip
            folder.write("index.html", "x")
    assert os.stat(home).st_ino == before and sorted(os.listdir(home)) == ["docs"]
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    for i in range(_outdir.FOREIGN_ENTRIES + 1):
        (crowded / f"f{i}").touch()
    with (pytest.raises(InputError, match="more than 200 entries and no geotool output"),
          OutputFolder(crowded) as folder):  # fmt: skip
        folder.write("index.html", "x")
    assert not (crowded / "index.html").exists()
    (crowded / f"f{_outdir.FOREIGN_ENTRIES}").unlink()  # 200 entries of hers: still taken
    with OutputFolder(crowded) as folder:
        folder.write("index.html", "x")
    assert (crowded / "index.html").read_text() == "x" and (crowded / "f0").exists()


def test_system_project_and_settings_folders_are_never_the_output(tmp_path):
    """/etc, /usr/local/bin, a folder under version control or a hidden settings folder with
    no geotool output: the swap would leave processes working there in a deleted folder."""
    project = tmp_path / "thesis"
    (project / ".git").mkdir(parents=True)
    hidden = tmp_path / ".config"
    hidden.mkdir()
    for out, said in (("/etc", "a system folder"), ("/usr/local/bin", "a system folder"),
                      (project, r"a project folder \(it holds .git\)"),
                      (hidden, "a hidden")):  # fmt: skip
        with pytest.raises(InputError, match=said), OutputFolder(out) as folder:
            folder.write("index.html", "x")
    assert sorted(os.listdir(project)) == [".git"] and not os.listdir(hidden)
    with OutputFolder(project / "results") as folder:  # a folder of its own in it
        folder.write("index.html", "x")
    assert (project / "results" / "index.html").exists()
