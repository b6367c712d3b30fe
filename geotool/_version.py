"""The installed version of geotool (``geotool.__version__``), readable from any layer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geotool")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
