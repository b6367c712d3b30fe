"""Package-wide settings.

Module-level values, read at call time, so they can be changed for a session::

    import geotool.settings
    geotool.settings.permutations = 9999

Attributes
----------
boundaries_dir : pathlib.Path
    Folder holding the bundled boundary layers (GeoParquet) and their metadata.
data_dir : pathlib.Path
    Folder holding the package's tabular data (rankings, regions, crosswalk...).
default_crs : str
    CRS of every layer geotool returns: WGS84 longitude/latitude, ``"EPSG:4326"``.
equal_area_crs : str
    Albers equal-area conic for China (standard parallels 25 N and 47 N, central
    meridian 105 E, WGS84 datum, metres). Used for areas, distances and
    simplification tolerances. Areas are exact in it; distances are off by under
    about 1.5 % across mainland China, which is far below what any statistic here
    can resolve.
simplify_tolerance_m : float
    Coverage-simplification tolerance (metres, in ``equal_area_crs``) used by
    ``geotool boundaries build``.
permutations : int
    Default number of conditional permutations for pseudo p-values.
seed : int
    Default random seed.
cache_dir : pathlib.Path or None
    Folder for derived layers of the bundled data kept between processes (the
    cluster polygons, the linked view's paths; see :mod:`geotool._cache`): the
    environment's ``GEOTOOL_CACHE_DIR``, else ``$XDG_CACHE_HOME/geotool`` or
    ``~/.cache/geotool``. ``None`` (or ``GEOTOOL_CACHE_DIR=off``) computes them in
    every process.
background : bool
    Whether a run renders its figures in a second (forked) process while the first
    writes the maps (Linux only; see :mod:`geotool._background`). On unless the
    environment sets ``GEOTOOL_BACKGROUND=0``; results are the same either way.
page_test_hooks : bool
    Whether map pages expose ``data-geotool-*`` attributes for browser tests and
    benchmarks (off by default; on when the environment sets ``GEOTOOL_TEST_HOOKS=1``).

"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

# A source checkout (editable install) reads the repository's boundaries/; a wheel
# carries the same files as the package folder geotool/boundaries_data/.
boundaries_dir: Path = next(
    (
        p
        for p in (_PACKAGE.parent / "boundaries", _PACKAGE / "boundaries_data")
        if (p / "county.parquet").exists()
    ),
    _PACKAGE.parent / "boundaries",
)
data_dir: Path = _PACKAGE / "data"
default_crs: str = "EPSG:4326"
equal_area_crs: str = (
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"
)
simplify_tolerance_m: float = 200.0
permutations: int = 999
seed: int = 12345


def _default_cache_dir() -> Path | None:
    """``GEOTOOL_CACHE_DIR``, else the user's cache folder; ``None`` when off or homeless."""
    given = os.environ.get("GEOTOOL_CACHE_DIR", "")
    if given.lower() in ("off", "none", "0"):
        return None
    if given:
        return Path(given)
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geotool"
    except RuntimeError:  # no home directory (a bare container user): no cache
        return None


cache_dir: Path | None = _default_cache_dir()
background: bool = os.environ.get("GEOTOOL_BACKGROUND", "1") != "0"
page_test_hooks: bool = os.environ.get("GEOTOOL_TEST_HOOKS", "") == "1"
