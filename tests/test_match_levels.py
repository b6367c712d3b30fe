"""Tables at every level: prefectures and provinces, abbreviations, the code history."""

import logging

import pandas as pd
import pytest

from geotool import boundaries, match, settings
from geotool._errors import InputError, MatchError


def codes(out):
    return dict(zip(out.iloc[:, 0], out["adcode"].astype(object), strict=True))


def test_a_prefecture_table_resolves_at_the_prefecture_level(caplog):
    names = ["苏州市", "无锡市", "恩施", "延边", "襄樊市", "北京", "上海市", "天津", "重庆市"]
    names += ["海东地区", "思茅市", "恩施州", "黔东南州", "湘西州", "大兴安岭", "锡林郭勒"]
    table = pd.DataFrame({"城市": names, "GDP": range(len(names))})
    with caplog.at_level(logging.INFO, logger="geotool"):
        out = match.resolve(table)
    assert out.attrs["level"] == "prefecture"
    assert out.attrs["level_reason"].startswith("names: 16 of 16 distinct names are prefecture")
    assert any("prefecture level" in r.getMessage() for r in caplog.records)
    assert (out["match_status"] == "matched").all(), out[out["match_status"] != "matched"]
    assert codes(out) == {
        "苏州市": "320500",
        "无锡市": "320200",
        "恩施": "422800",
        "延边": "222400",
        "襄樊市": "420600",
        "北京": "110100",
        "上海市": "310100",
        "天津": "120100",
        "重庆市": "500100",
        "海东地区": "630200",
        "思茅市": "530800",
        "恩施州": "422800",
        "黔东南州": "522600",
        "湘西州": "433100",
        "大兴安岭": "232700",
        "锡林郭勒": "152500",
    }
    by_name = out.set_index("城市")
    assert by_name.loc["襄樊市", "match_method"] == "crosswalk"
    assert "renamed 襄阳市" in by_name.loc["襄樊市", "match_note"]
    assert "in 2010" in by_name.loc["襄樊市", "match_note"]
    assert "632100 became 630200 海东市 in 2013" in by_name.loc["海东地区", "match_note"]
    assert by_name.loc["恩施", "match_method"] == "name-short"


def test_prefecture_codes_at_the_layer_and_from_the_history():
    table = pd.DataFrame({"代码": ["320500", "632100", "500200", "419000", "110000"]})
    out = match.resolve(table)
    assert out.attrs["level"] == "prefecture"
    assert out["adcode"].tolist() == ["320500", "630200", "500200", "419000", "110100"]
    assert out["match_method"].tolist()[1] == "code+crosswalk"


def test_province_administered_units_and_municipalities_at_the_prefecture_level():
    out = match.resolve(pd.DataFrame({"地级市": ["济源市", "仙桃", "石河子市", "东莞市"]}))
    assert out["adcode"].tolist() == ["419000", "429004", "659001", "441900"]
    units = match.gazetteer("prefecture")
    assert units.loc["419000", "kind"] == "administered"
    assert units.loc["500100", "kind"] == "municipality"
    row = match.resolve(pd.DataFrame({"代码": ["429000"]}), level="prefecture").iloc[0]
    assert row["match_status"] == "ambiguous"
    assert row["match_candidates"].startswith("429004 湖北省仙桃市; 429005 湖北省潜江市")
    # every prefecture-level unit dissolves from county units, and none is lost
    counties = match.gazetteer("county")
    assert set(counties["prefecture_unit"]) == set(units.index)
    # the layer's 345 units, with its three groups of several province-administered
    # units (429000, 469000, 659000) replaced by their 29 members
    assert len(units) == 345 - 3 + 29
    layer = boundaries.load("prefecture")
    ordinary = units[units["kind"] == "prefecture"]
    assert (layer.loc[ordinary.index, "prefecture"] == ordinary["name"]).all()


def test_a_province_table_resolves_at_the_province_level():
    names = ["内蒙", "广西壮族自治区", "新疆", "北京市", "宁夏", "西藏", "黑龙江", "Guangdong"]
    out = match.resolve(pd.DataFrame({"省份": names, "value": range(len(names))}))
    assert out.attrs["level"] == "province"
    assert codes(out) == {
        "内蒙": "150000",
        "广西壮族自治区": "450000",
        "新疆": "650000",
        "北京市": "110000",
        "宁夏": "640000",
        "西藏": "540000",
        "黑龙江": "230000",
        "Guangdong": "440000",
    }
    assert out.set_index("省份").loc["内蒙", "match_method"] == "name-prefix"


