"""The 2020 report's three rankings, as data.

``geotool/data/rankings_2020.csv`` transcribes tables 1-3 of
*中国工业百强县（市）、百强区发展报告（2020 年）* row for row (``tests/test_rankings.py``
re-parses the report's text and proves it): rank, province, prefecture and name
exactly as printed, the ★ flag (first in its province) and the adcode the name
resolves to in the bundled boundaries (vintage 2021) with the method used.

Rankings
--------
``industrial_counties``
    表 1, 2020 industrial top-100 counties (县/县级市/旗). Two counties share rank
    30; there is no rank 31.
``innovation_counties``
    表 2, 2020 innovation top-100 counties.
``industrial_districts``
    表 3, 2020 industrial top-100 municipal districts (市辖区).
"""

from __future__ import annotations

import functools

import pandas as pd

from geotool import settings
from geotool._errors import InputError

__all__ = ["RANKINGS", "REPORT_TIERS", "load", "printed_unit_type", "report_tier", "universe"]

RANKINGS: dict[str, str] = {
    "industrial_counties": "2020 industrial top-100 counties (表 1)",
    "innovation_counties": "2020 innovation top-100 counties (表 2)",
    "industrial_districts": "2020 industrial top-100 districts (表 3)",
}

#: The report's four tiers of the industrial county ranking (rank ranges, inclusive),
#: found by the report's hierarchical clustering of its index. Rank 31 does not
#: exist (tie at 30), so tier 3 starts at 32.
REPORT_TIERS: dict[int, tuple[int, int]] = {1: (1, 6), 2: (7, 30), 3: (32, 62), 4: (63, 100)}

#: The universe each ranking was drawn from (see :func:`universe`).
_UNIVERSE_KINDS = {
    "industrial_counties": "counties",
    "innovation_counties": "counties",
    "industrial_districts": "districts",
}
#: The report's administrative divisions are as of this date (表 1, footnote 1).
DIVISIONS_AS_OF = "2020-07-31"
_MUNICIPALITIES = ("110000", "120000", "310000", "500000")


@functools.lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    df = pd.read_csv(settings.data_dir / "rankings_2020.csv", dtype={"adcode": str})
    df["star"] = df["star"].astype(bool)
    return df


def _check(ranking: str) -> None:
    if ranking not in RANKINGS:
        msg = f"Unknown ranking {ranking!r}; choose one of {list(RANKINGS)}."
        raise InputError(msg)


def load(ranking: str | None = None) -> pd.DataFrame:
    """One ranking (or all three, with a ``ranking`` column) as a DataFrame.

    Parameters
    ----------
    ranking : str, optional
        One of :data:`RANKINGS`; all three when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``ranking, year, rank, province, prefecture, name, star, adcode,
        match_method``, plus ``region`` (NBS four regions) and, for
        ``industrial_counties``, the report's ``tier``.

    Examples
    --------
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

    Examples
    --------
    >>> [report_tier(r) for r in (1, 6, 7, 30, 32, 62, 63, 100)]
    [1, 1, 2, 2, 3, 3, 4, 4]

    """
    for tier, (lo, hi) in REPORT_TIERS.items():
        if lo <= rank <= hi:
            return tier
    msg = f"Rank {rank} is outside the report's tiers (1-30, 32-100)."
    raise InputError(msg)


def printed_unit_type(name: str) -> str:
    """Kind of unit by the suffix printed in the report (市 city, 县 county, 旗 banner, 区).

    The report's own year counts: 龙海市 was a county-level city in 2020, though it
    is a district (龙海区) in the 2021 boundaries.
    """
    for suffix, kind in (
        ("市", "county_city"),
        ("旗", "banner"),
        ("县", "county"),
        ("区", "district"),
    ):
        if name.endswith(suffix):
            return kind
    msg = f"Cannot tell the unit type of {name!r} from its suffix."
    raise InputError(msg)


def universe(ranking: str) -> pd.Index:
    """Adcodes of the units that could have been ranked (the analysis universe).

    County rankings cover counties, county-level cities, banners and the like
    (every county-level unit that is not a municipal district), outside the four
    municipalities ("除了四个直辖市未参选"); the district ranking covers municipal
    districts outside them. Hong Kong, Macau and Taiwan are outside both. The
    universe follows the report's divisions (as of :data:`DIVISIONS_AS_OF`), not
    the boundaries' (2021): units that became districts after that date
    (``crosswalk.csv``: 龙海, 芜湖县 -> 湾沚区, 繁昌县 -> 繁昌区) stay in the county
    universe.
    """
    from geotool import boundaries

    _check(ranking)
    units = boundaries.units()
    crosswalk = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
    later = crosswalk[crosswalk["effective"] > DIVISIONS_AS_OF]
    was_county = set(
        later.loc[
            ~later["old_name"].str.endswith("区") & later["new_name"].str.endswith("区"), "new_code"
        ]
    )
    is_district = units["unit_type"].eq("district") & ~units.index.isin(was_county)
    outside = units["province_code"].isin(_MUNICIPALITIES) | units["region"].eq("none")
    if _UNIVERSE_KINDS[ranking] == "counties":
        keep = ~is_district & ~outside
    else:
        keep = is_district & ~outside
    return units.index[keep]
