from geotool.report import check_report


def test_every_figure_matches_or_is_a_flagged_report_inconsistency():
    table = check_report()
    assert len(table) > 100
    assert set(table["status"]) <= {"match", "report inconsistent"}
    flagged = table[table["status"] == "report inconsistent"]
    assert set(flagged["key"]) == {"广东", "central", "west", "江西"}
    puning = flagged[flagged["key"] == "广东"].iloc[0]
    assert "普宁县" in puning["note"] and "普宁市" in puning["note"]


def test_headline_figures():
    t = check_report().set_index(["figure", "key"])
    assert t.loc[("counties by region 2020 (二(二))", "east"), "computed"] == 67
    assert t.loc[("tiers 3-4 by region (二(二))", "central"), "computed"] == 20
    assert (
        t.loc[("county-level cities / counties / banners (二(三))", "county_city"), "computed"]
        == 78
    )
    assert t.loc[("districts by province 2020 (表 4)", "江苏"), "computed"] == 24