def test_a_county_table_with_its_context_columns():
    table = pd.DataFrame(
        {
            "县市": ["江阴市", "昆山市", "龙海市", "朝阳区", "来凤县", "襄城区"],
            "地市": ["无锡", "苏州市", "漳州", "长春市", "恩施州", "襄樊市"],
            "省份": ["江苏", "江苏", "福建", "吉林", "湖北", "湖北"],
            "年份": [2019] * 6,
        }
    )
    found = match.detect_columns(table)
    assert found == {
        "name": "县市",
        "province": "省份",
        "prefecture": "地市",
        "code": None,
        "year": "年份",
    }
    out = match.resolve(table)
    assert out.attrs["level"] == "county"
    assert out["adcode"].tolist() == ["320281", "320583", "350604", "220104", "422827", "420602"]


@pytest.mark.parametrize(
    ("columns", "name", "prefecture", "province", "year"),
    [
        (["城市", "省份", "年度", "GDP"], "城市", None, "省份", "年度"),
        (["City", "Province", "Year"], "City", None, "Province", "Year"),
        (["地市", "GDP"], "地市", None, None, None),
        (["省", "GDP"], "省", None, None, None),
        (["区县", "地市", "省"], "区县", "地市", "省", None),
        (["县（市）", "市", "year"], "县（市）", "市", None, "year"),
        (["DISTRICT", "PREFECTURE", "PROVINCE"], "DISTRICT", "PREFECTURE", "PROVINCE", None),
    ],
)
def test_the_finest_level_column_holds_the_names(columns, name, prefecture, province, year):
    found = match.detect_columns(pd.DataFrame(columns=columns))
    assert (found["name"], found["prefecture"], found["province"], found["year"]) == (
        name,
        prefecture,
        province,
        year,
    )


def test_a_city_column_with_codes_stays_context():
    found = match.detect_columns(pd.DataFrame(columns=["城市", "代码"]))
    assert (found["name"], found["prefecture"], found["code"]) == (None, "城市", "代码")
    out = match.resolve(
        pd.DataFrame({"城市": ["苏州市", "海东地区"], "代码": ["320500", "632100"]})
    )
    assert out["adcode"].tolist() == ["320500", "630200"]


def test_two_name_columns_are_a_question_not_a_guess():
    with pytest.raises(MatchError, match=r"could each hold the unit names.*name_col="):
        match.detect_columns(pd.DataFrame(columns=["县", "地区", "GDP"]))


def test_the_reported_table_of_cities():
    # the issue: 城市 was not recognised, and name_col='城市' matched nothing
    table = pd.DataFrame({"城市": ["苏州市", "无锡市", "南京市"], "GDP": [1, 2, 3]})
    for out in (match.resolve(table), match.resolve(table, name_col="城市")):
        assert out["adcode"].tolist() == ["320500", "320200", "320100"]


def test_a_name_of_another_level_says_which():
    out = match.resolve(pd.DataFrame({"县": ["苏州市", "江阴市", "昆山市"]}))
    assert out.attrs["level"] == "county"
    row = out.iloc[0]
    assert row["match_status"] == "unmatched"
    assert row["match_note"].endswith("苏州市 is a prefecture: use level='prefecture'")
    forced = match.resolve(pd.DataFrame({"name": ["江阴市"]}), level="prefecture")
    assert forced.iloc[0]["match_note"].endswith("use level='county'")
    forced = match.resolve(pd.DataFrame({"name": ["江苏省"]}), level="county")
    assert forced.iloc[0]["match_note"].endswith("use level='province'")


def test_a_dissolved_prefecture_is_reported_with_its_successors():
    for table in (pd.DataFrame({"城市": ["巢湖市"]}), pd.DataFrame({"代码": ["341400"]})):
        row = match.resolve(table, level="prefecture").iloc[0]
        assert row["match_status"] == "ambiguous" and pd.isna(row["adcode"])
        assert (
            row["match_candidates"]
            == "340100 安徽省合肥市; 340200 安徽省芜湖市; 340500 安徽省马鞍山市"
        )
        assert "ended in 2011" in row["match_note"] and "not guessed" in row["match_note"]


