import logging

import pandas as pd
import pytest

from geotool import io, match
from geotool._errors import InputError, MatchError
from tests.conftest import DATA


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


def test_a_city_s_districts_together_are_never_one_district():
    """Yearbooks' 市区 rows sum a city's districts: no county-level unit is that sum. A
    bare 市区 matched 濮阳's former 市区 (华龙区 since 2002), the only one so named."""
    bare = one(县="市区")
    assert bare["match_status"] == "unmatched" and pd.isna(bare["adcode"])
    assert "a city's districts together" in bare["match_note"]
    wuxi = one(县="无锡市区")
    assert wuxi["match_status"] == "unmatched"
    assert "无锡市's districts together" in wuxi["match_note"]
    assert "level='prefecture'" in wuxi["match_note"] and not wuxi["match_candidates"]
    # 濮阳's urban area was one unit (市区, renamed 华龙区): the crosswalk still follows it
    assert one(县="濮阳市区")["adcode"] == "410902"
    assert one(市="濮阳市", 县="市区")["adcode"] == "410902"
    for cell in ("市区", "市辖区"):  # the city beside it, in its own column
        beside = one(市="无锡市", 县=cell)
        assert beside["match_status"] == "unmatched" and not beside["match_candidates"]
        assert "无锡市's districts together" in beside["match_note"]


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
    with pytest.raises(MatchError, match=r"320281: rows 0, 2\)"):
        match.require_unique(out)


def test_columns_are_found_by_their_common_names():
    found = match.detect_columns(pd.DataFrame(columns=["地区", "省份", "地级市", "行政区划代码"]))
    assert found == {
        "name": "地区",
        "province": "省份",
        "prefecture": "地级市",
        "code": "行政区划代码",
        "year": None,
    }
    found = match.detect_columns(pd.DataFrame(columns=["Province", "City", "Name", "value"]))
    assert (found["name"], found["province"], found["prefecture"]) == ("Name", "Province", "City")


# The resolver at scale: one resolve per distinct row, the same answers as row by row.

GOLDEN = DATA / "match_golden.csv"
INPUTS = ["省", "市", "县", "代码"]


def cells(frame):
    """The match columns as plain Python values (missing -> None), row by row."""
    part = frame[match.MATCH_COLUMNS].astype(object)
    return [tuple(None if pd.isna(v) else v for v in row) for row in part.itertuples(index=False)]


def rowwise(table, **cols):
    """The reference: each row through the county rules (``match._resolve_at``) alone."""
    found = match.detect_columns(table, **cols)

    def column(role):
        col = found[role]
        return [match.normalise(v) for v in table[col]] if col else [""] * len(table)

    results = [
        match._resolve_at("county", *row)
        for row in zip(
            column("name"), column("province"), column("prefecture"), column("code"), strict=True
        )
    ]
    ref = pd.DataFrame(
        [(*r[:3], match._area_label("county", r[3]) if r[3] else "", r[4]) for r in results],
        columns=match.MATCH_COLUMNS,
        index=table.index,
    )
    return ref


def golden():
    return pd.read_csv(GOLDEN, dtype=str, keep_default_na=False)


def hostile_rows():
    """Messy, blank, malformed and repeated rows, with a shuffled, repeating index."""
    base = golden()[INPUTS]
    extra = pd.DataFrame(
        {
            "省": ["江苏", None, "  ", "ｊｉａｎｇｓｕ", "江苏", "江苏", "福建", "x" * 500, None],
            "市": [None, "无锡", "省直管", None, "\x00", None, "漳州", None, None],
            "县": [
                "江阴市",
                "江阴",
                "仙桃市",
                "江 阴 市★",
                "\t",
                None,
                "龙海市",
                "江阴市",
                "z" * 500,
            ],
            "代码": [
                "32a0281",
                "3202-81",
                "320281.9",
                "３２０２８１",
                "320281000000",
                "320281001000",
                " 350681 ",
                "—",
                "1" * 500,
            ],
        }
    )
    table = pd.concat([base, extra, base.iloc[::7], extra], ignore_index=True)
    table = table.sample(frac=1, random_state=3)
    table.index = [f"r{i % 97}" for i in range(len(table))]  # repeats on purpose
    return table


