"""Output folders written as transactions: a run's files appear all together, or not at all.

A run writes into a fresh staging folder beside ``DIR``. On success the user's entries of
``DIR`` are hard-linked into it, ``DIR`` is renamed aside to a backup, staging is renamed
to ``DIR`` and the backup deleted; on failure staging is deleted. Each rename is atomic;
a kill between the two leaves the backup, which the next run restores. geotool's files
are those of ``DIR/.geotool-manifest.json``; the rest is the user's and survives every
run. ``.<name>.geotool-lock`` beside ``DIR`` (:mod:`filelock`) refuses a second run.
Design and crash windows: ``docs/output-folders.md``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from filelock import FileLock, Timeout

from geotool._atomic import write_atomic
from geotool._errors import InputError
from geotool._log import log

__all__ = ["MANIFEST", "OutputFile", "OutputFolder", "read_manifest", "verify"]

MANIFEST = ".geotool-manifest.json"
LOCK = ".geotool-lock"  # beside the destination: ".<name>.geotool-lock"
MARKER = ".geotool-staging.json"  # in a staging folder: its run's pid and host
INTERNAL = ".geotool-"  # top-level names in DIR starting with this are geotool's own
_LEFTOVER = re.compile(r"\.(.+)\.geotool-(staging|backup|trash)-(\d+)-\w+", re.DOTALL)
Claims = list[tuple[Path, set[str], str]]


def _publish_step(step: str) -> None:
    """Test hook called at each step of publishing; sleeps GEOTOOL_TEST_PUBLISH_DELAY s."""
    if delay := os.environ.get("GEOTOOL_TEST_PUBLISH_DELAY"):
        time.sleep(float(delay))


_publish_hook: Callable[[str], None] = _publish_step


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
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return st.st_dev, st.st_ino
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"


def _discard_folder(folder: Path) -> None:
    """Rename ``folder`` to a trash name (never restored nor salvaged), then delete it."""
    trash = folder.with_name(re.sub(r"geotool-(staging|backup)-", "geotool-trash-", folder.name))
    os.rename(folder, trash)
    shutil.rmtree(trash)  # links are removed, never followed


def _leftovers(parent: Path) -> Iterator[tuple[Path, str, str, int]]:
    """Folders of earlier runs in ``parent``: (folder, output's name, role, pid)."""
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(parent)):
            m = _LEFTOVER.fullmatch(name)
            if m and (parent / name).is_dir() and not (parent / name).is_symlink():
                yield parent / name, m[1], m[2], int(m[3])


def _dead_staging(folder: Path, pid: int) -> bool:
    """Whether ``folder``'s marker (a plain file) names ``pid``, dead, of this host."""
    try:
        st = os.lstat(folder / MARKER)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
            return False
        mark = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    here = socket.gethostname()
    if not isinstance(mark, dict) or mark.get("host", here) != here or mark.get("pid") != pid:
        return False
    return not _pid_alive(pid)


def _remove_dead_staging(parent: Path) -> None:
    """Delete the staging folders in ``parent`` of killed runs (on any folder) of this host."""
    for folder, _name, role, pid in _leftovers(parent):
        if role != "backup" and _dead_staging(folder, pid):
            log(f"removing {folder}, the staging folder of a run that was killed")
            try:
                _discard_folder(folder)
            except OSError as exc:  # another run removing it too, or not ours to remove
                log(f"could not remove {folder}: {exc}", level=10)


def read_manifest(out: Path | str) -> dict[str, Any] | None:
    """The manifest of the run published in ``out`` (None when there is none).

    A manifest that is not one (edited, truncated, another program's) is refused: which
    files geotool owns there cannot be known.
    """
    path = Path(out) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        why = type(exc).__name__
    else:
        if not isinstance(data, dict):
            return None
        files = data.get("files", [])
        if isinstance(data.get("run", ""), str) and isinstance(files, list) and all(
            isinstance(f, dict) and isinstance(f.get("path"), str)
            and isinstance(f.get("sha256"), str) and isinstance(f.get("size"), int) for f in files
        ):  # fmt: skip
            return data
        why = "not geotool's layout"
    raise InputError(
        f"{path} is not a geotool manifest ({why}): which files of that folder are "
        "geotool's cannot be told; remove the file, or choose another output folder."
    )


