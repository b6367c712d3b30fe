import pandas as pd
import pytest

from geotool import io, match
from geotool._errors import InputError, MatchError


def one(**row):
    out = match.resolve(pd.DataFrame([row]))
    return out.iloc[0]


def test_exact_names_with_context():
    r = one(省="江苏", 市="无锡市", 县="江阴市")
    assert (r["adcode"], r["match_status"], r["match_method"]) == ("320281", "matched", "name")


def test_full_width_spaces_and_markers_are_normalised():
    r = one(省="ｊｉａｎｇｓｕ", 县=" 江 阴 市 ★")
    assert r["adcode"] == "320281"
    assert one(province="Jiangsu", name="昆山市")["adcode"] == "320583"
    assert match.normalise("库尔勒市（1）") == "库尔勒市"


def test_abbreviated_province_and_prefecture():
    r = one(省="新疆", 市="巴音郭楞", 县="库尔勒市")
    assert r["adcode"] == "652801"
    assert one(省="内蒙古", 县="准格尔旗")["adcode"] == "150622"


def test_province_administered_units():
    r = one(省="湖北", 市="省直管", 县="仙桃市")
    assert (r["adcode"], r["match_status"]) == ("429004", "matched")
    assert one(省="河南", 市="省直辖县级行政区划", 县="济源市")["adcode"] == "419001"


def test_renamed_unit_resolves_through_the_crosswalk():
    r = one(省="福建", 市="漳州市", 县="龙海市")
    assert (r["adcode"], r["match_method"]) == ("350604", "crosswalk")
    assert "350681" in r["match_note"] and "2021" in r["match_note"]
    by_code = one(adcode="350681")
    assert (by_code["adcode"], by_code["match_method"]) == ("350604", "code+crosswalk")


def test_ambiguous_names_list_candidates_and_never_guess():
    r = one(县="朝阳区")
    assert r["match_status"] == "ambiguous" and pd.isna(r["adcode"])
    assert "110105" in r["match_candidates"] and "220104" in r["match_candidates"]
    r = one(县="新华区")
    assert r["match_candidates"].count(";") == 2  # three candidates
    assert one(省="吉林", 县="朝阳区")["adcode"] == "220104"
    assert one(市="沧州市", 县="新华区")["adcode"] == "130902"


def test_typos_are_unmatched_with_the_closest_names():
    r = one(省="江苏", 县="江阳市")
    assert r["match_status"] == "unmatched" and pd.isna(r["adcode"])
    assert "江阴市" in r["match_candidates"]


def test_name_without_suffix_matches_its_stem():
    r = one(省="江苏", 县="昆山")
    assert (r["adcode"], r["match_method"]) == ("320583", "name-stem")


def test_name_in_the_wrong_province_is_unmatched_and_says_where_it_is():
    r = one(省="浙江", 县="江阴市")
    assert r["match_status"] == "unmatched"
    assert "320281" in r["match_candidates"]


def test_code_and_name_that_disagree_are_ambiguous():
    r = one(adcode="320281", name="昆山市")
    assert r["match_status"] == "ambiguous"
    assert "320281" in r["match_candidates"] and "320583" in r["match_candidates"]


def test_every_row_comes_out_in_order():
    rows = pd.DataFrame(
        {"县": ["江阴市", "朝阳区", "不存在县", None, "昆山市"]}, index=[5, 3, 9, 1, 0]
    )
    out = match.resolve(rows)
    assert out.index.tolist() == [5, 3, 9, 1, 0]
    assert out["match_status"].tolist() == [
        "matched",
        "ambiguous",
        "unmatched",
        "unmatched",
        "matched",
    ]


def test_gbk_file_with_rare_characters(tmp_path):
    path = tmp_path / "gbk.csv"
    text = "省份,区县,值\n安徽,埇桥区,1\n陕西,鄠邑区,2\n江苏,江阴市,3\n"
    path.write_bytes(text.encode("gbk"))
    table = io.read_table(path)
    assert table.attrs["encoding"] == "gb18030"
    out = match.resolve(table)
    assert out["adcode"].tolist() == ["341302", "610118", "320281"]


def test_bom_utf8_and_excel(tmp_path):
    csv = tmp_path / "bom.csv"
    csv.write_bytes("县,值\n江阴市,1\n".encode("utf-8-sig"))
    assert io.read_table(csv).columns.tolist() == ["县", "值"]
    xlsx = tmp_path / "t.xlsx"
    pd.DataFrame({"名称": ["晋江市"], "省": ["福建"]}).to_excel(xlsx, index=False)
    assert match.resolve(io.read_table(xlsx))["adcode"].tolist() == ["350582"]


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(MatchError, match="no rows"):
        match.resolve(pd.DataFrame({"县": []}))
    with pytest.raises(MatchError, match="No unit-name or code column"):
        match.resolve(pd.DataFrame({"value": [1]}))
    with pytest.raises(MatchError, match="not in the table"):
        match.resolve(pd.DataFrame({"县": ["江阴市"]}), name_col="county")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        io.read_table(empty)
    with pytest.raises(InputError, match="No file"):
        io.read_table(tmp_path / "missing.csv")


def test_duplicate_units_are_an_error_naming_the_rows():
    out = match.resolve(pd.DataFrame({"县": ["江阴市", "昆山市", "江阴市"]}))
    with pytest.raises(MatchError, match=r"320281: rows \[0, 2\]"):
        match.require_unique(out)


def test_columns_are_found_by_their_common_names():
    found = match.detect_columns(pd.DataFrame(columns=["地区", "省份", "地级市", "行政区划代码"]))
    assert found == {
        "name": "地区",
        "province": "省份",
        "prefecture": "地级市",
        "code": "行政区划代码",
    }
    found = match.detect_columns(pd.DataFrame(columns=["Province", "City", "Name", "value"]))
    assert (found["name"], found["province"], found["prefecture"]) == ("Name", "Province", "City")
