"""The notebooks run top to bottom on the bundled data, and are stored without outputs.

Executing a notebook costs a kernel and its whole analysis: the default run executes the
quick start; the full run (``-m "slow or not slow"``) executes every notebook. Each slow
one names the default tests that cover the same calls.
"""

import ast
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: Executed in the full run only: the default tests that exercise the same API calls.
COVERED_BY = {
    "02_autocorrelation": "tests/test_autocorr.py (global, join counts, local, scatter, "
    "sensitivity on industrial_counties)",
    "03_city_clusters": "tests/test_clusters.py::test_network_belts_radiation_and_overlaps "
    "and test_plans_differ_from_report2020_where_expected",
    "04_prefecture_panel": "tests/test_user_levels.py (prefecture tables, panel of rates "
    "through the run) and tests/test_dynamics.py",
    "05_own_geometry_gcj02": "tests/test_user_levels.py::"
    "test_own_geometry_runs_end_to_end_with_the_same_numbers_as_the_api and "
    "tests/test_geometry_files.py",
    "06_composite_index": "tests/test_composite.py and tests/test_run_user.py",
    "07_divergence": "tests/test_divergence.py (Theil, Gini, sigma, beta, clubs)",
    "08_spatial_regression": "tests/test_regress.py (OLS, ML lag/error, impacts, regimes)",
}


def _cost(path: Path):
    stem = path.stem
    if stem not in COVERED_BY:
        return path
    return pytest.param(path, marks=pytest.mark.slow(reason=f"covered by {COVERED_BY[stem]}"))


def test_the_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_quick_start",
        "02_autocorrelation",
        "03_city_clusters",
        "04_prefecture_panel",
        "05_own_geometry_gcj02",
        "06_composite_index",
        "07_divergence",
        "08_spatial_regression",
    ]
    assert set(COVERED_BY) == {p.stem for p in NOTEBOOKS[1:]}  # all but the quick start


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_is_stored_without_outputs_and_parses(path: Path):
    """Cheap checks of every notebook in the default run (execution: below)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.get("outputs") for c in code), "clear the outputs before committing"
    assert all(c.get("execution_count") is None for c in code)
    for cell in code:  # IPython magics (%matplotlib) are not Python
        ast.parse("\n".join(x for x in cell.source.splitlines() if not x.startswith("%")))


@pytest.mark.parametrize("path", [_cost(p) for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_runs(path: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "clear the outputs before committing"
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    # A tutorial shows what it draws: a figure as an image, never as "<Figure size ...>" text.
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    as_text = [o for o in outputs if "image/png" not in o.get("data", {})
               and str(o.get("data", {}).get("text/plain", "")).startswith("<Figure size")]
    assert not as_text, "a figure shown as text, not as an image"
    drawn = [c for c in nb.cells if c.cell_type == "code" and c.source.strip().endswith("fig")]
    for cell in drawn:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source[-80:]
