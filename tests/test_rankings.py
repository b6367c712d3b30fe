"""The rankings data equal the report's tables, row for row."""

import re

import pandas as pd
import pytest

from geotool import boundaries
from geotool.report import rankings

from .conftest import DATA, ROOT

SEED = ROOT.parent / "shared" / "seeds" / "000_21ae1137b39f0e3a.txt"
TABLES = {
    "industrial_counties": ("表 1  2020", "表 2  2020"),
    "innovation_counties": ("表 2  2020", "二、2020 年中国工业百强县"),
    "industrial_districts": ("表 3  2020", "（二）2020 年中国工业百强区分布情况"),
}
ROW = re.compile(r"^(\d{1,3}) +(\S+) +(\S+) +(\S+?)(★?) *$")


def parse_report(text: str) -> pd.DataFrame:
    rows = []
    for ranking, (start, end) in TABLES.items():
        i = text.index(start)
        block = text[i : text.index(end, i)]
        for line in block.splitlines():
            m = ROW.match(line.strip())
            if m:
                rows.append(
                    {
                        "ranking": ranking,
                        "rank": int(m[1]),
                        "province": m[2],
                        "prefecture": m[3],
                        "name": m[4],
                        "star": m[5] == "★",
                    }
                )
    return pd.DataFrame(rows)


def test_vendored_report_is_the_shared_seed():
    if not SEED.exists():
        pytest.skip("shared/ is not beside this clone")
    assert (DATA / "report_2020.txt").read_bytes() == SEED.read_bytes()


def test_data_equal_the_report_row_for_row():
    parsed = parse_report((DATA / "report_2020.txt").read_text(encoding="utf-8"))
    data = rankings.load()[["ranking", "rank", "province", "prefecture", "name", "star"]]
    assert len(parsed) == 300
    pd.testing.assert_frame_equal(parsed, data)


def test_tie_at_thirty_and_no_thirty_one():
    top = rankings.load("industrial_counties")
    assert top.loc[top["rank"] == 30, "name"].tolist() == ["荣成市", "邳州市"]
    assert 31 not in set(top["rank"])
    assert top["rank"].max() == 100 and len(top) == 100
    assert (top.loc[top["rank"] == 30, "tier"] == 2).all()
    assert top.groupby("tier").size().to_dict() == {1: 6, 2: 25, 3: 31, 4: 38}


def test_every_row_resolves_to_a_unique_adcode_in_the_boundaries():
    units = boundaries.units()
    for name in rankings.RANKINGS:
        table = rankings.load(name)
        assert table["adcode"].is_unique
        assert table["adcode"].isin(units.index).all()
        # names as printed agree with the boundaries, but for the crosswalked 龙海
        differs = table[units.loc[table["adcode"], "name"].to_numpy() != table["name"]]
        assert differs["name"].tolist() == (["龙海市"] if name == "industrial_counties" else [])


def test_regions_cover_every_ranked_unit():
    assert rankings.load()["region"].isin(["east", "central", "west", "northeast"]).all()


def test_universes():
    counties = rankings.universe("industrial_counties")
    districts = rankings.universe("industrial_districts")
    assert counties.intersection(districts).empty
    units = boundaries.units()
    assert "350604" in counties  # 龙海: a county-level city in 2020, a district in 2021
    assert "320614" in districts  # 海门: a district since June 2020
    assert (
        not units.loc[counties, "province_code"]
        .isin(["110000", "120000", "310000", "500000"])
        .any()
    )
    assert not units.loc[districts, "region"].eq("none").any()
    for name in rankings.RANKINGS:
        assert rankings.load(name)["adcode"].isin(rankings.universe(name)).all()
