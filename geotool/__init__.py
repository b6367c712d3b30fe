"""geotool: reproducible spatial analysis of China's top-100 industrial counties and districts.

Modules by concern: :mod:`geotool.boundaries` (the bundled polygons),
:mod:`geotool.rankings` (the report's rankings as data), :mod:`geotool.match`
(names to adcodes), :mod:`geotool.report` (the report's figures recomputed),
:mod:`geotool.weights` and :mod:`geotool.autocorr` (spatial autocorrelation),
:mod:`geotool.tiers` (east-west diffusion), :mod:`geotool.clusters` (city clusters and
the county network), :mod:`geotool.maps` (Folium maps), :mod:`geotool.pipeline`
(``geotool run``), :mod:`geotool.datum` (GCJ-02 / WGS84), :mod:`geotool.io` (users'
tables), :mod:`geotool.settings` (package-wide settings).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geotool")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