#: Where an output without a manifest (before 0.9) has geotool's files: a summary.json
#: naming anything else (a user's thesis.docx) is not believed.
_LEGACY = re.compile(r"(?:(?:tables|maps|figures|local)/[^/]+|index\.html|onepage\.html|"
                     r"summary\.json|regression\.(?:md|tex|html))")  # fmt: skip


def _owned(out: Path) -> set[str]:
    """Relative paths of the files geotool published in ``out`` and nobody changed since.

    From the manifest: a listed file that differs from its size and SHA-256 there (edited,
    or a manifest planted to name a user's file) is the user's, and stays. Without one, the
    files a legacy summary.json lists where geotool writes (:data:`_LEGACY`).
    """
    if (manifest := read_manifest(out)) is not None:
        files = manifest.get("files", [])
        same = {f["path"] for f in files if _unchanged(out, f)}
        for f in files:
            with contextlib.suppress(ValueError):
                if f["path"] not in same and (out / _clean_relative(f["path"])).exists():
                    log(f"{out / f['path']} changed since geotool wrote it: kept as yours")
        return same
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not (isinstance(summary, dict) and "geotool_version" in summary):
        return set()
    files = set()
    for name in summary.get("files") or []:
        with contextlib.suppress(ValueError, TypeError):
            files.add(str(_clean_relative(name)))
    files = {f for f in files if _LEGACY.fullmatch(f)} | {"summary.json"}  # itself geotool's
    if len(files) > 1:
        log(f"{out} has no manifest; the files listed in its summary.json count as geotool's")
    return files


def _unchanged(out: Path, entry: dict[str, Any]) -> bool:
    """Whether ``out``'s file of a manifest ``entry`` is still the one geotool wrote."""
    try:
        path = _clean_relative(entry["path"])
        target = out / path
        return (
            not target.is_symlink() and target.is_file()
            and target.stat().st_size == entry["size"] and _sha256(target) == entry["sha256"]
        )  # fmt: skip
    except (OSError, ValueError, TypeError):
        return False


def verify(out: Path | str) -> list[str]:
    """Problems with the run in ``out``: files of its manifest missing or changed, or none."""
    out = Path(os.path.abspath(out))
    if (manifest := read_manifest(out)) is None:
        if any(n == out.name and r == "backup" for _, n, r, _ in _leftovers(out.parent)):
            return [f"{out}: a publish was interrupted (the next run restores the folder)"]
        return [f"{out}: no manifest"]
    problems = []
    for entry in manifest["files"]:
        path = out / entry["path"]
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            problems.append(f"{path}: not the file of run {manifest['run']}")
    return problems