def test_abbreviations_that_fit_several_units_are_ambiguous():
    # 海南: the province, and 海南藏族自治州 (青海) at the prefecture level
    row = match.resolve(pd.DataFrame({"地市": ["海南"]}), level="prefecture").iloc[0]
    assert (row["adcode"], row["match_method"]) == ("632500", "name-short")
    row = match.resolve(pd.DataFrame({"地市": ["吉林"]}), level="province").iloc[0]
    assert row["adcode"] == "220000"
    # a bare prefix that begins several names is ambiguous; one character is too short
    row = match.resolve(pd.DataFrame({"地市": ["阿"]}), level="prefecture").iloc[0]
    assert row["match_status"] == "unmatched"
    row = match.resolve(pd.DataFrame({"地市": ["张家"]}), level="prefecture").iloc[0]
    assert (row["match_status"], row["match_method"]) == ("ambiguous", "name-prefix")
    assert row["match_candidates"] == "130700 河北省张家口市; 430800 湖南省张家界市"


def test_level_must_be_a_level():
    with pytest.raises(InputError, match=r"level='city' is not a level"):
        match.resolve(pd.DataFrame({"县": ["江阴市"]}), level="city")


def test_core_strips_types_and_ethnic_groups():
    assert match.core("恩施土家族苗族自治州") == "恩施"
    assert match.core("巴音郭楞蒙古自治州") == "巴音郭楞"
    assert match.core("克孜勒苏柯尔克孜自治州") == "克孜勒苏"
    assert match.core("宁夏回族自治区") == "宁夏"
    assert match.core("广西壮族自治区") == "广西"
    assert match.core("海西蒙古族藏族自治州") == "海西"
    assert match.core("香港特别行政区") == "香港"
    assert match.core("内蒙古自治区") == "内蒙古"


# The code history (areacodes, 1981-2025) as shipped.

CROSSWALK = settings.data_dir / "areacodes_crosswalk.csv"


def test_the_crosswalk_points_at_units_of_the_layers():
    cw = pd.read_csv(CROSSWALK, dtype=str, keep_default_na=False)
    assert set(cw["level"]) == {"county", "prefecture"}
    assert set(cw["extent"]) == {"same", "merged", "split", "unresolved"}
    for level, units in (
        ("county", boundaries.units()),
        ("prefecture", match.gazetteer("prefecture")),
    ):
        rows = cw[cw["level"] == level]
        targets = {c for cell in rows["layer_codes"] for c in cell.split(";") if c}
        assert targets <= set(units.index), level
    one = cw[cw["extent"].isin(["same", "merged"])]
    assert not one["layer_codes"].str.contains(";").any()
    split = cw[cw["extent"] == "split"]
    assert split["layer_codes"].str.contains(";").all()
    assert (cw["extent"] == "unresolved").sum() < 15


def test_the_crosswalk_follows_chains_to_todays_units():
    cw = pd.read_csv(CROSSWALK, dtype=str, keep_default_na=False)
    expect = {
        ("county", "350681"): "350604",  # 龙海市 -> 龙海区, 2021
        ("county", "320684"): "320614",  # 海门市 -> 海门区, 2020
        ("county", "411219"): "411281",  # 义马市, three codes since 1986
        ("county", "431181"): "431121",  # 祁阳市 (2021) is 祁阳县 in the 2021 layer
        ("prefecture", "632100"): "630200",  # 海东地区 -> 海东市
        ("prefecture", "371200"): "370100",  # 莱芜市 merged into 济南市
        ("prefecture", "342600"): "340100;340200;340500",  # 巢湖地区 -> 巢湖市 -> split
    }
    for (level, code), layer in expect.items():
        rows = cw[(cw["level"] == level) & (cw["code"] == code)]
        assert rows["layer_codes"].tolist() == [layer], (level, code)
    laiwu = cw[(cw["level"] == "prefecture") & (cw["code"] == "371200")]
    assert laiwu["extent"].tolist() == ["merged"]


def test_old_names_in_their_old_context():
    # 海南 was part of 广东 until 1988; 襄城区 lay in 襄樊市, 来凤县 in 恩施州
    table = pd.DataFrame(
        {
            "省": ["广东省", "广东省", "广东省", "湖北", "浙江省", "福建"],
            "县": ["定安县", "儋县", "琼山县", "襄城区", "江干区", "龙海市"],
            "市": ["海南行政区", "", "", "襄樊", "杭州", "漳州"],
        }
    )
    out = match.resolve(table)
    assert out["adcode"].iloc[:2].tolist() == ["469021", "460400"]
    assert out["match_status"].tolist()[2:] == ["ambiguous", "matched", "ambiguous", "matched"]
    assert "became 460400 儋州市 in 2015" in out["match_note"].iloc[1]
    assert out["match_candidates"].iloc[4] == "330102 浙江省杭州市上城区; 330114 浙江省杭州市钱塘区"


