"""Budget: `match.resolve` on a 1,000,000-row table <= 30 s (exits 1 when over).

The table is a panel built from the bundled units, as users' tables come: each unit
appears about 350 times, written one of several ways (with or without its province,
the province abbreviated or in English, the name without its suffix, traditional or
full-width characters, footnote markers, a code instead of a name); 200 units carry a
typo. The peer, timed in the same run, is a plain pandas merge on exact names
(``table.merge(units[["name"]].reset_index(), on="name")``), which resolves only the
clean rows and duplicates the ambiguous ones, but shows what the machine does today.

Usage: python benchmarks/bench_match.py [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

BUDGET_S = 30.0
TRADITIONAL = str.maketrans({"区": "區", "县": "縣", "阳": "陽", "东": "東", "门": "門"})


def variants() -> pd.DataFrame:
    """Each unit written several ways (one row a way)."""
    from geotool import boundaries, settings

    units = boundaries.units().reset_index()
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str).set_index(
        "province_code"
    )
    short = units["province_code"].map(provinces["short"])
    english = units["province_code"].map(provinces["province_en"])
    name = units["name"]
    typo = name.where(units.index % 14 != 0, name.str[:-2] + "阳" + name.str[-1])  # ~200
    blank = pd.Series("", index=units.index)
    ways = [
        (units["province"], name, blank),
        (blank, name, blank),
        (short, name, blank),
        (english, name.str.slice(0, -1), blank),  # no suffix: 江阴 for 江阴市
        (short, name.str.translate(TRADITIONAL), blank),  # traditional forms, as in GBK files
        (short, " " + name + "★", blank),  # white space and a marker
        (short, typo, blank),
        (blank, blank, units["adcode"]),
        (blank, name, units["adcode"] + ".0"),  # a code from a spreadsheet, beside the name
    ]
    return pd.concat(
        [pd.DataFrame({"province": p, "name": n, "code": c}) for p, n, c in ways],
        ignore_index=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from geotool import boundaries, match

    ways = variants()
    pick = np.random.default_rng(0).integers(0, len(ways), args.rows)
    table = ways.iloc[pick].reset_index(drop=True)
    table["value"] = np.arange(args.rows, dtype=float)
    units = boundaries.units()
    match._index()  # the gazetteer loads once per process; not part of the budget

    t = time.perf_counter()
    out = match.resolve(table)
    took = time.perf_counter() - t
    t = time.perf_counter()
    table.merge(units[["name"]].reset_index(), on="name")
    peer = time.perf_counter() - t

    distinct = len(table.drop_duplicates(["province", "name", "code"]))
    counts = out["match_status"].value_counts().to_dict()
    print(
        f"match.resolve, {args.rows:,} rows ({distinct:,} distinct): {took:.2f} s "
        f"(budget {BUDGET_S:g} s); {counts}"
    )
    print(f"peer: pandas merge on exact names {peer:.2f} s -> resolve / peer {took / peer:.1f}")
    if took > BUDGET_S:
        print(f"over budget: {took:.1f} s > {BUDGET_S:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
