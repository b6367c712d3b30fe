"""Output folders written as transactions: a run's files appear all together, or not at all.

A run writes into a staging folder beside ``DIR`` (``.<name>.geotool-staging-<pid>-<hex>``)
and publishes it in one step: the user's entries of ``DIR`` are hard-linked into staging and
the two folders swap names (``renameat2(RENAME_EXCHANGE)``). Where that cannot be done (not
Linux, ``DIR`` a mount point or not ours, the working directory inside ``DIR``), the files
are moved in under a journal that the next run rolls forward after a kill. geotool's files
are those of ``DIR/.geotool-manifest.json`` (size and SHA-256); everything else is the
user's and survives every run. ``DIR/.geotool-lock`` (:mod:`filelock`, released by the
kernel when the process dies) refuses a second run at once; inputs are never destinations;
a failure leaves ``DIR`` as it was. The states and crash windows are in
``docs/output-folders.md``. Only process crashes are covered (nothing is fsync'ed).
"""

from __future__ import annotations

import ctypes
import errno
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

from filelock import FileLock, Timeout

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
Claims = list[tuple[Path, set[str], str]]


def _publish_step(step: str) -> None:
    """Test hook called at each step of publishing; sleeps GEOTOOL_TEST_PUBLISH_DELAY s."""
    delay = os.environ.get("GEOTOOL_TEST_PUBLISH_DELAY")
    if delay:
        time.sleep(float(delay))


_publish_hook: Callable[[str], None] = _publish_step


class _NoExchangeError(Exception):
    """The directory exchange cannot be used for this folder (the reason is the text)."""


_renameat2: Any = None


def _exchange(a: Path, b: Path) -> None:
    """Swap the names of directories ``a`` and ``b`` atomically (Linux renameat2)."""
    global _renameat2  # noqa: PLW0603 - looked up once
    if _renameat2 is None:
        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
            _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    if _renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2):  # AT_FDCWD, RENAME_EXCHANGE
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _clean_relative(relative: str) -> PurePosixPath:
    text = relative if isinstance(relative, str) else ""
    parts = text.split("/")
    bad = any(p in ("", ".", "..") for p in parts) or parts[0].startswith(INTERNAL)
    if bad or "\\" in text or "\0" in text or text[1:2] == ":":
        raise ValueError(
            f"output path {relative!r} is not a plain relative path inside the output folder "
            "(no leading '/', '..', '.', '\\', drive or empty part; not .geotool-*)"
        )
    return PurePosixPath(text)


