"""Output folders written as transactions: a run's files appear all together, or not at all.

Why
---
``geotool run --out DIR`` writes about 45 files. Written one by one into ``DIR`` (even
each one atomically), a SIGKILL, a late exception, a full disk or a second run on the
same folder left ``DIR`` holding files of two different runs, and a run that wrote fewer
files (``--data``) left the previous run's ``index.html`` and maps behind. A reader of
``DIR`` (a person, a browser on ``index.html``, a script) must never see such a mix.

The rules
---------
* **Staging, then one commit.** A run writes into a staging folder on the same
  filesystem (``.<DIR name>.geotool-staging-<pid>-<hex>/`` beside ``DIR``); nothing in
  ``DIR`` changes until the run succeeded.
* **Ownership by manifest.** geotool's files in ``DIR`` are exactly those listed, with
  size and SHA-256, in ``DIR/.geotool-manifest.json`` (run id, owner, time). Everything
  else in ``DIR`` is the user's ("foreign") and survives every run, wherever it lies
  (``DIR/notes.txt``, ``DIR/tables/mine.csv``). Files of the previous run that this run
  did not write are removed when this run is published. A file at a path this run writes
  is replaced, as before (that is how outputs of geotool versions without a manifest are
  renewed; for those, the ``files`` list of their ``summary.json`` serves as manifest).
* **Lock.** ``DIR/.geotool-lock`` is held with ``fcntl.flock`` for the whole run (the
  kernel releases it when the process dies, even by SIGKILL). A second run is refused at
  once with :class:`~geotool._errors.InputError` naming the holder's pid and start
  time; a lock record left by a dead process is taken over with a log line.
* **Inputs are never destinations.** ``DIR`` that is an input file, and any path of the
  run that is (same inode) an input file, are refused before anything is written; a
  stale own file that is now an input is kept (and becomes the user's).
* **One owner.** A folder holding another command's published output (its manifest's
  ``owner``) is refused, and no output ever writes a file that a published folder
  above it owns (``geotool autocorr --out outputs/tables`` cannot replace the run's
  ``tables/match_report.csv``). Single files (``geotool map``, ``geotool match``) are
  :class:`OutputFile` transactions: a lock file beside the file, one rename.
* **Leftovers of dead runs.** At the start of every output, staging folders beside it
  whose marker names a process of this host that no longer runs are deleted, whatever
  folder they were for; a live run's, and anything without that marker, are left.
* **Failures change nothing.** An exception (``KeyboardInterrupt`` included) discards
  the staging folder and leaves ``DIR`` as it was. ``OSError`` while writing or
  publishing (full disk, quota, permissions) becomes a one-line ``InputError``.

Publishing: directory exchange (default on Linux)
-------------------------------------------------
Foreign files may sit in the same folders as geotool's (``DIR/tables/``), so no set of
subfolders belongs to geotool alone and the only object that can be switched in one
step is ``DIR`` itself. Publishing therefore

1. writes the manifest into the staging folder, and **hard-links every foreign entry**
   of ``DIR`` (and the lock file) into it at the same relative path: the same inodes,
   so a user's file is not copied and an open handle on it stays valid;
2. **commits** with one ``renameat2(staging, DIR, RENAME_EXCHANGE)`` system call: the
   two directories swap names atomically. ``DIR`` now holds the new run and the
   user's files; the staging name holds the previous run;
3. moves back into ``DIR`` any foreign entry created in the old folder between steps 1
   and 2 (a window of microseconds), then deletes the old folder (its foreign entries
   are only second links; the inodes live on in ``DIR``).

States and crash windows (``S`` = staging, ``O`` = previous folder after the exchange):

=========  ==========================================  ===================================
state      ``DIR`` holds                               after a SIGKILL here
=========  ==========================================  ===================================
running    previous run, untouched                     ``S`` (marked by
                                                       ``.geotool-staging.json``) deleted
                                                       by the next run
prepared   previous run, untouched                     same
published  new run (commit = the exchange)             ``O`` (no marker) salvaged: foreign
                                                       entries ``DIR`` lacks moved in, then
                                                       deleted
clean      new run                                     nothing left
=========  ==========================================  ===================================

So at every instant, including a kill at any point of publishing, ``DIR``'s manifest and
its geotool files describe one complete run. Leftovers are removed (or salvaged) by the
next run on ``DIR``, under the lock; discarded folders are first renamed to
``...geotool-trash-...`` so that a kill during deletion is never mistaken for a state
that needs salvage. Deletion never crosses into another filesystem.

Costs and caveats of the exchange: ``DIR`` becomes a new inode, so a shell whose working
directory *is* ``DIR`` keeps showing the old, deleted folder until it ``cd``'s again
(when this process's own working directory is in ``DIR``, the fallback below is used,
since its parent shell is most likely there too). ``DIR``'s mode, owner and group are
copied to the new folder; extended attributes and ACLs are not.

Cost, measured by ``benchmarks/bench_outdir.py`` on this (shared, noisy) machine (ext4,
Linux 6.18; a run of 45 files / 12 MB over a previous one, 100 user files in the
folder; medians of 11): writing the files into staging 17-42 ms (straight into the
folder, the old way, 28-51 ms); publishing 23-46 ms, of which hashing the files for the
manifest 15-28 ms and the exchange itself 50-70 microseconds, the rest linking the
user's files and deleting the previous run; the rename sequence 33-72 ms. Next to a
ten-second run, under half a percent; see ``benchmarks/bench_outdir.py``.

Publishing: rename sequence with a journal (fallback)
-----------------------------------------------------
Used where the exchange is impossible: ``renameat2``/``RENAME_EXCHANGE`` unsupported
(non-Linux, some network filesystems), ``DIR``'s parent not writable or on another
filesystem (then staging lives inside ``DIR`` as ``.geotool-staging-...``), a mount
point or an unlinkable foreign file inside ``DIR``, ``DIR`` owned by someone else, or
the working directory inside ``DIR``. The run writes
``DIR/.geotool-journal.json`` (staging folder, new files, stale files) *after* the
staging folder is complete, then moves each file in, deletes the stale ones, moves the
manifest in, and deletes the journal. A kill in between leaves a mix that the journal
describes; the next run on ``DIR`` (and :func:`verify`) sees the journal and rolls the
publish forward before anything else. This is weaker: for the milliseconds of the
sequence, and after a kill until the next run, ``DIR`` is not one run.

Only process crashes are covered: nothing is fsync'ed, so a power cut may lose data
the kernel had not written yet (as with any program that does not fsync).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from geotool._atomic import write_atomic
from geotool._errors import InputError
from geotool._log import log

__all__ = ["MANIFEST", "OutputFile", "OutputFolder", "read_manifest", "verify"]

MANIFEST = ".geotool-manifest.json"
LOCK = ".geotool-lock"
JOURNAL = ".geotool-journal.json"
MARKER = ".geotool-staging.json"
INTERNAL = ".geotool-"  # top-level names in DIR starting with this are geotool's own
_SIBLING = r"\.{name}\.geotool-(staging|trash)-(\d+)-[0-9a-f]+"
_INSIDE = re.compile(r"\.geotool-(staging|trash)-(\d+)-[0-9a-f]+")
_ANY_SIBLING = re.compile(r"\..+\.geotool-(staging|trash)-(\d+)-[0-9a-f]+", re.DOTALL)
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _publish_step(step: str) -> None:
    """Test hook called at each step of publishing; sleeps GEOTOOL_TEST_PUBLISH_DELAY s."""
    delay = os.environ.get("GEOTOOL_TEST_PUBLISH_DELAY")
    if delay:
        time.sleep(float(delay))


_publish_hook: Callable[[str], None] = _publish_step


class _NoExchangeError(Exception):
    """The directory exchange cannot be used for this folder (the reason is the text)."""


_renameat2: Any = None
_exchange_works: dict[int, bool] = {}  # st_dev -> RENAME_EXCHANGE worked there


def _exchange(a: Path, b: Path) -> None:
    """Swap the names of directories ``a`` and ``b`` atomically (Linux renameat2)."""
    global _renameat2  # noqa: PLW0603 - looked up once
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
            fn.argtypes += [ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _exchange_supported(where: Path) -> bool:
    """Whether RENAME_EXCHANGE works on the filesystem of folder ``where`` (probed once)."""
    dev = os.lstat(where).st_dev
    if dev not in _exchange_works:
        a, b = where / ".probe-a", where / ".probe-b"
        a.mkdir()
        b.mkdir()
        (a / "a").touch()
        try:
            _exchange(a, b)
            _exchange_works[dev] = (b / "a").exists() and not (a / "a").exists()
        except OSError as exc:
            if exc.errno not in _NO_EXCHANGE | {errno.EPERM}:
                raise
            _exchange_works[dev] = False
        for d in (a, b):
            (d / "a").unlink(missing_ok=True)
            d.rmdir()
    return _exchange_works[dev]


def _clean_relative(relative: str) -> PurePosixPath:
    text = relative if isinstance(relative, str) else ""
    parts = text.split("/")
    if (
        "\\" in text
        or "\0" in text
        or text[1:2] == ":"
        or any(p in ("", ".", "..") for p in parts)
        or parts[0].startswith(INTERNAL)
    ):
        msg = (
            f"output path {relative!r} is not a plain relative path inside the output folder "
            "(no leading '/', '..', '.', '\\', drive or empty part; not .geotool-*)"
        )
        raise ValueError(msg)
    return PurePosixPath(text)


def _kind(mode: int) -> str:
    return "symbolic link" if stat.S_ISLNK(mode) else "folder" if stat.S_ISDIR(mode) else "file"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rmtree(root: Path) -> None:
    """Delete ``root`` without following links or entering another filesystem."""
    try:
        dev = os.lstat(root).st_dev
    except FileNotFoundError:
        return

    def remove(path: str) -> None:
        for entry in os.scandir(path):
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                Path(entry.path).unlink(missing_ok=True)
            elif st.st_dev != dev:
                log(f"left {entry.path} in place: another filesystem is mounted there")
            else:
                remove(entry.path)
                os.rmdir(entry.path)

    remove(str(root))
    os.rmdir(root)


def read_manifest(out: Path | str) -> dict[str, Any] | None:
    """The manifest of the run published in ``out`` (None when there is none)."""
    try:
        data = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return data if isinstance(data, dict) else None


def _owned(out: Path) -> set[str]:
    """Relative paths of the files geotool published in ``out`` (manifest, else legacy)."""
    manifest = read_manifest(out)
    if manifest is not None:
        return {f["path"] for f in manifest.get("files", [])}
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not (isinstance(summary, dict) and "geotool_version" in summary):
        return set()
    files = set()
    for name in summary.get("files") or []:
        try:
            files.add(str(_clean_relative(name)))
        except (ValueError, TypeError):
            continue
    if files:
        log(f"{out} has no manifest; the files listed in its summary.json count as geotool's")
    return files


def verify(out: Path | str) -> list[str]:
    """Problems with the run published in ``out`` (empty list: one complete run).

    Checks that every file of the manifest is there with its size and SHA-256 and that no
    publish was left half done. Files not in the manifest are the user's and not checked.
    """
    out = Path(out)
    problems = []
    if (out / JOURNAL).exists():
        problems.append(f"{out}: a publish was interrupted (the next run completes it)")
    manifest = read_manifest(out)
    if manifest is None:
        return [*problems, f"{out}: no manifest"]
    for entry in manifest["files"]:
        path = out / entry["path"]
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            problems.append(f"{path}: not the file of run {manifest['run']}")
    return problems


class OutputFolder:
    """An output folder written as one transaction (see the module docstring).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with OutputFolder(Path(tmp) / "out") as folder:
    ...         _ = folder.write("tables/a.csv", "x,y")
    ...         (Path(tmp) / "out" / "tables").exists()  # not published yet
    ...     (Path(tmp) / "out" / "tables" / "a.csv").read_text(), folder.files
    False
    ('x,y', ['tables/a.csv'])
    """

    def __init__(
        self,
        out: Path | str,
        *,
        inputs: Sequence[Path | str] = (),
        owner: str = "geotool run",
    ) -> None:
        self._given = out
        self.out = Path(out)
        self.inputs = [Path(p) for p in inputs]
        self.owner = owner
        self.files: list[str] = []
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
        self.staging: Path | None = None
        self._staged_at: Path | None = None  # kept after publish/discard, to name errors
        self.mode = ""  # "exchange" or "rename", decided in __enter__
        self._lock_fd: int | None = None
        self._input_ids: set[tuple[int, int]] = set()
        self._claims: list[tuple[Path, set[str], str]] = []
        self._committed = False

    # -- entering: validate, lock, recover, stage ------------------------------------
    def __enter__(self) -> OutputFolder:
        """Check the folder, take its lock, finish or clean up earlier runs, stage."""
        self._validate()
        self._lock()
        try:
            self._check_owner()
            self._recover()
            self._stage()
        except BaseException as exc:
            self._release()
            if isinstance(exc, OSError):
                raise self._input_error(exc) from exc
            raise
        return self

    def _validate(self) -> None:
        given = self.out
        if not str(self._given).strip():  # Path("") is ".": the current folder, unasked
            msg = "out='' names no folder; give the folder to write into (e.g. out=results)."
            raise InputError(msg)
        out = Path(os.path.abspath(os.path.expanduser(given))).resolve()
        for p in self.inputs:
            try:
                st = p.stat()
            except OSError:
                continue
            self._input_ids.add((st.st_dev, st.st_ino))
        st_out: os.stat_result | None
        try:
            st_out = out.stat()
        except (FileNotFoundError, NotADirectoryError):
            st_out = None
        if st_out is not None and (st_out.st_dev, st_out.st_ino) in self._input_ids:
            msg = (
                f"out={given} is one of the inputs; geotool never writes over its inputs: "
                "choose a folder for out="
            )
            raise InputError(msg)
        if st_out is not None and not stat.S_ISDIR(st_out.st_mode):
            msg = f"out={given} is a file, not a folder: remove it or choose another out="
            raise InputError(msg)
        if st_out is None:
            ancestor = out.parent
            while not ancestor.exists() and ancestor != ancestor.parent:
                ancestor = ancestor.parent
            if not ancestor.is_dir():
                msg = (
                    f"cannot create the output folder {given}: {ancestor} is a file; "
                    "choose another out="
                )
                raise InputError(msg)
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                msg = (
                    f"cannot create the output folder {given}: {exc.strerror}; "
                    "choose a writable location for out="
                )
                raise InputError(msg) from exc
        try:  # probe writability for real
            fd, probe = tempfile.mkstemp(dir=out, prefix=f"{INTERNAL}probe-")
            os.close(fd)
            Path(probe).unlink(missing_ok=True)  # gone if a publish swapped the folder
        except OSError as exc:
            msg = f"the output folder {given} is not writable ({exc.strerror}); choose another out="
            raise InputError(msg) from exc
        self.out = out
        self._claims = _enclosing_claims(out)

    def _lock(self) -> None:
        self._lock_fd = _take_lock(self.out / LOCK, f"output folder {self.out}", self._record())

    def _check_owner(self) -> None:
        """Refuse a folder that holds another command's published output."""
        manifest = read_manifest(self.out) or {}
        owner = manifest.get("owner")
        if isinstance(owner, str) and owner and owner != self.owner:
            msg = (
                f"the output folder {self.out} holds the output of {owner} (run "
                f"{manifest.get('run', 'unknown')}); {self.owner} does not replace another "
                "command's output: choose another out= (or delete the folder first)"
            )
            raise InputError(msg)

    def _record(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "owner": self.owner,
            "run": self.run_id,
        }

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        _drop_lock(fd)

    def _siblings(self) -> list[tuple[Path, str]]:
        """Staging/trash folders of earlier runs on this folder: beside it, then inside."""
        found = []
        pattern = re.compile(_SIBLING.format(name=re.escape(self.out.name)))
        for where, regex in ((self.out.parent, pattern), (self.out, _INSIDE)):
            try:
                names = os.listdir(where)
            except OSError:
                continue
            for name in names:
                m = regex.fullmatch(name)
                if m and (where / name).is_dir() and not (where / name).is_symlink():
                    found.append((where / name, m.group(1)))
        return found

    def _recover(self) -> None:
        """Complete a half-done rename publish; salvage and delete earlier runs' folders."""
        if (self.out / JOURNAL).exists():
            log(f"completing the interrupted publish of an earlier run in {self.out}")
            self._roll_forward()
        (self.out / MARKER).unlink(missing_ok=True)
        for folder, role in self._siblings():
            if role == "staging" and not (folder / MARKER).exists():
                # the previous folder after an exchange: the user's late files go back
                log(f"cleaning up after an interrupted run: salvaging {folder}")
                self._salvage(folder, _owned(folder))
            elif role == "staging":
                log(f"cleaning up after an interrupted run: removing {folder}")
            self._discard_folder(folder)
        _remove_dead_staging(self.out.parent)

    def _stage(self) -> None:
        tag = f"staging-{os.getpid()}-{secrets.token_hex(4)}"
        reason = ""
        staging = self.out.parent / f".{self.out.name}.geotool-{tag}"
        try:
            if os.lstat(self.out.parent).st_dev != os.lstat(self.out).st_dev:
                raise _NoExchangeError("the output folder is a mount point")
            staging.mkdir()
        except (OSError, _NoExchangeError) as exc:
            reason = str(exc)
            staging = self.out / f"{INTERNAL}{tag}"
            staging.mkdir()
        mark = {"run": self.run_id, "pid": os.getpid(), "host": socket.gethostname()}
        (staging / MARKER).write_text(json.dumps(mark), encoding="utf-8")
        self.staging = self._staged_at = staging
        self.mode = "rename"
        cwd = Path.cwd()
        if reason:
            pass
        elif os.environ.get("GEOTOOL_TEST_PUBLISH") == "rename":
            reason = "GEOTOOL_TEST_PUBLISH=rename"
        elif cwd == self.out or self.out in cwd.parents:
            reason = "the working directory is inside the output folder"
        elif not _exchange_supported(staging):
            reason = "RENAME_EXCHANGE is not supported here"
        else:
            self.mode = "exchange"
        if reason:
            log(f"publishing {self.out} by a rename sequence: {reason}", level=10)

    # -- during the run -----------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Where to write the file ``relative`` of this run (inside the staging folder).

        Refuses (``ValueError``) absolute paths, ``..``, backslashes and geotool's own
        ``.geotool-*`` names, and (``InputError``) a path that is an input file or lies
        under a file or symbolic link of the output folder. Parent folders are created.
        """
        if self.staging is None:
            msg = "OutputFolder.path() is only valid inside its with block"
            raise RuntimeError(msg)
        rel = _clean_relative(relative)
        self._check_destination(rel)
        dest = self.staging.joinpath(*rel.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if str(rel) not in self.files:
            self.files.append(str(rel))
        return dest

    def write(self, relative: str, data: str | bytes) -> Path:
        """Write ``data`` as file ``relative`` of this run; return its path in staging."""
        dest = self.path(relative)
        write_atomic(dest, data)
        return dest

    def _check_destination(self, rel: PurePosixPath) -> None:
        target = self.out.joinpath(*rel.parts)
        for ancestor in reversed(target.parents[: len(rel.parts) - 1]):
            try:
                st = os.lstat(ancestor)
            except FileNotFoundError:
                return
            if not stat.S_ISDIR(st.st_mode):
                msg = (
                    f"cannot write {rel} in {self.out}: {ancestor} is a {_kind(st.st_mode)}, "
                    "not a folder; move it away or choose another out="
                )
                raise InputError(msg)
        _refuse_claimed(target, self._claims, f"cannot write {rel} in {self.out}")
        try:
            st = target.stat()
        except OSError:
            return
        if (st.st_dev, st.st_ino) in self._input_ids:
            msg = (
                f"cannot write {rel} in {self.out}: {target} is one of the inputs and geotool "
                "never writes over its inputs; choose another out="
            )
            raise InputError(msg)
        if stat.S_ISDIR(os.lstat(target).st_mode):
            msg = (
                f"cannot write {rel} in {self.out}: {target} is a folder; "
                "move it away or choose another out="
            )
            raise InputError(msg)

    # -- leaving: publish or discard ----------------------------------------------------
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Publish on success; otherwise discard the staging folder. Always unlock."""
        try:
            if exc is None:
                try:
                    self._publish()
                except BaseException as err:
                    if not self._committed:
                        self._discard()
                    if isinstance(err, OSError):
                        raise self._input_error(err) from err
                    raise
                return None
            self._discard()
            if isinstance(exc, OSError) and self._is_ours(exc):
                raise self._input_error(exc) from exc
            return None
        finally:
            self._release()

    def _is_ours(self, exc: OSError) -> bool:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        roots = [str(self.out), str(self._staged_at)]
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return any(n == r or n.startswith(r + os.sep) for n in names for r in roots)

    def _shown(self, name: object) -> str:
        """A file name of an error as the user knows it (staging mapped to the folder)."""
        if name is None:
            return str(self.out)
        text = str(name)
        staged = self._staged_at
        if staged is not None and text.startswith(str(staged) + os.sep):
            return str(self.out / os.path.relpath(text, staged))
        return text

    def _input_error(self, exc: OSError) -> InputError:
        where = self._shown(exc.filename)
        done = (
            f"the new run is in {self.out} but the folder will be completed by the next run"
            if self._committed
            else f"nothing in {self.out} was changed"
        )
        if exc.errno == errno.ENOSPC:
            what = f"no space left on device while writing {where}; {done}; free space"
        elif exc.errno == errno.EDQUOT:
            what = f"disk quota exceeded while writing {where}; {done}; free space"
        else:
            what = f"could not write {where}: {exc.strerror}; {done}; fix the folder"
        return InputError(f"{what} or choose another out=")

    def _discard(self) -> None:
        staging, self.staging = self.staging, None
        if staging is not None:
            try:
                self._discard_folder(staging)
            except OSError as exc:
                log(f"could not remove the staging folder {staging}: {exc}", level=30)

    def _discard_folder(self, folder: Path) -> None:
        """Rename ``folder`` to a trash name (never salvaged again), then delete it."""
        if "geotool-trash-" not in folder.name:
            trash = folder.with_name(folder.name.replace("geotool-staging-", "geotool-trash-"))
            os.rename(folder, trash)
            folder = trash
        _rmtree(folder)

    def _final_files(self) -> list[tuple[str, Path]]:
        """The files in staging: those registered by path(), in order, then any others."""
        assert self.staging is not None
        found = []
        for root, dirs, names in os.walk(self.staging):
            dirs.sort()
            for name in sorted(names):
                full = Path(root, name)
                rel = full.relative_to(self.staging).as_posix()
                if rel not in (MARKER, MANIFEST):
                    found.append(rel)
        order = {rel: i for i, rel in enumerate(self.files)}
        found.sort(key=lambda rel: (order.get(rel, len(order)), rel))
        for rel in found:
            if rel not in order:
                self._check_destination(_clean_relative(rel))
        return [(rel, self.staging / rel) for rel in found]

    def _publish(self) -> None:
        assert self.staging is not None
        staging = self.staging
        files = self._final_files()
        self.files = [rel for rel, _ in files]
        manifest = {
            "format": 1,
            "run": self.run_id,
            "owner": self.owner,
            "published": time.strftime("%Y-%m-%d %H:%M:%S"),
            "files": [
                {"path": rel, "size": full.lstat().st_size, "sha256": _sha256(full)}
                for rel, full in files
            ],
        }
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        old = _owned(self.out)
        new = set(self.files)
        _publish_hook("prepared")
        if self.mode == "exchange":
            try:
                self._carry(staging, old, new)
            except _NoExchangeError as why:
                log(f"publishing {self.out} by a rename sequence: {why}", level=10)
                self.mode = "rename"
        if self.mode == "exchange":
            self._publish_exchange(staging, old)
        else:
            self._publish_rename(staging, old, new)
        self.staging = None

    def _carry(self, staging: Path, old: set[str], new: set[str]) -> None:
        """Hard-link the foreign entries of the folder into staging (exchange step 1)."""
        dev = os.lstat(self.out).st_dev

        def carry(rel: str) -> bool:
            src = self.out / rel if rel else self.out
            entries = list(os.scandir(src))
            kept = not entries and bool(rel)  # an empty foreign folder is kept
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if not rel and entry.name.startswith(INTERNAL) and entry.name != LOCK:
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev != dev:
                        raise _NoExchangeError(f"{entry.path} is a mount point")
                    kept = carry(sub) or kept
                    continue
                if sub in new:
                    continue  # replaced by this run
                if sub in old and (st.st_dev, st.st_ino) not in self._input_ids:
                    continue  # the previous run's, not written again: removed
                (staging / sub).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(entry.path, staging / sub, follow_symlinks=False)
                except OSError as exc:
                    raise _NoExchangeError(f"cannot link {entry.path}: {exc.strerror}") from exc
                kept = True
            if kept:
                (staging / rel).mkdir(parents=True, exist_ok=True)
            return kept

        carry("")
        for root, _dirs, _names in os.walk(staging):  # folders get their originals' modes
            here = Path(root)
            try:
                want = os.lstat(self.out / here.relative_to(staging))
            except FileNotFoundError:
                continue
            have = os.lstat(here)
            if stat.S_IMODE(have.st_mode) != stat.S_IMODE(want.st_mode):
                os.chmod(here, stat.S_IMODE(want.st_mode))
            if (have.st_uid, have.st_gid) != (want.st_uid, want.st_gid):
                try:
                    os.chown(here, want.st_uid, want.st_gid)
                except PermissionError as exc:
                    raise _NoExchangeError(f"{here} is owned by another user") from exc

    def _publish_exchange(self, staging: Path, old: set[str]) -> None:
        cwd = Path.cwd()
        _publish_hook("exchange")
        _exchange(staging, self.out)  # the commit
        self._committed = True
        if cwd == self.out or self.out in cwd.parents:
            os.chdir(cwd)
        _publish_hook("exchanged")
        try:
            (self.out / MARKER).unlink(missing_ok=True)
            self._salvage(staging, old)
            _publish_hook("salvaged")
            self._discard_folder(staging)
        except OSError as exc:  # the run is published; the next run finishes the cleanup
            log(f"could not clean up {staging} (the next run will): {exc}", level=30)

    def _salvage(self, previous: Path, owned: set[str]) -> None:
        """Move entries of ``previous`` that geotool does not own and the folder lacks."""

        def salvage(rel: str) -> None:
            here = previous / rel if rel else previous
            entries = list(os.scandir(here))
            if not entries and rel and not os.path.lexists(self.out / rel):
                (self.out / rel).mkdir(parents=True)
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if not rel and entry.name.startswith(INTERNAL):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    target = self.out / sub
                    if not os.path.lexists(target) or target.is_dir():
                        salvage(sub)
                elif sub not in owned and not os.path.lexists(self.out / sub):
                    (self.out / sub).parent.mkdir(parents=True, exist_ok=True)
                    os.rename(entry.path, self.out / sub)
                    log(f"kept {self.out / sub}, created during publishing")

        salvage("")

    def _publish_rename(self, staging: Path, old: set[str], new: set[str]) -> None:
        stale = []
        for rel in sorted(old - new):
            try:
                st = (self.out / rel).stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in self._input_ids:
                stale.append(rel)
        journal = {
            "run": self.run_id,
            "staging": os.path.relpath(staging, self.out),
            "new": self.files,
            "stale": stale,
        }
        write_atomic(self.out / JOURNAL, json.dumps(journal, indent=1) + "\n")
        self._committed = True
        self._roll_forward()

    def _roll_forward(self) -> None:
        """Finish the publish the journal describes (idempotent)."""
        journal = json.loads((self.out / JOURNAL).read_text(encoding="utf-8"))
        staging = Path(os.path.normpath(self.out / journal["staging"]))
        sibling = re.compile(_SIBLING.format(name=re.escape(self.out.name)))
        inside = staging.parent == self.out and _INSIDE.fullmatch(staging.name)
        beside = staging.parent == self.out.parent and sibling.fullmatch(staging.name)
        if not (inside or beside):
            msg = f"{self.out / JOURNAL} names an unexpected staging folder {staging}"
            raise InputError(msg + "; delete the journal and run again")
        for rel in journal["new"]:
            src = staging / rel
            if os.path.lexists(src):
                self._check_destination(_clean_relative(rel))
                (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, self.out / rel)
                _publish_hook("moved")
        for rel in journal["stale"]:
            (self.out / rel).unlink(missing_ok=True)
            parent = (self.out / rel).parent
            while parent != self.out:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
        if (staging / MANIFEST).exists():
            os.replace(staging / MANIFEST, self.out / MANIFEST)
        elif (read_manifest(self.out) or {}).get("run") != journal["run"]:
            log(f"the staging folder {staging} is gone: {self.out} may mix two runs", level=30)
        _publish_hook("manifest")
        (self.out / JOURNAL).unlink()
        if staging.exists():
            self._discard_folder(staging)