def test_resolve_gives_the_answers_of_the_row_by_row_resolver_it_replaced():
    # tests/data/match_golden.csv: 400 varied rows (context, typos, stems, old names,
    # full-width codes, blanks, repeats) resolved by the row-by-row resolve() of commit
    # 2d5651d; codes there are all well formed, so nothing in it changed on purpose,
    # except 8 rows on the code history (areacodes_crosswalk.csv): 江干区 is reported as
    # split (上城区 + 钱塘区), and an old name outside its given context stays unmatched
    # like a current name does (宁乡县 under 省直管); and 4 rows naming units merged into
    # another (下城区 into 拱墅区, 三山区 into 弋江区) are parts of it, status "merged".
    data = golden()
    out = match.resolve(data[INPUTS])
    expected = data[match.MATCH_COLUMNS].replace({"adcode": {"": None}})
    assert cells(out) == cells(expected)


def test_resolve_equals_the_row_wise_reference_on_messy_rows():
    table = hostile_rows()
    out = match.resolve(table)
    assert out.index.tolist() == table.index.tolist()
    assert cells(out) == cells(rowwise(table))
    assert out["adcode"].dtype == "string"


def test_cells_that_only_look_alike_are_resolved_apart():
    # pandas would merge 1, 1.0 and True (and 0.0 with -0.0) into one distinct value.
    table = pd.DataFrame(
        {
            "县": [1, 1.0, True, "1", None, float("nan"), pd.NA, "江阴市", -0.0, 0.0],
            "代码": [None, 320281.0, 320281, None, "320281", 350681, None, None, None, -0.0],
        }
    )
    assert cells(match.resolve(table)) == cells(rowwise(table))
    for column in (
        pd.Series([320281, 350681, 320281, 999999]),
        pd.Series([320281.0, float("nan"), -0.0, 0.0]),
        pd.Series(["江阴市", "昆山市", "江阴市", None], dtype="category"),
        pd.Series(["江阴市", pd.NA, "江阴市", "昆山市"], dtype="string[python]"),
    ):
        table = pd.DataFrame({"代码" if column.dtype.kind in "if" else "县": column})
        assert cells(match.resolve(table)) == cells(rowwise(table))


@pytest.mark.parametrize("code", ["32a0281", "3202-81", "320281.9", "-320281", "٣٢٠٢٨١"])
def test_malformed_codes_are_unmatched_with_a_note_not_repaired(code):
    r = one(adcode=code, name="江阴市")
    assert (r["match_status"], r["match_method"]) == ("unmatched", "code")
    assert pd.isna(r["adcode"])
    assert r["match_note"].startswith(f"malformed code {code!r}")


def test_full_width_spaced_and_spreadsheet_codes_are_read():
    for code in ("３２０２８１", " 320281 ", "320281.0", 320281, 320281.0):
        r = one(adcode=code)
        assert (r["adcode"], r["match_method"], r["match_note"]) == ("320281", "code", "")


def test_twelve_digit_statistical_codes():
    r = one(adcode="320281000000")
    assert (r["adcode"], r["match_status"], r["match_method"]) == ("320281", "matched", "code12")
    assert "12-digit statistical code 320281000000 read as 320281" in r["match_note"]
    r = one(adcode="350681000000")
    assert (r["adcode"], r["match_method"]) == ("350604", "code12+crosswalk")
    r = one(adcode="320281104000")
    assert (r["match_status"], r["match_method"]) == ("unmatched", "code12")
    assert "township/village code" in r["match_note"] and "(320281)" in r["match_note"]


def test_a_code_cell_without_digits_is_ignored_and_said_so():
    r = one(adcode="—", name="江阴市")
    assert (r["adcode"], r["match_method"]) == ("320281", "name")
    assert r["match_note"] == "code cell '—' holds no digits, ignored"


def test_duplicate_column_names_are_an_input_error():
    table = pd.DataFrame([["江阴市", "昆山市", 1]], columns=["县", "县", "值"])
    with pytest.raises(InputError, match=r"more than one column named \['县'\]"):
        match.resolve(table)


def test_a_missing_column_lists_the_columns_and_names_the_parameter():
    table = pd.DataFrame({"县": ["江阴市"], "值": [1]})
    with pytest.raises(InputError, match=r"code_col='代码'.*\['县', '值'\]") as err:
        match.resolve(table, code_col="代码")
    assert "--" not in str(err.value)


