"""Recompute the report's aggregate figures from the rankings data (``geotool check-report``).

Each figure the 2020 report states is kept in :data:`STATED` with its section, recomputed
from ``rankings_2020.csv`` and compared. ``status`` is ``match``, ``mismatch`` (a defect
in geotool's data or code: the command exits 1) or ``report inconsistent`` (the report
contradicts itself; the note says which side geotool follows; not a failure). 2019
figures are kept as stated or as the text's changes imply ("较上年减少 7 个").
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from geotool import clusters
from geotool._cache import Frame, derived_cache
from geotool.report import rankings

__all__ = ["STATED", "check_report", "region_change"]

#: Figures as the report states them.
STATED: dict[str, Any] = {
    # 二(一), figure 1: industrial top-100 counties by province.
    "counties_by_province": {
        "江苏": 23, "浙江": 19, "山东": 14, "河南": 10, "福建": 8, "湖北": 5, "湖南": 4,
        "内蒙古": 4, "安徽": 3, "陕西": 2, "河北": 2, "贵州": 1, "江西": 1, "新疆": 1,
        "宁夏": 1, "辽宁": 1, "广东": 1,
    },
    "counties_n_provinces": 17,
    # 二(二): regions 2020, and the change on 2019 the text states.
    "counties_by_region_2020": {"east": 67, "central": 23, "west": 9, "northeast": 1},
    "counties_region_change": {"east": -7, "central": 6, "west": 0, "northeast": 1},
    # 二(二): tiers.
    "tier1_by_province": {"江苏": 4, "福建": 1, "浙江": 1},
    "tier2_by_province": {
        "江苏": 10, "浙江": 3, "山东": 3, "福建": 3, "湖南": 3, "陕西": 1, "内蒙古": 1, "河北": 1,
    },
    "tier2_size": 25,
    "tier2_east_share": 0.80,
    "tier34_by_region": {"east": 41, "central": 20, "west": 7, "northeast": 1},
    "only_tiers_34": ["河南", "湖北", "安徽", "江西"],
    # 二(一), figure 3: each province's first-ranked county, in the text's order.
    "county_first_by_province": [
        ("江苏", "江阴市", 1), ("福建", "晋江市", 4), ("浙江", "慈溪市", 6),
        ("陕西", "神木市", 7), ("湖南", "长沙县", 10), ("山东", "龙口市", 12),
        ("河北", "迁安市", 18), ("内蒙古", "准格尔旗", 21), ("河南", "巩义市", 42),
        ("贵州", "仁怀市", 33), ("江西", "南昌县", 45), ("新疆", "库尔勒市", 52),
        ("安徽", "天长市", 57), ("湖北", "仙桃市", 65), ("宁夏", "灵武市", 85),
        ("辽宁", "瓦房店市", 91), ("广东", "普宁县", 99),
    ],
    # 二(三): 78 county-level cities, 18 counties, 4 banners.
    "county_unit_types": {"county_city": 78, "county": 18, "banner": 4},
    # 二(六): city clusters (report2020 definition set; see geotool.clusters).
    "counties_by_cluster": {
        "yangtze_delta": 40, "west_strait": 11, "central_plains": 10, "middle_yangtze": 10,
        "shandong_peninsula": 9, "hohhot_baotou_ordos_yulin": 6, "jingjinji": 2,
        "central_south_liaoning": 1, "huaihai": 7,
    },
    "counties_in_clusters": 96,
    "counties_outside_clusters": ["仁怀市", "库尔勒市", "灵武市", "邹平市"],
    # 第二篇 一(二), 表 4: districts by province, 2019 and 2020.
    "districts_by_province_2020": {
        "江苏": 24, "广东": 20, "浙江": 13, "山东": 11, "福建": 7, "四川": 6, "湖北": 5,
        "湖南": 4, "陕西": 4, "辽宁": 2, "内蒙古": 2, "安徽": 1, "江西": 1,
    },
    "districts_by_province_2019": {
        "江苏": 24, "广东": 21, "浙江": 11, "山东": 12, "福建": 6, "湖北": 3, "四川": 5,
        "湖南": 4, "陕西": 3, "辽宁": 1, "内蒙古": 3, "安徽": 1, "江西": 1, "广西": 2,
        "河北": 2, "贵州": 1,
    },
    "districts_n_provinces": 13,
    # 表 5: districts by region.
    "districts_by_region_2020": {"east": 75, "central": 11, "west": 12, "northeast": 2},
    "districts_by_region_2019": {"east": 76, "central": 12, "west": 11, "northeast": 1},
    "districts_region_change": {"east": -1, "central": -1, "west": 1, "northeast": 1},
    # 表 6 and its text: first-ranked district per province; counts by rank decile.
    "district_first_by_province": [
        ("广东", "龙岗区", 1), ("山东", "黄岛区", 7), ("江苏", "新吴区", 8),
        ("浙江", "北仑区", 12), ("四川", "龙泉驿区", 22), ("湖南", "雨花区", 25),
        ("湖北", "东西湖区", 44), ("福建", "新罗区", 51), ("陕西", "长安区", 54),
        ("辽宁", "大东区", 69), ("安徽", "弋江区", 73), ("江西", "青山湖区", 77),
    ],
    "district_deciles": {
        "广东": [6, 2, 3, 4, 1, 1, 0, 1, 1, 1],
        "江苏": [3, 3, 2, 5, 4, 1, 4, 0, 2, 0],
        "山东": [1, 0, 1, 1, 2, 1, 1, 1, 0, 3],
        "浙江": [0, 5, 2, 0, 1, 0, 1, 1, 2, 1],
        "福建": [0, 0, 0, 0, 0, 2, 1, 1, 0, 3],
        "四川": [0, 0, 1, 0, 0, 2, 0, 0, 1, 2],
        "湖南": [0, 0, 1, 0, 1, 1, 0, 0, 1, 0],
        "湖北": [0, 0, 0, 0, 1, 1, 1, 0, 2, 0],
        "内蒙古": [0, 0, 0, 0, 0, 0, 0, 2, 0, 0],
        "陕西": [0, 0, 0, 0, 0, 1, 1, 1, 1, 0],
        "辽宁": [0, 0, 0, 0, 0, 0, 1, 1, 0, 0],
        "安徽": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
        "江西": [0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    },
}  # fmt: skip

# 表 6 prints 江西's single district under 61-70; 青山湖区 is 77th (表 3 and the text).
_DECILE_ROW_DEFECTS = {
    "江西": "表 6 puts 江西's one district in 61-70, but 青山湖区 is 77th "
    "(表 3 and the text): the row is misaligned by one column"
}


def _row(
    figure: str, key: str, stated: object, computed: object, *, status: str | None = None,
    note: str = "",
) -> dict[str, Any]:  # fmt: skip
    status = status or ("match" if stated == computed else "mismatch")
    return {"figure": figure, "key": key, "stated": stated, "computed": computed,
            "status": status, "note": note}  # fmt: skip


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().items()}


def _first_by_province(df: pd.DataFrame) -> dict[str, tuple[str, int]]:
    first = df.sort_values("rank", kind="stable").groupby("province", sort=False).first()
    return {str(p): (str(r["name"]), int(r["rank"])) for p, r in first.iterrows()}


def _dict_rows(figure: str, stated: dict, computed: dict) -> list[dict[str, Any]]:
    keys = list(stated) + [k for k in computed if k not in stated]
    return [_row(figure, str(k), stated.get(k, 0), computed.get(k, 0)) for k in keys]


def _totals_rows(
    df: pd.DataFrame, what: str, year: str, where: tuple[str, str]
) -> list[dict[str, Any]]:
    """By province, the number of provinces and by region: the counts both rankings state."""
    provinces, n = f"{what}_by_province{year}", f"{what}_n_provinces"
    rows = _dict_rows(f"{what} by province{year.replace('_', ' ')} ({where[0]})",
                      STATED[provinces], _counts(df["province"]))  # fmt: skip
    rows.append(_row(f"{what}: number of provinces ({where[0]})", "provinces", STATED[n],
                     int(df["province"].nunique())))  # fmt: skip
    return rows + _dict_rows(f"{what} by region 2020 ({where[1]})",
                             STATED[f"{what}_by_region_2020"], _counts(df["region"]))  # fmt: skip


def _change_rows(
    df: pd.DataFrame, what: str, before: dict[str, int], figure: str, note: str
) -> list[dict[str, Any]]:
    """The stated change on 2019 by region against 2020's count minus 2019's."""
    now = _counts(df["region"])
    return [
        _row(figure, region, change, now.get(region, 0) - before[region],
             note=note.format(before[region]))
        for region, change in STATED[f"{what}_region_change"].items()
    ]  # fmt: skip


def _tier_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """二(二): tiers 1 and 2 by province, tier 2's size and east share, tiers 3-4."""
    rows = []
    for tier in (1, 2):
        rows += _dict_rows(f"tier {tier} by province (二(二))", STATED[f"tier{tier}_by_province"],
                           _counts(df.loc[df["tier"] == tier, "province"]))  # fmt: skip
    tier2 = df[df["tier"] == 2]
    rows.append(_row("tier 2 size (二(二))", "units", STATED["tier2_size"], len(tier2),
                     note="ranks 7-30 with two counties tied at 30"))  # fmt: skip
    rows.append(_row("tier 2 east share (二(二))", "east", STATED["tier2_east_share"],
                     round(float((tier2["region"] == "east").mean()), 2)))  # fmt: skip
    rows += _dict_rows("tiers 3-4 by region (二(二))", STATED["tier34_by_region"],
                       _counts(df.loc[df["tier"] >= 3, "region"]))  # fmt: skip
    for prov in STATED["only_tiers_34"]:
        tiers = sorted(df.loc[df["province"] == prov, "tier"].unique().tolist())
        rows.append(_row("only in tiers 3-4 (二(二))", prov, True,
                         bool(tiers) and min(tiers) >= 3, note=f"tiers {tiers}"))  # fmt: skip
    return rows


