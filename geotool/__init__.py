"""geotool: spatial analysis of China's top-100 industrial counties, and of any geography.

Public modules by concern (the core takes GeoDataFrames or codes, and weights, and
returns frames on the input's index):

* :mod:`geotool.boundaries` (the bundled polygons), :mod:`geotool.geometry` (positions
  in a projected CRS chosen for the data), :mod:`geotool.datum` (GCJ-02 / BD-09 /
  WGS84), :mod:`geotool.geofile` (users' own polygon files, and joining a table to them);
* :mod:`geotool.io` (users' tables), :mod:`geotool.match` (names to adcodes);
* :mod:`geotool.weights` (spatial weights for any geometry, or a libpysal Graph/W),
  :mod:`geotool.autocorr` (global and local statistics), :mod:`geotool.tiers` (tier
  diffusion), :mod:`geotool.clusters` (city clusters, networks, belts),
  :mod:`geotool.maps` (standalone HTML maps), :mod:`geotool.transform` (logs,
  z-scores, rates and empirical-Bayes smoothed rates), :mod:`geotool.dynamics` (panels:
  Moran's I by year, rank mobility, Markov and spatial Markov chains),
  :mod:`geotool.batch` (many analyses at once, serially or on a dask cluster);
* :mod:`geotool.report`: the 2020 report as a recipe on that core (rankings, the
  figures check, its maps and the ``geotool run`` pipeline);
* :mod:`geotool.settings` (package-wide settings); exceptions below.
"""

from typing import TYPE_CHECKING

from geotool._errors import DataError, GeotoolError, InputError, MatchError
from geotool._version import __version__

# The public modules are imported on first use (``geotool.weights``, ``from geotool import
# maps``, PEP 562), so that ``geotool --help`` or ``geotool match`` need not load folium
# and libpysal; the checkers see them here.
if TYPE_CHECKING:
    from geotool import (
        autocorr,
        batch,
        boundaries,
        clusters,
        datum,
        dynamics,
        geofile,
        geometry,
        io,
        maps,
        match,
        report,
        settings,
        tiers,
        transform,
        weights,
    )


def __getattr__(name: str) -> object:
    """Import a public module on first access (PEP 562)."""
    if name in _MODULES:
        import importlib

        return importlib.import_module(f"geotool.{name}")
    msg = f"module 'geotool' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


__all__ = [
    "DataError",
    "GeotoolError",
    "InputError",
    "MatchError",
    "__version__",
    "autocorr",
    "batch",
    "boundaries",
    "clusters",
    "datum",
    "dynamics",
    "geofile",
    "geometry",
    "io",
    "maps",
    "match",
    "report",
    "settings",
    "tiers",
    "transform",
    "weights",
]

#: The public modules: the lower-case names of ``__all__``.
_MODULES = frozenset(n for n in __all__ if n.islower() and not n.startswith("_"))