def test_huge_cells_are_never_echoed_whole():
    big = "江" * (20 * 2**20)
    table = pd.DataFrame({"省": [big], "市": [big], "县": [big], "代码": [None]})
    r = match.resolve(table).iloc[0]
    assert r["match_status"] == "unmatched"
    assert len(r["match_note"]) < 500 and "… (20,971,520 characters)" in r["match_note"]
    r = one(adcode="3" * 10**6 + "x")
    assert len(r["match_note"]) < 300
    with pytest.raises(MatchError) as err:
        match.resolve(pd.DataFrame({big: ["江阴市"]}), name_col="x" * 10**6)
    assert len(str(err.value)) < 500


def test_empty_tables_and_blank_names_are_input_errors():
    with pytest.raises(MatchError, match="no rows"):
        match.resolve(pd.DataFrame())
    with pytest.raises(MatchError, match=r"No unit-name or code column found among \[\]"):
        match.resolve(pd.DataFrame(index=[0, 1]))
    with pytest.raises(InputError, match=r"column '县' is blank in all 3 rows.*name_col="):
        match.resolve(pd.DataFrame({"县": [None, "  ", "\u3000"], "省": ["江苏"] * 3}))
    with pytest.raises(InputError, match="'县' and '代码' is blank"):
        match.resolve(pd.DataFrame({"县": [""], "代码": [float("nan")]}))


def test_stem_is_public():
    assert match.stem("江阴市") == "江阴" and match.stem("城区") == "城区"


def test_progress_is_logged_only_for_long_work(caplog, monkeypatch):
    table = pd.DataFrame({"县": ["江阴市", "昆山市"] * 50})
    with caplog.at_level(logging.INFO, logger="geotool"):
        match.resolve(table)
    # one line says the level and why; no progress
    assert [r.getMessage() for r in caplog.records] == [
        "match: resolving at the county level "
        "(names: 2 of 2 distinct names are county-level units (prefecture 0, province 0))"
    ]
    monkeypatch.setattr(match, "_PROGRESS_AFTER_S", 0.0)
    with caplog.at_level(logging.INFO, logger="geotool"):
        match.resolve(table)
    lines = [r.getMessage() for r in caplog.records]
    assert "match: resolved 50 of 100 rows (1 of 2 distinct)" in lines[-3]
    assert lines[-1].startswith("match: resolved all 100 rows in")


def test_the_duplicate_units_message_stays_short_on_large_tables():
    names = ["江阴市", "昆山市", "晋江市", "江宁区", "海门区", "鄞州区"]
    out = match.resolve(pd.DataFrame({"县": names * 1000}))
    with pytest.raises(MatchError) as err:
        match.require_unique(out)
    message = str(err.value)
    assert message.startswith("6 unit(s) appear more than once (320115: rows 3, 9, 15,")
    assert "57 ... (1,000 in all); 320281: rows 0" in message and "; 1 more)" in message
    assert len(message) < 800


@pytest.mark.parametrize("name", ["江苏省江阴市", "江苏省无锡市江阴市", "无锡市江阴市", "江苏江阴",
                                  " 江苏省 江阴市 ", "江苏省无锡江阴"])
def test_a_name_written_after_its_province_or_prefecture_matches(name):
    r = match.resolve(pd.DataFrame({"县": [name]}), level="county").iloc[0]
    assert (r["adcode"], r["match_status"]) == ("320281", "matched"), r.to_dict()
    assert "read as" in r["match_note"]  # the reading is said in the report


def test_prefixed_names_of_every_kind_of_county_match_their_own_code():
    """Province + prefecture + county, as official lists write them, across the country."""
    counties = match.gazetteer("county").sample(60, random_state=7)
    prefectures = match.gazetteer("prefecture")["name"]
    names = [prov + prefectures.get(pref, "") + name for prov, pref, name in
             zip(counties["province"], counties["prefecture_unit"], counties["name"], strict=True)]
    got = match.resolve(pd.DataFrame({"县": names}), level="county")
    assert got["adcode"].tolist() == counties.index.tolist()


def test_a_prefix_that_leaves_no_unit_does_not_invent_one():
    """张家巷市 (a typo of 张家港市) begins like 张家口市: still unmatched, not 口 or 界's unit."""
    r = match.resolve(pd.DataFrame({"县": ["张家巷市", "江苏省不存在县"]}), level="county")
    assert r["match_status"].tolist() == ["unmatched", "unmatched"]