def _carry(
    src: Path, dst: Path, owned: set[str], inputs: set[Any], *, move: bool, rel: str = ""
) -> bool:
    """Put the user's entries of folder ``src`` into ``dst``.

    Hard links (the same inodes: nothing copied; an entry that cannot be linked is moved
    in after the commit) or, with ``move``, renames. geotool's files (``owned``, unless an
    input) stay; empty folders are kept; folders get their originals' modes. A user's
    entry where the run wrote one of the same name is kept beside it as ``NAME.yours.EXT``
    (said), never replaced.
    """
    entries = list(os.scandir(src / rel))
    kept = not entries and bool(rel)
    for entry in entries:
        sub, st = f"{rel}/{entry.name}".lstrip("/"), entry.stat(follow_symlinks=False)
        if not rel and entry.name.startswith(INTERNAL):
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_dev != os.lstat(src).st_dev:
            raise InputError(f"{entry.path} is a mount point; choose another out=")
        mine = sub not in owned or _ident(entry.path) in inputs
        if stat.S_ISDIR(st.st_mode):
            if (dst / sub).is_dir() or not os.path.lexists(dst / sub):
                kept = _carry(src, dst, owned, inputs, move=move, rel=sub) or kept
                continue
            mine = move  # the run wrote a file where the user has a folder: moved beside it
        if not mine or _same(entry.path, dst / sub):  # linked in before the commit
            continue
        target = sub if not os.path.lexists(dst / sub) else _yours(src, dst, sub, entry.path)
        if target is None:  # kept beside it before the commit
            continue
        (dst / target).parent.mkdir(parents=True, exist_ok=True)
        if move or stat.S_ISDIR(st.st_mode):
            os.rename(entry.path, dst / target)
            log(f"kept {dst / target}, created during publishing" if target == sub else
                f"kept your {sub} as {target} (the run wrote a {sub} of its own)")
        else:
            with contextlib.suppress(OSError):
                os.link(entry.path, dst / target, follow_symlinks=False)
            if target != sub:
                log(f"kept your {sub} as {target} (the run wrote a {sub} of its own)")
        kept = True
    if kept:
        (dst / rel).mkdir(parents=True, exist_ok=True)
    if (dst / rel).is_dir():
        want = os.lstat(src / rel)
        os.chmod(dst / rel, stat.S_IMODE(want.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(dst / rel, want.st_uid, want.st_gid)
    return kept


def _same(a: str | Path, b: Path) -> bool:
    """Whether ``b`` exists and is ``a`` itself (the same inode: a hard link of it)."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _yours(src: Path, dst: Path, sub: str, entry: str) -> str | None:
    """A free name beside ``dst/sub`` for the user's ``entry`` of that name (``a.yours.html``).

    Free in ``src`` too (a file of hers already named so keeps its name); ``None`` when
    ``entry`` is already there under such a name.
    """
    path = PurePosixPath(sub)
    stem, ext = (path.stem, path.suffix) if path.suffix else (path.name, "")
    for n in range(1, 10_000):
        name = f"{stem}.yours{'' if n == 1 else f'-{n}'}{ext}"
        candidate = str(path.with_name(name))
        if _same(entry, dst / candidate):
            return None
        if not os.path.lexists(dst / candidate) and not os.path.lexists(src / candidate):
            return candidate
    raise InputError(f"{dst / sub}: no free name to keep your file beside the run's; tidy the "
                     "folder.")  # fmt: skip


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
        self._given, self.out, self.owner, self.run_id = out, Path(out), owner, _run_id()
        self.files: list[str] = []
        self.staging: Path | None = None
        self._staged_at: Path | None = None  # kept after publish/discard, to name errors
        self._lock: FileLock | None = None
        self._input_ids = {_ident(p) for p in inputs} - {None}
        self._claims: Claims = []

    def __enter__(self) -> OutputFolder:
        """Check the folder, take its lock, restore or clean up after earlier runs, stage."""
        self.out = self._validate(self._given)
        self._claims = _enclosing_claims(self.out)
        record = {"owner": self.owner, "run": self.run_id}
        self._lock = _take_lock(self.out, f"output folder {self.out}", record)
        try:
            self._recover()
            self._check_owner()
            try:  # probe writability for real
                fd, probe = tempfile.mkstemp(dir=self.out, prefix=f"{INTERNAL}probe-")
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                raise InputError(
                    f"the output folder {self._given} is not writable ({exc.strerror}); "
                    "choose another out="
                ) from exc
            prefix = f".{self.out.name}.geotool-staging-{os.getpid()}-"
            self.staging = self._staged_at = Path(
                tempfile.mkdtemp(prefix=prefix, dir=self.out.parent)
            )
            mark = {"run": self.run_id, "pid": os.getpid(), "host": socket.gethostname()}
            (self.staging / MARKER).write_text(json.dumps(mark), encoding="utf-8")
        except BaseException as exc:
            _drop_lock(self._lock)
            if isinstance(exc, OSError):
                raise self._input_error(exc) from exc
            raise
        return self

    def _validate(self, given: Path | str) -> Path:
        """The folder, resolved and created; refused when it cannot be a destination."""
        if not str(given).strip():  # Path("") is ".": the current folder, unasked
            raise InputError(
                "out='' names no folder; give the folder to write into (e.g. out=results)."
            )
        out = Path(os.path.abspath(os.path.expanduser(given))).resolve()
        if out.exists() and _ident(out) in self._input_ids:
            raise InputError(
                f"out={given} is one of the inputs; geotool never writes over its inputs: "
                "choose a folder for out="
            )
        if out.exists() and not out.is_dir():
            raise InputError(
                f"out={given} is a file, not a folder: remove it or choose another out="
            )
        _refuse_foreign(out, given)
        ancestor = next(p for p in (out, *out.parents) if p.exists())
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
        if os.lstat(out).st_dev != os.lstat(out.parent).st_dev:
            raise InputError(f"out={given} is a mount point; choose a folder inside it for out=")
        return out

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

    def _recover(self) -> None:
        """Restore or clean up after runs on this folder killed while publishing."""
        (self.out / MARKER).unlink(missing_ok=True)
        for folder, name, role, _pid in _leftovers(self.out.parent):
            if name != self.out.name:
                continue
            if role == "backup" and not os.listdir(self.out):  # killed between the renames
                log(f"restoring {self.out} from {folder}, left by a run killed while publishing")
                os.rmdir(self.out)
                os.rename(folder, self.out)
                continue
            if role == "backup":  # killed after the commit: the user's late files go back
                _carry(folder, self.out, _owned(folder), self._input_ids, move=True)
            if role != "staging" or (folder / MARKER).is_file() or not os.listdir(folder):
                log(f"cleaning up after an interrupted run: removing {folder}")
                _discard_folder(folder)
        _remove_dead_staging(self.out.parent)

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
        if _ident(target) is None:
            return
        if _ident(target) in self._input_ids:
            raise InputError(
                f"{refuse}: {target} is one of the inputs and geotool never writes over its "
                "inputs; choose another out="
            )
        if stat.S_ISDIR(os.lstat(target).st_mode):
            raise InputError(f"{refuse}: {target} is a folder; move it away or choose another out=")

    # -- leaving: publish or discard ----------------------------------------------------
    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        """Publish on success; otherwise discard the staging folder. Always unlock."""
        try:
            if exc is None:
                self._publish()
            elif isinstance(exc, OSError) and self._is_ours(exc):
                raise self._input_error(exc) from exc
        except OSError as err:
            raise self._input_error(err) from err
        finally:
            if self.staging is not None:
                with contextlib.suppress(OSError):
                    _discard_folder(self.staging)
            self.staging = None
            _drop_lock(self._lock)

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
        done = f"nothing in {self.out} was changed"
        if exc.errno == errno.ENOSPC:
            what = f"no space left on device while writing {where}; {done}; free space"
        elif exc.errno == errno.EDQUOT:
            what = f"disk quota exceeded while writing {where}; {done}; free space"
        else:
            what = f"could not write {where}: {exc.strerror}; {done}; fix the folder"
        return InputError(f"{what} or choose another out=")

    def _manifest(self, staging: Path) -> None:
        """Write the manifest of the files in staging: path()'s, in order, then any others."""
        found = {Path(root, name).relative_to(staging).as_posix()
                 for root, _dirs, names in os.walk(staging) for name in names}  # fmt: skip
        found -= {MARKER, MANIFEST}
        for rel in set(found) - set(self.files):
            self._check_destination(_clean_relative(rel))
        order = {rel: i for i, rel in enumerate(self.files)}
        self.files = sorted(found, key=lambda rel: (order.get(rel, len(order)), rel))
        files = [
            {"path": rel, "size": (staging / rel).lstat().st_size, "sha256": _sha256(staging / rel)}
            for rel in self.files
        ]
        manifest = {"format": 1, "run": self.run_id, "owner": self.owner,
                    "published": time.strftime("%Y-%m-%d %H:%M:%S"), "files": files}  # fmt: skip
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    def _publish(self) -> None:
        """Manifest, the user's entries linked in, then the two renames (the commit)."""
        assert self.staging is not None
        staging, old = self.staging, _owned(self.out)
        self._manifest(staging)
        _publish_hook("prepared")
        _carry(self.out, staging, old, self._input_ids, move=False)
        _publish_hook("carried")
        backup = self.out.with_name(
            f".{self.out.name}.geotool-backup-{os.getpid()}-{secrets.token_hex(4)}"
        )
        cwd = os.getcwd()
        os.rename(self.out, backup)
        _publish_hook("aside")
        try:
            os.rename(staging, self.out)  # the commit
        except BaseException:
            os.rename(backup, self.out)
            raise
        self.staging = None
        with contextlib.suppress(OSError):  # a working directory inside: follow the folder
            os.chdir(cwd)
        _publish_hook("published")
        try:  # the run is published; a failure here is cleaned up by the next run
            (self.out / MARKER).unlink(missing_ok=True)
            _carry(backup, self.out, old, self._input_ids, move=True)
            _publish_hook("salvaged")
            _discard_folder(backup)
        except (OSError, InputError) as exc:
            log(f"could not clean up {backup} (the next run will): {exc}", level=30)


#: The most entries a folder geotool has not written may hold to become an output folder.
FOREIGN_ENTRIES = 200
#: The system's own trees: no folder in them is an output folder.
_SYSTEM_TREES = frozenset({"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "proc", "sbin",
                           "sys", "usr", "System", "Library"})  # fmt: skip
#: Top-level folders that hold homes and mounts: neither they nor their folders (/home/ann).
_SYSTEM = frozenset({"home", "root", "media", "mnt", "opt", "srv", "var", "run", "Users",
                     "Volumes", "Applications"})  # fmt: skip
#: What a project folder holds (version control): never an output folder.
_PROJECT_MARKS = (".git", ".hg", ".svn")


def _refuse_foreign(out: Path, given: Path | str) -> None:
    """Refuse a folder that is not a results folder: publishing replaces it as a whole.

    The home folder (or one holding it) and a file system's root; and, holding no geotool
    output, a system folder, a folder under version control, a hidden settings folder or
    one of more than :data:`FOREIGN_ENTRIES` entries: every process working in it would be
    left in a deleted folder, and its entries are only linked across.
    """
    home = Path(os.path.expanduser("~")).resolve()
    root = out.parent == out
    if root or out == home or out in home.parents:
        what = ("the file system's root" if root else "your home folder" if out == home
                else "a folder holding your home")  # fmt: skip
        raise InputError(
            f"out={given} is {what}: publishing replaces the output folder as a whole; "
            "choose a folder of its own for out= (e.g. out=~/geotool-results)"
        )
    if not out.is_dir() or (out / MANIFEST).is_file():
        return
    top = out.parts[1] if len(out.parts) > 1 else ""
    system = top in _SYSTEM_TREES or (top in _SYSTEM and len(out.parts) <= 3
                                      and out.parent != home)  # ~/results is hers  # fmt: skip
    kept = next((m for m in _PROJECT_MARKS if (out / m).exists()), None)
    if system or kept or out.name.startswith("."):
        what = (f"a project folder (it holds {kept})" if kept else "a system folder" if system
                else "a hidden (settings) folder")  # fmt: skip
        raise InputError(
            f"out={given} is {what} with no geotool output: publishing replaces the output "
            "folder as a whole; choose a folder of its own for out= (e.g. a subfolder: "
            "out=results)"
        )
    with os.scandir(out) as entries:
        many = sum(1 for _ in zip(range(FOREIGN_ENTRIES + 1), entries, strict=False))
    if many > FOREIGN_ENTRIES:
        raise InputError(
            f"out={given} holds more than {FOREIGN_ENTRIES} entries and no geotool output: "
            "publishing replaces the output folder as a whole; choose a new or empty "
            "folder for out= (e.g. a subfolder: out=results)"
        )


def _enclosing_claims(path: Path) -> Claims:
    """Published geotool folders above ``path``: (folder, files its manifest owns, owner)."""
    return [
        (folder, _owned(folder), str(manifest.get("owner", "geotool run")))
        for folder in path.parents
        if (manifest := read_manifest(folder)) is not None
    ]


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
    """One output file (``geotool map``, ``match``), locked and replaced in one rename.

    Never a file that a published folder above it owns; ``_validate`` checks the path.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with OutputFile(Path(tmp) / "map.html", owner="geotool map") as target:
    ...         _ = target.write("<html></html>")
    ...     sorted(p.name for p in Path(tmp).iterdir())
    ['map.html']
    """

    def __init__(self, path: Path | str, *, owner: str) -> None:
        self.path = Path(os.path.abspath(os.path.expanduser(path)))
        self.owner, self.run_id = owner, _run_id()
        self._lock: FileLock | None = None

    def __enter__(self) -> OutputFile:
        """Refuse a file another output owns; take the lock."""
        _refuse_claimed(self.path, _enclosing_claims(self.path), f"cannot write {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"owner": self.owner, "run": self.run_id}
        self._lock = _take_lock(self.path, f"output file {self.path}", record)
        _remove_dead_staging(self.path.parent)
        return self

    def write(self, data: str | bytes) -> Path:
        """Replace the file with ``data`` (text as UTF-8) in one rename."""
        if self._lock is None:
            raise RuntimeError("OutputFile.write() is only valid inside its with block")
        return write_atomic(self.path, data)

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        """Release the lock."""
        lock, self._lock = self._lock, None
        _drop_lock(lock)


def _record(data: bytes) -> dict[str, Any]:
    """The JSON holder record of a lock file (empty when there is none)."""
    with contextlib.suppress(ValueError):
        if isinstance(record := json.loads(data or b"{}"), dict):
            return record
    return {}


def _take_lock(dest: Path, what: str, record: dict[str, Any]) -> FileLock:
    """Lock ``dest`` by :mod:`filelock` on ``.<name>.geotool-lock`` beside it; record the holder.

    Refused at once (:class:`InputError` naming the holder) when another process holds
    it; the kernel releases it when its holder dies, even by SIGKILL.
    """
    path = dest.parent / f".{dest.name}{LOCK}"
    record = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), **record}
    previous: dict[str, Any] = {}

    def stamp(fd: int) -> None:
        previous.update(_record(os.pread(fd, 4096, 0)))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)

    lock = FileLock(path, timeout=0.2, thread_local=False, fallback_to_soft=False,
                    on_acquired=stamp)  # fmt: skip
    try:
        lock.acquire()
    except Timeout:
        holder: dict[str, Any] = {}
        for _ in range(20):  # the holder writes its record just after locking
            with contextlib.suppress(OSError):
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                with open(os.open(path, flags), "rb") as fh:
                    holder = _record(fh.read(4096))
            if holder:
                break
            time.sleep(0.01)
        raise InputError(
            f"the {what} is in use by another {holder.get('owner', 'geotool run')} (pid "
            f"{holder.get('pid', 'unknown')}, started {holder.get('started', 'unknown')}); "
            "wait for it or choose another out="
        ) from None
    except OSError as exc:  # a link or a folder planted there: never followed
        raise InputError(f"cannot lock the {what}: {exc.strerror}; choose another out=") from None
    pid = previous.get("pid")
    if isinstance(pid, int) and pid > 0 and not _pid_alive(pid):
        log(
            f"taking over the lock of the {what} from a run that is no longer running "
            f"(pid {pid}, started {previous.get('started', 'unknown')})"
        )
    return lock


def _drop_lock(lock: FileLock | None) -> None:
    """Delete the file of a lock of :func:`_take_lock` (filelock copes), then release it."""
    if lock is not None:
        with contextlib.suppress(OSError):
            Path(lock.lock_file).unlink()
        lock.release()
