"""Property-based tests of match.resolve: arbitrary cells never break it."""

import pandas as pd
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st

from geotool import boundaries, match
from geotool._errors import InputError
from tests.test_match import cells, rowwise

UNITS = boundaries.units()
STATUSES = {"matched", "ambiguous", "unmatched"}

cell = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(pd.NA),
    st.text(max_size=10),  # any code point: control characters, surrogates excepted
    st.text(alphabet="0123456789３２０.-a ★\t", max_size=14),  # code-like
    st.sampled_from(sorted(set(UNITS["name"]) | set(UNITS["prefecture"]))),
    st.sampled_from(["江苏", "吉林", "Jiangsu", "省直管", "320281", "350681000000"]),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(),
    st.booleans(),
    st.builds(  # huge; no lone surrogates (no decoded file holds one)
        lambda c, k: c * k, st.characters(exclude_categories=("Cs",)), st.integers(1_000, 300_000)
    ),
)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 6))
    roles = draw(st.sets(st.sampled_from(["省", "市", "县", "代码", "值"]), min_size=1))
    data = {col: draw(st.lists(cell, min_size=n, max_size=n)) for col in sorted(roles)}
    index = draw(st.lists(st.integers(-3, 3) | st.text(max_size=2), min_size=n, max_size=n))
    return pd.DataFrame(data, index=index)


def check(table, out):
    assert len(out) == len(table)
    assert out.index.tolist() == table.index.tolist()
    assert set(out["match_status"]) <= STATUSES
    matched = out["match_status"] == "matched"
    units = match.gazetteer(out.attrs["level"])  # the level resolve chose (auto)
    assert out.loc[matched, "adcode"].isin(units.index).all()
    assert out.loc[~matched, "adcode"].isna().all()
    assert out["match_note"].str.len().max() < 2_000


@settings(max_examples=80, deadline=None)
@given(table=tables())
def test_resolve_raises_only_input_errors_and_keeps_every_row(table):
    try:
        out = match.resolve(table)
    except InputError:  # MatchError is one
        return
    check(table, out)
    county = match.resolve(table, level="county")  # the county rules, row by row
    check(table, county)
    assert cells(county) == cells(rowwise(table))


@settings(max_examples=40, deadline=None)
@given(
    names=st.lists(st.text(max_size=6) | st.integers(0, 3), min_size=1, max_size=4),
    column=st.integers(0, 3),
    cells_=st.lists(cell, min_size=1, max_size=4),
)
def test_any_column_names_and_a_named_column(names, column, cells_):
    table = pd.DataFrame({i: cells_ for i in range(len(names))})
    table.columns = names
    try:
        out = match.resolve(table, name_col=names[column % len(names)])
    except InputError as err:
        assert "\n" not in str(err)  # one line
        return
    check(table, out)


_NAMES = sorted(set(UNITS["name"]))
_typo = st.builds(
    lambda name, at, c: name[: at % len(name)] + c + name[at % len(name) + 1 :],
    st.sampled_from(_NAMES), st.integers(0, 10), st.sampled_from(list("阳阴东西南北市县区旗江山a")),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_typo, st.text(max_size=8), st.sampled_from(_NAMES)))
def test_closest_names_are_difflib_s_on_every_name(word):
    """The candidates' pre-filter (match._could_be_close) drops only names difflib's ratio
    could never bring to its 0.5 cutoff: the closest names are exactly difflib's."""
    import difflib

    got = match._close_matches(word, _NAMES, 3)
    assert got == difflib.get_close_matches(word, _NAMES, n=3, cutoff=0.5)
