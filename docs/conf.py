"""Sphinx configuration: geotool's documentation site (API, tutorials, quick starts).

Built from the repository's root so that the notebooks in ``notebooks/`` run where they
live (their paths are relative to it)::

    python -m sphinx -W --keep-going -b html -c docs . docs/_build/html

``-W`` turns every warning into an error (CI builds it so). The notebooks are stored
without outputs and executed during the build (myst-nb), so the tutorials show what the
code computes today; the API reference comes from the numpy-style docstrings.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geotool import __version__  # noqa: E402

project = "geotool"
author = "geotool developers"
copyright = "2026, geotool developers"  # noqa: A001
release = version = __version__
language = "en"

root_doc = "docs/index"
include_patterns = ["docs/**", "notebooks/*.ipynb"]
exclude_patterns = ["docs/_build/**", "**/.ipynb_checkpoints/**", "docs/*.png"]

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

# The API reference: one page per public module, from the docstrings.
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The tutorials: the notebooks, executed during the build (no outputs are stored in git).
nb_execution_mode = "auto"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_in_temp = False  # their paths (../examples, ../outputs) are the notebooks' own
nb_execution_show_tb = True
myst_enable_extensions = ["colon_fence", "dollarmath"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "pydata_sphinx_theme"
html_title = "geotool"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []
templates_path = ["docs/_templates"]  # relative to the source folder (the root)
