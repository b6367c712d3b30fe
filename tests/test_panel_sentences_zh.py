"""Issue 24: a panel's sentences said in Chinese on a Chinese index (``maps/words.toml``).

The sentences are those geotool writes for libpysal's us_income (48 states, queen
contiguity): the Markov, spatial Markov and LISA Markov chains (:func:`dynamics.analyse`),
σ- and β-convergence, clubs and the Theil decomposition (:mod:`geotool.divergence`),
the tests' meanings, and the notes of what a measure does not show. Each is said with no
English phrase left (so not marked ``lang="en"``), every number of the English sentence
is in the Chinese one, and the English page is unchanged.
"""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import pytest
from libpysal import examples
from libpysal.weights import Queen

from geotool import divergence, dynamics
from geotool.maps import pages

#: Three lowercase English words in a row (as tests/test_pages_lang.py): not said.
ENGLISH = re.compile(r"(?<![\w.@/-])[a-z]+(?:[ ,;:'’()-]+[a-z]+){2,}(?![\w.@/-])")
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?%?|nan")


@pytest.fixture(scope="module")
def us() -> tuple[pd.DataFrame, Queen]:
    """States x years of per-capita income, and their queen weights (libpysal)."""
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME").loc[wide.index]
    wide = wide[[str(y) for y in range(1929, 2010)]].astype(float)
    wide.columns = wide.columns.astype(int)
    wide.index.name = "income"
    return wide, Queen.from_dataframe(states, use_index=True)


def _window(wide: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    return wide.loc[:, first:last].rename_axis(columns=None)


def _sentences(wide: pd.DataFrame, w: Queen) -> list[str]:
    """Every sentence and note the dynamics and divergence stages write for ``wide``."""
    p = dynamics.panel(wide)
    found = dynamics.analyse(p, w, k=4)
    out = [*found["sentences"], *found["spatial_markov"]["tests"]["meaning"],
           *found["lisa_markov"]["tests"]["meaning"]]  # fmt: skip
    south = pd.Series(["south" if i % 3 == 0 else "north" for i in range(len(wide))],
                      index=wide.index)  # fmt: skip
    beta = divergence.beta_convergence(p)
    spatial = divergence.spatial_beta_convergence(p, w)
    conditional = divergence.beta_convergence(p, pd.get_dummies(south, dtype=float).iloc[:, 1:])
    out.append(f"Absolute: {beta.attrs['finding']} Spatial lag (ML): "
               f"{spatial.attrs['finding']} Conditional on the groups: "
               f"{conditional.attrs['finding']}")  # fmt: skip, as geotool.regional writes it
    for frame in (divergence.sigma_convergence(p), beta,
                  divergence.clubs(p, by="lisa", w=w, permutations=99, seed=1),
                  divergence.clubs(p, by="quantile"), divergence.inequality(p, south)):
        out += [frame.attrs["finding"], frame.attrs["not_shown"]]
    return out


@pytest.mark.parametrize("years", [(1929, 2009), (1929, 1931), (1980, 1990)])
def test_every_panel_sentence_is_said_in_chinese(us, years):
    wide, w = us
    sentences = _sentences(_window(wide, *years), w)
    assert len(sentences) == 18
    for text in sentences:
        said = pages.sentence_html(text, "zh")
        assert 'lang="en"' not in said and not ENGLISH.search(said), (text, said)
        assert re.search(r"[\u4e00-\u9fff]", said), said
        numbers = [n for n in NUMBER.findall(text) if n not in ("0", "1")]
        missing = [n for n in numbers if n not in said.replace("—", "-")]
        assert not missing, (text, said, missing)
        assert pages.sentence_html(text, "en") == pages.sentence_html(text, "en").strip()
        assert "lang=" not in pages.sentence_html(text, "en")


def test_the_verdicts_say_which_way_the_data_went(us):
    """Converging incomes 1929-2009: poorer states grew faster, with a half-life."""
    wide, w = us
    finding = divergence.beta_convergence(dynamics.panel(wide)).attrs["finding"]
    assert "poorer units grew faster" in finding and "half-life" in finding
    half = re.search(r"half-life (\d+) years", finding).group(1)
    assert f"初始水平较低的单元增长较快；半衰期 {half} 年" in pages.sentence_html(finding, "zh")
    spatial = dynamics.spatial_markov(dynamics.panel(wide), w, k=4)["sentence"]
    zh = pages.sentence_html(spatial, "zh")
    if "is associated with" in spatial:
        assert "与邻居所在的类有关" in zh and "看不出" not in zh
    else:
        assert "看不出与邻居所在的类有关" in zh


def test_an_unknown_sentence_stays_english_and_is_marked():
    """A check that can fail: a sentence no pattern says is left English, marked so."""
    text = "Of 3 widgets the wobbly one fell over twice."
    assert pages.sentence_html(text, "zh") == f'<span lang="en">{text}</span>'