def test_a_reused_code_is_read_in_its_year():
    # 130107 was 井陉矿区 in 1983-1988 (then part of 井陉县 130121); the code was given
    # again to a new 井陉矿区 in 1992
    # (merged into it: a part of today's 井陉县, set aside with it as the candidate)
    table = pd.DataFrame({"代码": ["130107", "130107", "130107"], "年份": [1985, 2000, None]})
    out = match.resolve(table)
    assert out["adcode"].astype(object).tolist() == [pd.NA, "130107", "130107"]
    assert out["match_status"].tolist() == ["merged", "matched", "matched"]
    assert out["match_candidates"].iloc[0].startswith("130121")
    assert out["match_method"].tolist() == ["code+crosswalk", "code", "code"]
    assert "became 130121 井陉县 in 1989" in out["match_note"].iloc[0]
    assert out["match_note"].iloc[1] == ""
    assert "meant 井陉矿区 in 1983-1988" in out["match_note"].iloc[2]


def test_any_years_codes_are_accounted_for():
    # every code the Ministry published since 1981, at its own level: each row resolves,
    # is a part of a unit it was merged into, is ambiguous with candidates (a split), or is
    # unmatched with a note
    cw = pd.read_csv(CROSSWALK, dtype=str, keep_default_na=False)
    county = cw.loc[cw["level"] == "county", "code"].drop_duplicates()
    county = county[~county.isin(boundaries.units().index)]  # codes since re-used
    out = match.resolve(pd.DataFrame({"代码": county}), level="county")
    assert (out["match_note"].str.len() > 0).all()
    with_candidates = out["match_status"].isin(["ambiguous", "merged"])
    assert (~with_candidates | (out["match_candidates"] != "")).all()
    share = out["match_status"].isin(["matched", "merged"]).mean()
    assert share > 0.85 and (out["match_status"] == "merged").sum() > 100


def test_a_prefecture_code_among_county_codes_is_named_as_one():
    """巢湖市's 341400 (a prefecture until 2011) in a county table: not a bare "unknown code"."""
    table = pd.DataFrame({"代码": ["341400", "320281", "999999"], "v": [1.0, 2.0, 3.0]})
    got = match.resolve(table, level="county")
    assert got["adcode"].tolist()[1] == "320281"
    assert got["match_note"].iloc[0] == (
        "unknown code '341400' at the county level: a prefecture code "
        "(level='prefecture' for prefectures)"
    )
    assert got["match_note"].iloc[2] == "unknown code '999999'"


def test_a_unit_merged_into_another_is_a_part_never_the_whole():
    """港闸区 and 崇川区 were merged into a new 崇川区 (320613) in 2020; 莱芜市 into 济南市 in
    2019. A row naming the merged-away unit is a part of today's: set aside with status
    "merged" and today's unit as its candidate (its value was given to the whole before);
    a renamed unit (龙海市) still matches, and a row of today's unit is noted."""
    counties = pd.DataFrame({"县": ["港闸区", "崇川区", "龙海市", "崇文区"],
                             "省": ["江苏", "江苏", "福建", "北京"]})  # fmt: skip
    out = match.resolve(counties, name_col="县", province_col="省", level="county")
    status = dict(zip(out["县"], out["match_status"], strict=True))
    assert status == {"港闸区": "merged", "崇川区": "matched", "龙海市": "matched",
                      "崇文区": "merged"}  # fmt: skip
    assert codes(out)["龙海市"] == "350604" and pd.isna(codes(out)["港闸区"])
    part = out.set_index("县").loc["港闸区"]
    assert part["match_candidates"].startswith("320613") and "a part of it" in part["match_note"]
    assert "merged into this unit" in out.set_index("县").loc["崇川区", "match_note"]
    by_code = match.resolve(pd.DataFrame({"代码": ["320611", "320281"]}), code_col="代码")
    assert by_code["match_status"].tolist() == ["merged", "matched"]
    cities = match.resolve(pd.DataFrame({"市": ["莱芜市", "苏州市"]}), name_col="市",
                           level="prefecture")  # fmt: skip
    assert cities["match_status"].tolist() == ["merged", "matched"]
    assert cities["match_candidates"].iloc[0].startswith("370100")