def _dead_staging(folder: Path, pid: int) -> bool:
    """Whether ``folder`` is geotool's staging of process ``pid``, now dead, of this host.

    Its marker file must be a plain file naming that pid (or a run id holding it) and
    this host; anything else (no marker, a link, another host, a live pid) is not.
    """
    marker = folder / MARKER
    try:
        if not stat.S_ISREG(os.lstat(marker).st_mode) or os.lstat(marker).st_size > 4096:
            return False
        mark = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(mark, dict):
        return False
    run = str(mark.get("run", ""))
    named = mark.get("pid") == pid or (run.count("-") == 2 and run.split("-")[1] == str(pid))
    host = mark.get("host", socket.gethostname())
    return named and host == socket.gethostname() and not _pid_alive(pid)


def _remove_dead_staging(parent: Path) -> None:
    """Delete staging folders beside other output folders in ``parent`` whose run died.

    Runs on one output folder never left the staging folders of a killed run on
    another folder until that folder's next run. Only a folder named like geotool's
    staging (``.<name>.geotool-staging-<pid>-<hex>``, or ``-trash-``) that holds its
    marker naming a dead process of this host is deleted; a live run's is left alone,
    and so is the previous folder of an interrupted publish (it has no marker: that
    folder's own next run salvages it).
    """
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        m = _ANY_SIBLING.fullmatch(name)
        folder = parent / name
        if not m or folder.is_symlink() or not folder.is_dir():
            continue
        if not _dead_staging(folder, int(m.group(2))):
            continue
        log(f"removing {folder}, the staging folder of a run that was killed")
        try:
            if m.group(1) == "staging":
                trash = folder.with_name(name.replace("geotool-staging-", "geotool-trash-", 1))
                os.rename(folder, trash)
                folder = trash
            _rmtree(folder)
        except OSError as exc:  # another run removing it too, or not ours to remove
            log(f"could not remove {folder}: {exc}", level=10)