def _ident(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of ``path`` (links followed), None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"


def _rmtree(root: Path) -> None:
    """Delete ``root`` without following links or entering another filesystem."""
    try:
        dev = os.lstat(root).st_dev
    except FileNotFoundError:
        return
    folders = []
    for here, dirs, names in os.walk(root):
        for name in list(dirs):
            st = os.lstat(Path(here, name))
            if not stat.S_ISDIR(st.st_mode) or st.st_dev != dev:
                dirs.remove(name)  # a link to a folder (removed below), or a mount point
                if st.st_dev != dev:
                    log(f"left {Path(here, name)} in place: another filesystem is mounted there")
                else:
                    names.append(name)
        for name in names:
            Path(here, name).unlink(missing_ok=True)
        folders.append(here)
    for here in reversed(folders):
        os.rmdir(here)


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

    Every file of the manifest must be there with its size and SHA-256, and no publish
    half done. Files not in the manifest are the user's and not checked.
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
        self, out: Path | str, *, inputs: Sequence[Path | str] = (), owner: str = "geotool run"
    ) -> None:
        self._given = out
        self.out = Path(out)
        self.inputs = [Path(p) for p in inputs]
        self.owner = owner
        self.files: list[str] = []
        self.run_id = _run_id()
        self.staging: Path | None = None
        self._staged_at: Path | None = None  # kept after publish/discard, to name errors
        self.mode = ""  # "exchange" or "rename", decided in __enter__
        self._lock: FileLock | None = None
        self._input_ids: set[tuple[int, int] | None] = set()
        self._claims: Claims = []
        self._committed = False

    # -- entering: validate, lock, recover, stage ------------------------------------
    def __enter__(self) -> OutputFolder:
        """Check the folder, take its lock, finish or clean up earlier runs, stage."""
        self._validate()
        record = {"owner": self.owner, "run": self.run_id}
        self._lock = _take_lock(self.out / LOCK, f"output folder {self.out}", record)
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
            raise InputError(
                "out='' names no folder; give the folder to write into (e.g. out=results)."
            )
        out = Path(os.path.abspath(os.path.expanduser(given))).resolve()
        self._input_ids = {_ident(p) for p in self.inputs} - {None}
        if out.exists() and _ident(out) in self._input_ids:
            raise InputError(
                f"out={given} is one of the inputs; geotool never writes over its inputs: "
                "choose a folder for out="
            )
        if out.exists() and not out.is_dir():
            raise InputError(
                f"out={given} is a file, not a folder: remove it or choose another out="
            )
        if not out.exists():
            ancestor = next(p for p in out.parents if p.exists())
            if not ancestor.is_dir():
                raise InputError(
                    f"cannot create the output folder {given}: {ancestor} is a file; "
                    "choose another out="
                )
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create the output folder {given}: {exc.strerror}; "
                    "choose a writable location for out="
                ) from exc
        try:  # probe writability for real
            fd, probe = tempfile.mkstemp(dir=out, prefix=f"{INTERNAL}probe-")
            os.close(fd)
            Path(probe).unlink(missing_ok=True)  # gone if a publish swapped the folder
        except OSError as exc:
            raise InputError(
                f"the output folder {given} is not writable ({exc.strerror}); choose another out="
            ) from exc
        self.out = out
        self._claims = _enclosing_claims(out)

    def _check_owner(self) -> None:
        """Refuse a folder that holds another command's published output."""
        manifest = read_manifest(self.out) or {}
        owner = manifest.get("owner")
        if isinstance(owner, str) and owner and owner != self.owner:
            raise InputError(
                f"the output folder {self.out} holds the output of {owner} (run "
                f"{manifest.get('run', 'unknown')}); {self.owner} does not replace another "
                "command's output: choose another out= (or delete the folder first)"
            )

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        _drop_lock(lock)

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
            _discard_folder(folder)
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
        cwd = Path.cwd()
        if reason:
            pass
        elif os.environ.get("GEOTOOL_TEST_PUBLISH") == "rename":
            reason = "GEOTOOL_TEST_PUBLISH=rename"
        elif cwd == self.out or self.out in cwd.parents:
            reason = "the working directory is inside the output folder"
        self.mode = "rename" if reason else "exchange"
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
            raise RuntimeError("OutputFolder.path() is only valid inside its with block")
        rel = _clean_relative(relative)
        self._check_destination(rel)
        dest = self.staging.joinpath(*rel.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if str(rel) not in self.files:
            self.files.append(str(rel))
        return dest

    def write(self, relative: str, data: str | bytes) -> Path:
        """Write ``data`` as file ``relative`` of this run; return its path in staging."""
        return write_atomic(self.path(relative), data)

    def _check_destination(self, rel: PurePosixPath) -> None:
        target = self.out.joinpath(*rel.parts)
        refuse = f"cannot write {rel} in {self.out}"
        for ancestor in reversed(target.parents[: len(rel.parts) - 1]):
            try:
                mode = os.lstat(ancestor).st_mode
            except FileNotFoundError:
                return
            if not stat.S_ISDIR(mode):
                kind = "symbolic link" if stat.S_ISLNK(mode) else "file"
                raise InputError(
                    f"{refuse}: {ancestor} is a {kind}, not a folder; "
                    "move it away or choose another out="
                )
        _refuse_claimed(target, self._claims, refuse)
        ident = _ident(target)
        if ident is None:
            return
        if ident in self._input_ids:
            raise InputError(
                f"{refuse}: {target} is one of the inputs and geotool never writes over its "
                "inputs; choose another out="
            )
        if stat.S_ISDIR(os.lstat(target).st_mode):
            raise InputError(f"{refuse}: {target} is a folder; move it away or choose another out=")

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
                return
            self._discard()
            if isinstance(exc, OSError) and self._is_ours(exc):
                raise self._input_error(exc) from exc
        finally:
            self._release()

    def _is_ours(self, exc: OSError) -> bool:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        roots = [str(self.out), str(self._staged_at)]
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return any(n == r or n.startswith(r + os.sep) for n in names for r in roots)

    def _input_error(self, exc: OSError) -> InputError:
        where = str(self.out if exc.filename is None else exc.filename)
        staged = str(self._staged_at)
        if where.startswith(staged + os.sep):  # named as the user knows it
            where = str(self.out / os.path.relpath(where, staged))
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
                _discard_folder(staging)
            except OSError as exc:
                log(f"could not remove the staging folder {staging}: {exc}", level=30)

    def _final_files(self, staging: Path) -> list[tuple[str, Path]]:
        """The files in staging: those registered by path(), in order, then any others."""
        found = []
        for root, dirs, names in os.walk(staging):
            dirs.sort()
            for name in sorted(names):
                rel = Path(root, name).relative_to(staging).as_posix()
                if rel not in (MARKER, MANIFEST):
                    found.append(rel)
        order = {rel: i for i, rel in enumerate(self.files)}
        found.sort(key=lambda rel: (order.get(rel, len(order)), rel))
        for rel in found:
            if rel not in order:
                self._check_destination(_clean_relative(rel))
        return [(rel, staging / rel) for rel in found]

    def _publish(self) -> None:
        assert self.staging is not None
        staging = self.staging
        files = self._final_files(staging)
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
        old, new = _owned(self.out), set(self.files)
        _publish_hook("prepared")
        try:
            if self.mode == "exchange":
                self._carry(staging, old, new)
                self._publish_exchange(staging, old)
        except _NoExchangeError as why:
            log(f"publishing {self.out} by a rename sequence: {why}", level=10)
            self.mode = "rename"
        if self.mode == "rename":
            self._publish_rename(staging, old, new)
        self.staging = None

    def _carry(self, staging: Path, old: set[str], new: set[str]) -> None:
        """Hard-link the foreign entries of the folder into staging (exchange step 1)."""
        dev = os.lstat(self.out).st_dev

        def carry(rel: str) -> bool:
            entries = list(os.scandir(self.out / rel))
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
                if sub in new or (sub in old and (st.st_dev, st.st_ino) not in self._input_ids):
                    continue  # replaced by this run, or the previous run's: removed
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
        try:
            _exchange(staging, self.out)  # the commit
        except OSError as exc:
            if exc.errno in _NO_EXCHANGE | {errno.EPERM}:  # not Linux, some network filesystems
                raise _NoExchangeError(f"RENAME_EXCHANGE is not supported here ({exc})") from exc
            raise
        self._committed = True
        if cwd == self.out or self.out in cwd.parents:
            os.chdir(cwd)
        _publish_hook("exchanged")
        try:
            (self.out / MARKER).unlink(missing_ok=True)
            self._salvage(staging, old)
            _publish_hook("salvaged")
            _discard_folder(staging)
        except OSError as exc:  # the run is published; the next run finishes the cleanup
            log(f"could not clean up {staging} (the next run will): {exc}", level=30)

    def _salvage(self, previous: Path, owned: set[str]) -> None:
        """Move entries of ``previous`` that geotool does not own and the folder lacks."""

        def salvage(rel: str) -> None:
            entries = list(os.scandir(previous / rel))
            if not entries and rel and not os.path.lexists(self.out / rel):
                (self.out / rel).mkdir(parents=True)
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                target = self.out / sub
                if not rel and entry.name.startswith(INTERNAL):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not os.path.lexists(target) or target.is_dir():
                        salvage(sub)
                elif sub not in owned and not os.path.lexists(target):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(entry.path, target)
                    log(f"kept {target}, created during publishing")

        salvage("")

    def _publish_rename(self, staging: Path, old: set[str], new: set[str]) -> None:
        idents = {rel: _ident(self.out / rel) for rel in sorted(old - new)}
        stale = [rel for rel, i in idents.items() if i is not None and i not in self._input_ids]
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
            raise InputError(
                f"{self.out / JOURNAL} names an unexpected staging folder {staging}; "
                "delete the journal and run again"
            )
        for rel in journal["new"]:
            if os.path.lexists(staging / rel):
                self._check_destination(_clean_relative(rel))
                (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, self.out / rel)
                _publish_hook("moved")
        for rel in journal["stale"]:
            (self.out / rel).unlink(missing_ok=True)
            for parent in (self.out / rel).parents[: rel.count("/")]:
                try:
                    parent.rmdir()  # a folder the stale files leave empty
                except OSError:
                    break
        if (staging / MANIFEST).exists():
            os.replace(staging / MANIFEST, self.out / MANIFEST)
        elif (read_manifest(self.out) or {}).get("run") != journal["run"]:
            log(f"the staging folder {staging} is gone: {self.out} may mix two runs", level=30)
        _publish_hook("manifest")
        (self.out / JOURNAL).unlink()
        if staging.exists():
            _discard_folder(staging)


def _discard_folder(folder: Path) -> None:
    """Rename ``folder`` to a trash name (never salvaged again), then delete it."""
    if "geotool-trash-" not in folder.name:
        trash = folder.with_name(folder.name.replace("geotool-staging-", "geotool-trash-", 1))
        os.rename(folder, trash)
        folder = trash
    _rmtree(folder)


def _dead_staging(folder: Path, pid: int) -> bool:
    """Whether ``folder`` is geotool's staging of process ``pid``, now dead, of this host.

    Its marker must be a plain file naming that pid and this host; anything else (no
    marker, a link, another host, a live pid) is not.
    """
    marker = folder / MARKER
    try:
        st = os.lstat(marker)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
            return False
        mark = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(mark, dict):
        return False
    host = mark.get("host", socket.gethostname())
    return mark.get("pid") == pid and host == socket.gethostname() and not _pid_alive(pid)


def _remove_dead_staging(parent: Path) -> None:
    """Delete the staging folders in ``parent`` of runs (on any folder) that were killed.

    Only folders named like geotool's staging (or trash) holding a marker that names a
    dead process of this host; a live run's, and the previous folder of an interrupted
    exchange (no marker: its own next run salvages it), are left alone.
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
            _discard_folder(folder)
        except OSError as exc:  # another run removing it too, or not ours to remove
            log(f"could not remove {folder}: {exc}", level=10)


def _enclosing_claims(path: Path) -> Claims:
    """Published geotool folders above ``path``: (folder, files its manifest owns, owner)."""
    claims = []
    for folder in path.parents:
        manifest = read_manifest(folder)
        if manifest is not None:
            claims.append((folder, _owned(folder), str(manifest.get("owner", "geotool run"))))
    return claims


def _refuse_claimed(target: Path, claims: Claims, what: str) -> None:
    """Refuse to write ``target`` when a published folder above it owns that file."""
    for folder, owned, owner in claims:
        rel = target.relative_to(folder)
        if rel.as_posix() in owned or rel.parts[0].startswith(INTERNAL):
            raise InputError(
                f"{what}: {target} is a file of the output of {owner} published in {folder} "
                "and is never written by another command; choose another out="
            )


class OutputFile:
    """One output file written as a transaction: checked, locked, replaced atomically.

    The single-file :class:`OutputFolder` (``geotool map``, ``geotool match``): a second
    command on the same file is refused at once (a lock file ``.<name>.geotool-lock``
    beside it, deleted at the end, also covering the files written beside it), a file
    that a published output folder above it owns is never written, and :meth:`write`
    replaces the file in one rename. The path's own checks are
    :func:`geotool._validate.output_file`'s.

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
        self.run_id = _run_id()
        self._lock_path = self.path.parent / f".{self.path.name}.geotool-lock"
        self._lock: FileLock | None = None

    def __enter__(self) -> OutputFile:
        """Refuse a file another output owns; take the lock."""
        _refuse_claimed(self.path, _enclosing_claims(self.path), f"cannot write {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"owner": self.owner, "run": self.run_id}
        self._lock = _take_lock(self._lock_path, f"output file {self.path}", record)
        _remove_dead_staging(self.path.parent)
        return self

    def write(self, data: str | bytes) -> Path:
        """Replace the file with ``data`` (text as UTF-8) in one rename."""
        if self._lock is None:
            raise RuntimeError("OutputFile.write() is only valid inside its with block")
        return write_atomic(self.path, data)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the lock and delete its file."""
        lock, self._lock = self._lock, None
        _drop_lock(lock, remove=True)


def _read_record(path: Path) -> dict[str, Any]:
    """The JSON record of a lock file (empty when there is none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            data = json.loads(os.read(fd, 4096) or b"{}")
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _take_lock(path: Path, what: str, record: dict[str, Any]) -> FileLock:
    """Lock ``path`` with :mod:`filelock` and write ``record`` (pid, start time) into it.

    Refused at once (:class:`InputError` naming the holder) when another process holds
    it; the kernel releases it when its holder dies, even by SIGKILL.
    """
    record = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), **record}
    lock = FileLock(path, timeout=0.2, thread_local=False, fallback_to_soft=False)
    try:
        lock.acquire()
        previous = _read_record(path)
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(fd, json.dumps(record).encode())
        finally:
            os.close(fd)
    except Timeout:
        holder: dict[str, Any] = {}
        for _ in range(20):  # the holder writes its record just after locking
            holder = _read_record(path)
            if holder:
                break
            time.sleep(0.01)
        raise InputError(
            f"the {what} is in use by another {holder.get('owner', 'geotool run')} (pid "
            f"{holder.get('pid', 'unknown')}, started {holder.get('started', 'unknown')}); "
            "wait for it or choose another out="
        ) from None
    except OSError as exc:  # a link or a folder planted there: never followed
        lock.release()
        raise InputError(f"cannot lock the {what}: {exc.strerror}; choose another out=") from None
    pid = previous.get("pid")
    if isinstance(pid, int) and pid > 0 and not _pid_alive(pid):
        log(
            f"taking over the lock of the {what} from a run that is no longer running "
            f"(pid {pid}, started {previous.get('started', 'unknown')})"
        )
    return lock


def _drop_lock(lock: FileLock | None, *, remove: bool = False) -> None:
    """Release a lock of :func:`_take_lock`, emptying its record or deleting its file."""
    if lock is None:
        return
    try:
        if remove:
            Path(lock.lock_file).unlink()
        else:
            os.truncate(lock.lock_file, 0)
    except OSError:
        pass
    lock.release()
