"""The 2020 report's three rankings, as data.

``geotool/data/rankings_2020.csv`` transcribes tables 1-3 of *中国工业百强县（市）、百强区
发展报告（2020 年）* row for row (``tests/test_rankings.py`` re-parses the report to prove
it): rank, province, prefecture and name as printed, the ★ flag (first in its province)
and the adcode the name resolves to in the bundled 2021 boundaries, with the method.
"""

from __future__ import annotations

import pandas as pd

from geotool import boundaries, settings
from geotool._cache import settings_cache
from geotool._errors import InputError
from geotool.analysis import CHINA_CORE, china_core

__all__ = [
    "CORE_ADCODE", "DEFAULT_WEIGHTS", "HIGH_MEANS", "RANKINGS", "REPORT_TIERS",
    "SENSITIVITY_SPECS", "load", "printed_unit_type", "report_tier", "tier_table", "universe",
    "variable", "variables",
]  # fmt: skip

#: 表 1 (two counties share rank 30; there is no 31), 表 2, and 表 3 (市辖区).
RANKINGS: dict[str, str] = {
    "industrial_counties": "2020 industrial top-100 counties (表 1)",
    "innovation_counties": "2020 innovation top-100 counties (表 2)",
    "industrial_districts": "2020 industrial top-100 districts (表 3)",
}

#: The report's four tiers of the industrial county ranking (rank ranges, inclusive),
#: from its hierarchical clustering. Rank 31 does not exist (tie at 30).
REPORT_TIERS: dict[int, tuple[int, int]] = {1: (1, 6), 2: (7, 30), 3: (32, 62), 4: (63, 100)}

#: The report's administrative divisions are as of this date (表 1, footnote 1).
DIVISIONS_AS_OF = "2020-07-31"
_MUNICIPALITIES = ("110000", "120000", "310000", "500000")

#: Default weights per ranking: contiguity for counties, which tile most of the country;
#: six nearest neighbours for districts, scattered city by city (contiguity leaves 170
#: components and most districts with one or two neighbours).
DEFAULT_WEIGHTS = {
    "industrial_counties": "queen",
    "innovation_counties": "queen",
    "industrial_districts": "knn:6",
}
#: The weights every run reports global statistics under (sensitivity).
SENSITIVITY_SPECS = ("queen", "rook", "knn:6", "distance:100km")
#: The report's eastern core: 上海's historic centre, 黄浦区.
CORE_ADCODE = CHINA_CORE

#: What a high value of each derived variable means (every one is oriented: high = strong).
HIGH_MEANS = {
    "member": "1 = in the top 100, 0 = not ranked",
    "score": "101 - rank: 100 = rank 1, 1 = rank 100, 0 = not ranked",
    "tier_strength": "5 - tier: 4 = tier 1 (best), 1 = tier 4, 0 = not ranked",
}


@settings_cache(maxsize=1)
def _table() -> pd.DataFrame:
    df = pd.read_csv(settings.data_dir / "rankings_2020.csv", dtype={"adcode": str})
    df["star"] = df["star"].astype(bool)
    return df


def _check(ranking: str) -> None:
    if ranking not in RANKINGS:
        raise InputError(f"Unknown ranking {ranking!r}; choose one of {list(RANKINGS)}.")


def load(ranking: str | None = None) -> pd.DataFrame:
    """One ranking of :data:`RANKINGS` (or all three, with a ``ranking`` column).

    Columns ``ranking, year, rank, province, prefecture, name, star, adcode,
    match_method``, ``region`` (NBS four regions) and ``tier`` (the report's, for
    ``industrial_counties``).

    >>> top = load("industrial_counties")
    >>> top.loc[top["rank"] == 30, "name"].tolist()
    ['荣成市', '邳州市']
    """
    df = _table()
    if ranking is not None:
        _check(ranking)
        df = df[df["ranking"] == ranking]
    df = df.reset_index(drop=True)
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    region = dict(zip(provinces["province_code"].str[:2], provinces["region"], strict=True))
    df["region"] = df["adcode"].str[:2].map(region)
    df["tier"] = [
        report_tier(r) if k == "industrial_counties" else pd.NA
        for k, r in zip(df["ranking"], df["rank"], strict=True)
    ]
    df["tier"] = df["tier"].astype("Int64")
    return df


def report_tier(rank: int) -> int:
    """The report's tier (1-4) of an industrial-county rank.

    >>> [report_tier(r) for r in (1, 6, 7, 30, 32, 62, 63, 100)]
    [1, 1, 2, 2, 3, 3, 4, 4]
    """
    for tier, (lo, hi) in REPORT_TIERS.items():
        if lo <= rank <= hi:
            return tier
    raise InputError(f"Rank {rank} is outside the report's tiers (1-30, 32-100).")