def _enclosing_claims(path: Path) -> list[tuple[Path, set[str], str]]:
    """Published geotool folders above ``path``: (folder, files its manifest owns, owner)."""
    claims = []
    for folder in path.parents:
        manifest = read_manifest(folder)
        if manifest is not None:
            claims.append((folder, _owned(folder), str(manifest.get("owner", "geotool run"))))
    return claims


def _refuse_claimed(target: Path, claims: list[tuple[Path, set[str], str]], what: str) -> None:
    """Refuse to write ``target`` when a published folder above it owns that file."""
    for folder, owned, owner in claims:
        rel = target.relative_to(folder)
        if rel.as_posix() in owned or rel.parts[0].startswith(INTERNAL):
            msg = (
                f"{what}: {target} is a file of the output of {owner} published in {folder} "
                "and is never written by another command; choose another out="
            )
            raise InputError(msg)


class OutputFile:
    """One output file written as a transaction: checked, locked, replaced atomically.

    The single-file counterpart of :class:`OutputFolder` (``geotool map``, ``geotool
    match``): a second command writing the same file is refused at once (a lock file
    ``.<name>.geotool-lock`` beside it, deleted at the end), a file that a published
    output folder above it owns is never written, and :meth:`write` replaces the file
    in one rename. Files the command writes beside it (its match report, named after
    it) are covered by the same lock. Checking the path itself (inputs, folders,
    writability) is :func:`geotool._validate.output_file`'s.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with OutputFile(Path(tmp) / "map.html", owner="geotool map") as target:
    ...         _ = target.write("<html></html>")
    ...     sorted(p.name for p in Path(tmp).iterdir())
    ['map.html']
    """

    def __init__(self, path: Path | str, *, owner: str) -> None:
        self.path = Path(os.path.abspath(os.path.expanduser(path)))
        self.owner = owner
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
        self._lock_path = self.path.parent / f".{self.path.name}.geotool-lock"
        self._fd: int | None = None

    def __enter__(self) -> OutputFile:
        """Refuse a file another output owns; take the lock."""
        _refuse_claimed(self.path, _enclosing_claims(self.path), f"cannot write {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "owner": self.owner,
            "run": self.run_id,
        }
        what = f"output file {self.path}"
        self._fd = _take_lock(self._lock_path, what, record, remove=True)
        _remove_dead_staging(self.path.parent)
        return self

    def write(self, data: str | bytes) -> Path:
        """Replace the file with ``data`` (text as UTF-8) in one rename."""
        if self._fd is None:
            raise RuntimeError("OutputFile.write() is only valid inside its with block")
        return write_atomic(self.path, data)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the lock and delete its file."""
        fd, self._fd = self._fd, None
        _drop_lock(fd, self._lock_path)


def _take_lock(path: Path, what: str, record: dict[str, Any], *, remove: bool = False) -> int:
    """Lock ``path`` (``flock``, created if need be) and write ``record`` into it.

    Refused at once (:class:`InputError` naming the holder) when another process holds
    it; the kernel releases it when its holder dies, even by SIGKILL. ``remove``: the
    lock file is deleted by :func:`_drop_lock`, so a lock file replaced by another
    process between opening and locking is opened again.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder: dict[str, Any] = {}
            for _ in range(20):  # the holder writes its record just after locking
                holder = _read_record(fd)
                if holder:
                    break
                time.sleep(0.01)
            os.close(fd)
            who = holder.get("owner", "geotool run")
            pid = holder.get("pid", "unknown")
            started = holder.get("started", "unknown")
            msg = (
                f"the {what} is in use by another {who} "
                f"(pid {pid}, started {started}); wait for it or choose another out="
            )
            raise InputError(msg) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = not remove or os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder deleted it as we opened it: lock the new one
    previous = _read_record(fd)
    if previous.get("pid") and not _pid_alive(int(previous["pid"])):
        log(
            f"taking over the lock of the {what} from a run that is no longer running "
            f"(pid {previous['pid']}, started {previous.get('started', 'unknown')})"
        )
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    return fd


def _drop_lock(fd: int | None, path: Path | None = None) -> None:
    """Release a lock of :func:`_take_lock` (deleting its file first when ``path``)."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        if path is not None:
            path.unlink()
        os.ftruncate(fd, 0)
    os.close(fd)  # releases the flock


def _read_record(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
