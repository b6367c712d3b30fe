"""The notebooks run top to bottom on the bundled data, and are stored without outputs."""

from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
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