def printed_unit_type(name: str) -> str:
    """Kind of unit by the suffix printed in the report (市 city, 县 county, 旗 banner, 区).

    The report's own year counts: 龙海市 was a county-level city in 2020, though it
    is a district (龙海区) in the 2021 boundaries.
    """
    kinds = {"市": "county_city", "旗": "banner", "县": "county", "区": "district"}
    if name[-1:] in kinds:
        return kinds[name[-1:]]
    raise InputError(f"Cannot tell the unit type of {name!r} from its suffix.")


def universe(ranking: str) -> pd.Index:
    """Adcodes of the units that could have been ranked (the analysis universe).

    County rankings cover every county-level unit that is not a municipal district,
    districts the district ranking; both outside the four municipalities ("除了四个直辖市
    未参选") and Hong Kong, Macau, Taiwan. Divisions are the report's
    (:data:`DIVISIONS_AS_OF`): units that became districts later (``crosswalk.csv``:
    龙海, 芜湖县 -> 湾沚区) stay in the county universe.
    """
    _check(ranking)
    units = boundaries.units()
    crosswalk = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
    later = crosswalk[crosswalk["effective"] > DIVISIONS_AS_OF]
    became = ~later["old_name"].str.endswith("区") & later["new_name"].str.endswith("区")
    was_county = set(later.loc[became, "new_code"])
    is_district = units["unit_type"].eq("district") & ~units.index.isin(was_county)
    outside = units["province_code"].isin(_MUNICIPALITIES) | units["region"].eq("none")
    wanted = is_district if ranking == "industrial_districts" else ~is_district
    return units.index[wanted & ~outside]


_universe = universe  # for variables(), whose parameter of that name hides it


def variables(ranking: str, universe: pd.Index | None = None) -> pd.DataFrame:
    """Per unit of a ranking's universe: ``member``, ``score``, ``tier_strength``, ``rank``.

    Oriented so that high means strong (:data:`HIGH_MEANS`): ``score`` is ``101 - rank``
    (both rank-30 counties score 71), ``tier_strength`` ``5 - tier`` (industrial counties
    only), 0 for unranked units. ``rank`` and ``tier`` (1 = best) are labels only.

    >>> v = variables("industrial_counties")
    >>> len(v), int(v["member"].sum()), float(v.loc["320281", "score"])
    (1861, 100, 100.0)
    """
    table = load(ranking).set_index("adcode")
    ids = _universe(ranking) if universe is None else pd.Index(universe)
    out = pd.DataFrame(index=ids)
    out.index.name = "adcode"
    out["member"] = ids.isin(table.index).astype(int)
    out["rank"] = table["rank"].reindex(ids).astype("Int64")
    out["score"] = (101 - table["rank"]).reindex(ids).fillna(0).astype(float)
    tier = table["tier"].reindex(ids)
    out["tier"] = tier.astype("Int64")
    out["tier_strength"] = (5 - tier).fillna(0).astype(int)
    return out


def variable(ranking: str, name: str, universe: pd.Index | None = None) -> pd.Series:
    """One derived variable of a ranking (:data:`HIGH_MEANS`), named, on its universe.

    ``rank`` and ``tier`` are refused: they run from 1 (best) upwards, so that
    "High-High" would mean clusters of weaker units.

    >>> variable("industrial_counties", "tier_strength").max()
    np.int64(4)
    """
    if name in ("tier", "rank"):
        raise InputError(
            f"variable={name!r} runs from 1 (best) upwards, so High-High would mean clusters "
            "of weaker units; use variable='tier_strength' (5 - tier) or 'score' "
            "(101 - rank), oriented so that high means strong."
        )
    if name not in HIGH_MEANS:
        raise InputError(f"variable must be one of {list(HIGH_MEANS)}, got {str(name)[:40]!r}.")
    series = variables(ranking, universe)[name].rename(name)
    series.attrs["high_means"] = HIGH_MEANS[name]
    return series


def tier_table(ranking: str = "industrial_counties") -> pd.DataFrame:
    """A ranking with the report's tiers: 4 tiers for counties, rank deciles for districts."""
    table = load(ranking)
    if ranking == "industrial_districts":
        table["tier"] = ((table["rank"] - 1) // 10 + 1).astype("Int64")
    elif ranking == "innovation_counties":
        msg = "The report gives tiers for the industrial rankings only; use method='ward'."
        raise InputError(msg)
    return table


def core_point() -> tuple[float, float]:
    """(lon, lat) of the report's eastern core (黄浦区, :func:`geotool.analysis.china_core`)."""
    return china_core()