def _county_rows() -> list[dict[str, Any]]:
    df = rankings.load("industrial_counties")
    rows = _totals_rows(df, "counties", "", ("图 1", "二(二)"))
    implied = {r: STATED["counties_by_region_2020"][r] - c
               for r, c in STATED["counties_region_change"].items()}  # fmt: skip
    rows += _change_rows(df, "counties", implied, "counties by region: change on 2019 (二(二))",
                         "2019 = {} as the text implies")  # fmt: skip
    rows += _tier_rows(df)
    first = _first_by_province(df)
    for prov, name, rank in STATED["county_first_by_province"]:
        got = first.get(prov, ("", 0))
        status, note = None, ""
        if got != (name, rank) and got == (name.replace("县", "市"), rank):
            status = "report inconsistent"
            note = f"text says {name}, 表 1 says {got[0]}; geotool follows the table"
        rows.append(_row("first-ranked county per province (图 3)", prov, f"{name} ({rank})",
                         f"{got[0]} ({got[1]})", status=status, note=note))  # fmt: skip
        star = df.loc[(df["province"] == prov) & (df["rank"] == rank), "star"]
        rows.append(_row("★ marks the province's first (表 1)", prov, True,
                         bool(star.all()) and len(star) > 0))  # fmt: skip
    rows.append(_row("★ count (表 1)", "stars", len(first), int(df["star"].sum())))
    types = _counts(df["name"].map(rankings.printed_unit_type))
    return rows + _dict_rows("county-level cities / counties / banners (二(三))",
                             STATED["county_unit_types"], types)  # fmt: skip


