"""The package's layering, checked by walking its imports (``ast``).

Layers, lowest first: internals and settings; the core (data access, geometry,
weights, statistics, maps); the report recipe; the CLI. A module may import its own
layer or lower ones, never higher; no import circles; no module imports another
module's private names (``from geotool.x import _y``, private modules included: an
engine's face is its public names); private modules (``_*.py``) themselves are free to be
imported, they are the engines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent / "geotool"

#: layer of each module (by dotted name prefix); higher numbers may import lower ones.
LAYERS = {
    "geotool._": 0,
    "geotool.settings": 0,
    "geotool._numbers": 0,  # numbers as legends and tooltips show them (12,345, 4.48万)
    "geotool.datum": 1,
    "geotool.boundaries": 1,
    "geotool.io": 1,
    "geotool.geometry": 1,
    "geotool.match": 2,
    "geotool.geofile": 2,  # reads users' polygons; ids and names as match normalises them
    "geotool.weights": 2,
    "geotool.autocorr": 3,
    "geotool.transform": 3,
    "geotool.dynamics": 3,
    "geotool.tiers": 3,
    "geotool.divergence": 3,  # inequality decompositions and convergence over a panel
    "geotool.composite": 3,  # composite indices (AHP, entropy, CRITIC, PCA); tiers for sensitivity
    "geotool.clusters": 3,
    "geotool.maps": 3,  # maps, and the pages and figures every study's run draws
    "geotool.maps.local": 3,  # GeoDa's local views: Gi* hot spots, significance, bivariate
    "geotool.maps.charts": 3,  # figures of divergence, convergence and composite indices
    "geotool.maps.onepage": 3,  # a run's one-page summary for print: maps, statistics, findings
    "geotool._batch": 3,  # the batch engine: many analyses, serial or on dask
    "geotool.raster": 3,  # LISA on grid cells (GeoTIFF, xarray): the autocorr engine on rasters
    "geotool.regress": 3,  # spatial regression (spreg, mgwr): fits, diagnostics, tables
    # the report's data and its own maps (rankings, check, figures), beside the study
    # description and its preparation
    "geotool.report": 4,
    "geotool.study": 4,
    "geotool.analysis": 4,
    "geotool.userdata": 4,
    "geotool.regional": 4,  # a study's composite index and divergence stages
    "geotool.regress_stage": 4,  # a study's regression stage: tables, maps of residuals
    "geotool.pipeline": 5,  # the stages every study runs
    "geotool.raster_stages": 5,  # a grid's run (geotool run --raster): raster through the pipeline
    "geotool.report.study": 6,  # the 2020 report: one study with its own stages
    "geotool.batch": 6,  # many analyses as one study through the pipeline (the engine: _batch)
    "geotool.cli": 7,
    "geotool": 8,  # the package's __init__ re-exports everything
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p)), key=len)
    return LAYERS[best]


def _imports() -> list[tuple[str, str, list[str], int]]:
    """(module, imported module, imported names, line) for every geotool import."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("geotool"):
                    names = [a.name for a in node.names]
                    out.append((mod, node.module, names, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("geotool"):
                        out.append((mod, alias.name, [], node.lineno))
    return out


def _targets(imported: str, names: list[str]) -> list[str]:
    """The modules an import statement reaches (``from geotool import x`` reaches x)."""
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    reached = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in modules]
    return reached or [imported]


def test_the_walker_sees_the_package():
    found = _imports()
    assert len(found) > 50
    assert any(m == "geotool.cli" for m, *_ in found)


def test_no_module_imports_another_modules_private_names():
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    bad = [
        f"{mod}:{line} imports {name} from {imported}"
        for mod, imported, names, line in _imports()
        for name in names
        if name.startswith("_")
        and not name.endswith("__")
        and f"{imported}.{name}" not in modules  # importing a private module (an engine) is fine
        and imported != mod
    ]
    assert not bad, bad


@pytest.mark.parametrize("kind", ["layers", "circles"])
def test_layers_point_down_and_there_are_no_circles(kind):
    graph = nx.DiGraph()
    upward = []
    for mod, imported, names, line in _imports():
        for target in _targets(imported, names):
            if target == mod or mod.startswith(target + "."):
                continue  # a package's own __init__, or the package itself
            if mod == "geotool" or target == "geotool":
                continue
            graph.add_edge(mod, target)
            if _layer(target) > _layer(mod):
                upward.append(f"{mod} (layer {_layer(mod)}):{line} imports {target}")
    if kind == "layers":
        assert not upward, upward
    else:
        cycles = list(nx.simple_cycles(graph))
        assert not cycles, cycles


def test_the_generic_stages_know_no_recipe():
    """Every study's pipeline imports nothing of the 2020 report: the report brings its own.

    ``geotool.report`` is one package with ``geotool.report.study`` (which imports the
    pipeline) in it; an import back from the pipeline would run upward in the package view.
    """
    generic = ("geotool.pipeline", "geotool.analysis", "geotool.study", "geotool.userdata")
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, imported, names, line in _imports()
        for target in _targets(imported, names)
        if mod in generic and target.startswith("geotool.report")
    ]
    assert not bad, bad


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal (f-string parts included) that is not a docstring."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.add(id(value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_library_messages_name_parameters_not_flags():
    """Only the CLI speaks in flags (``--value-col``); the library names parameters."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _strings(tree):
            offenders += [f"{path.name}:{line}: {hit}" for hit in flag.findall(text)]
    assert not offenders, offenders


def test_the_library_never_switches_the_matplotlib_backend():
    hits = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "matplotlib.use(" in p.read_text(encoding="utf-8")
    ]
    assert not hits