def _district_deciles(df: pd.DataFrame) -> dict[str, list[int]]:
    decile = (df["rank"] - 1) // 10
    table = pd.crosstab(df["province"], decile).reindex(columns=range(10), fill_value=0)
    return {str(p): [int(v) for v in row] for p, row in table.iterrows()}


def _districts_2019_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """表 4's 2019 column summed by region against 表 5's: both are the report's own."""
    prov_region = df.drop_duplicates("province").set_index("province")["region"]
    extra = {"广西": "west", "河北": "east", "贵州": "west"}
    region_2019: dict[str, int] = {}
    for prov, n in STATED["districts_by_province_2019"].items():
        reg = str(prov_region.get(prov, ""))
        reg = reg if reg not in ("", "nan") else extra[prov]
        region_2019[reg] = region_2019.get(reg, 0) + n
    rows = _dict_rows("districts by region 2019: 表 4 summed vs 表 5",
                      STATED["districts_by_region_2019"], region_2019)  # fmt: skip
    for row in rows:
        if row["status"] == "mismatch":
            row["status"] = "report inconsistent"
            row["note"] = (
                "表 4's 2019 column, summed by region, disagrees with 表 5's 2019 "
                "column; geotool keeps both as printed"
            )
    return rows


def _district_rows() -> list[dict[str, Any]]:
    df = rankings.load("industrial_districts")
    rows = _totals_rows(df, "districts", "_2020", ("表 4", "表 5"))
    rows += _change_rows(df, "districts", STATED["districts_by_region_2019"],
                         "districts by region: change on 2019 (表 5 and text)",
                         "2019 = {} (表 5)")  # fmt: skip
    rows += _districts_2019_rows(df)
    first = _first_by_province(df)
    for prov, name, rank in STATED["district_first_by_province"]:
        got = first.get(prov, ("", 0))
        rows.append(_row("first-ranked district per province (表 6 text)", prov,
                         f"{name} ({rank})", f"{got[0]} ({got[1]})"))  # fmt: skip
    deciles = _district_deciles(df)
    for prov, stated in STATED["district_deciles"].items():
        got_deciles = deciles.get(prov, [0] * 10)
        defect = stated != got_deciles and prov in _DECILE_ROW_DEFECTS
        rows.append(_row("districts by rank decile (表 6)", prov, stated, got_deciles,
                         status="report inconsistent" if defect else None,
                         note=_DECILE_ROW_DEFECTS[prov] if defect else ""))  # fmt: skip
    return rows


def check_report() -> pd.DataFrame:
    """Every figure the report states beside its recomputed value, ``status`` and ``note``.

    >>> table = check_report()
    >>> int((table["status"] == "mismatch").sum())
    0
    """
    return _check_report().copy()


_REPORT = Frame({
    "figure": "str", "key": "str", "stated": "object", "computed": "object", "status": "str",
    "note": "str",
})  # fmt: skip


@derived_cache(maxsize=1, returns=_REPORT)
def _check_report() -> pd.DataFrame:
    """Cached body of :func:`check_report` (a function of the bundled data and the code)."""
    return pd.DataFrame(_county_rows() + _district_rows() + _cluster_rows())


def _cluster_rows() -> list[dict[str, Any]]:
    """二(六): 96 of the 100 counties in city clusters, by cluster, under ``report2020``."""
    counts = clusters.ranking_counts("report2020", rankings.load("industrial_counties"))
    counts = counts.set_index("cluster_id")
    rows = [
        _row("counties by city cluster, set report2020 (二(六))", cid,
             n, int(counts.loc[cid, "count"]))
        for cid, n in STATED["counties_by_cluster"].items()
    ]  # fmt: skip
    inside = int(counts.drop(index="outside")["count"].sum())
    rows.append(_row("counties in a city cluster (二(六))", "in clusters",
                     STATED["counties_in_clusters"], inside))  # fmt: skip
    outside = sorted(str(counts.loc["outside", "units"]).split(";"))
    rows.append(_row("counties outside every cluster (reference README)", "outside",
                     sorted(STATED["counties_outside_clusters"]), outside))  # fmt: skip
    return rows


def region_change(ranking: str = "industrial_counties") -> pd.DataFrame:
    """Counts by region in 2019 (as the report states or implies) and 2020 (from data)."""
    from geotool._errors import InputError

    now = rankings.load(ranking)["region"].value_counts()
    if ranking == "industrial_counties":
        before = {r: STATED["counties_by_region_2020"][r] - c
                  for r, c in STATED["counties_region_change"].items()}  # fmt: skip
        source = "2019 implied by the text's changes (二(二))"
    elif ranking == "industrial_districts":
        before = STATED["districts_by_region_2019"]
        source = "2019 as printed in 表 5"
    else:
        raise InputError("The report gives no 2019 figures for the innovation ranking.")
    regions = ["east", "central", "west", "northeast"]
    out = pd.DataFrame({"region": regions, "count_2019": [int(before[r]) for r in regions],
                        "count_2020": [int(now.get(r, 0)) for r in regions]})  # fmt: skip
    out["change"] = out["count_2020"] - out["count_2019"]
    out["source_2019"] = source
    return out
