"""City clusters (城市群): membership under named official definitions, and the county network.

``data/clusters.csv`` has one row per (definition, prefecture) with a member ``rule``:
``whole``, ``include`` or ``exclude`` listed counties, ``unverified`` (no member invented)
or ``contested`` (left out). A **definition set** (:data:`SETS`, or a user's YAML/CSV file)
lists definitions in priority order; a unit's *primary* cluster is the first holding it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geotool import _validate as check
from geotool import boundaries, settings
from geotool._cache import JSON, Frame, Labels, Record, Sparse, derived_cache, settings_cache
from geotool._errors import DataError, InputError
from geotool._perm import rank_correlations, rng_for
from geotool._text import short
from geotool.match import stem
from geotool.weights import Weights, WeightsLike, as_weights

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "SETS", "belts", "check_geometry", "core_distances", "county_contiguity", "definitions",
    "hops", "load_set", "members", "membership", "network", "overlaps", "polygons", "radiation",
    "ranking_counts", "set_changes", "table_belts",
]  # fmt: skip

SETS: dict[str, list[str]] = {
    "report2020": [
        "yangtze_delta_2016", "jingjinji_2015", "west_strait_2011", "central_plains_2016",
        "middle_yangtze_2015", "shandong_peninsula_2006", "hohhot_baotou_ordos_yulin_2018",
        "central_south_liaoning_9", "huaihai_wider_20",
    ],
    "plans": [
        "jingjinji_2015", "yangtze_delta_2019_central", "greater_bay_area_2019",
        "chengdu_chongqing_2016", "middle_yangtze_2015", "shandong_peninsula_2017",
        "west_strait_2011", "harbin_changchun_2016", "central_south_liaoning_9",
        "central_plains_2016", "guanzhong_plain_2018", "beibu_gulf_2017", "central_shanxi_2022",
        "hohhot_baotou_ordos_yulin_2018", "central_guizhou_2017", "central_yunnan_2020",
        "lanzhou_xining_2018", "ningxia_yellow_river_customary", "tianshan_north_slope_customary",
        "huaihai_core_2018",
    ],
}  # fmt: skip

#: Prefecture names of the plans that are not prefectures of the 2021 boundaries.
_RENAMED_AREAS = {"杨凌示范区": ["610403"]}


@settings_cache(maxsize=1)
def _table() -> pd.DataFrame:
    return pd.read_csv(settings.data_dir / "clusters.csv", dtype=str, keep_default_na=False)


def definitions() -> pd.DataFrame:
    """One row per definition: cluster, names, plan, year, prefectures, confidence."""
    first = ("cluster_id", "cluster_zh", "cluster_en", "plan_document")
    return (
        _table()
        .groupby("definition", sort=False)
        .agg(
            **{c: (c, "first") for c in first},
            plan_year=("plan_year", "max"),
            prefectures=("prefecture", "size"),
            rules=("rule", lambda r: ";".join(sorted(set(r)))),
            confidence=("confidence", lambda c: ";".join(sorted(set(c)))),
        )
        .reset_index()
    )


@settings_cache(maxsize=1)
def _lookup() -> dict[str, dict]:
    """Codes by (province, prefecture), by (province, own name), by province; names by code."""
    units = boundaries.units()
    direct = units[units["province_administered"].astype(bool)]

    def codes(frame: pd.DataFrame, keys: str | list[str]) -> dict:
        return {k: list(v) for k, v in frame.groupby(keys, sort=False).groups.items()}

    return {
        "pref": codes(units, ["province", "prefecture"]),
        "name": codes(direct, ["province", "name"]),
        "prov": codes(units, "province"),
        "names": dict(zip(units.index, units["name"], strict=True)),
    }


@settings_cache(maxsize=1024)
def _prefecture_codes(province: str, prefecture: str) -> tuple[str, ...]:
    """County-level units of a prefecture as a plan names it (see the module docstring)."""
    if prefecture in _RENAMED_AREAS:
        return tuple(_RENAMED_AREAS[prefecture])
    look = _lookup()
    if province.startswith(("香港", "澳门")):
        codes = look["prov"].get(province, [])
    else:  # a prefecture, else a province-administered unit listed by its own name
        codes = look["pref"].get((province, prefecture)) or look["name"].get(
            (province, prefecture), []
        )
    if not codes:  # merged away since the plan: follow the crosswalk
        cw = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
        codes = cw.loc[cw["old_prefecture"] == prefecture, "new_code"].tolist()
    if not codes:
        raise DataError(f"Cluster member {province}{prefecture} matches no unit of the boundaries.")
    return tuple(codes)


def _named_units(names: list[str], pool: list[str], where: str) -> list[str]:
    """Codes of the units of ``pool`` (codes) that ``names`` name: exactly, by stem, by prefix."""
    unit_names = _lookup()["names"]
    named = [(code, unit_names[code]) for code in pool]
    codes = []
    for name in names:
        name_stem = stem(name)
        for hit in (
            [c for c, n in named if n == name],
            [c for c, n in named if stem(n) == name_stem],
            [c for c, n in named if n.startswith(name_stem)],
        ):
            if len(hit) == 1:
                codes.append(hit[0])
                break
        else:
            raise DataError(f"{where}: county {name!r} is not (uniquely) a unit of the prefecture.")
    return codes


_MEMBERS = Frame(dict.fromkeys(
    ["adcode", "definition", "cluster_id", "cluster_zh", "cluster_en", "prefecture_listed",
     "rule", "confidence"], "str",
))  # fmt: skip


@derived_cache(maxsize=64, returns=_MEMBERS)
def _members(definition: str) -> pd.DataFrame:
    t = _table()
    rows = t[t["definition"] == definition]
    if rows.empty:
        msg = f"Unknown cluster definition {definition!r}; see geotool.clusters.definitions()."
        raise InputError(msg)
    out = []
    for r in rows.to_dict(orient="records"):
        if r["rule"] in ("unverified", "contested"):
            continue
        pool = list(_prefecture_codes(str(r["province"]), str(r["prefecture"])))
        listed = [n for n in str(r["units"]).split(";") if n]
        where = f"{definition} {r['prefecture']}"
        if r["rule"] == "whole":
            codes = pool
        elif r["rule"] == "include":
            codes = _named_units(listed, pool, where)
        else:
            codes = sorted(set(pool) - set(_named_units(listed, pool, where)))
        out += [{"adcode": c, "prefecture_listed": r["prefecture"], "rule": r["rule"],
                 "confidence": r["confidence"]} for c in codes]  # fmt: skip
    frame = pd.DataFrame(out).drop_duplicates("adcode")
    for i, col in enumerate(["definition", "cluster_id", "cluster_zh", "cluster_en"], 1):
        frame.insert(i, col, rows.iloc[0][col])
    return frame.reset_index(drop=True)


def members(definition: str) -> pd.DataFrame:
    """County-level units of one definition (adcode, cluster, the prefecture as listed, rule).

    >>> sorted(members("hohhot_baotou_ordos_yulin_2018")["prefecture_listed"].unique())
    ['包头市', '呼和浩特市', '榆林市', '鄂尔多斯市']
    """
    return _members(definition).copy()


#: The largest definition set file read (a name and a list of definitions).
_MAX_SET_BYTES = 1_000_000


def load_set(spec: str | Path) -> tuple[str, list[str]]:
    """A definition set by name (:data:`SETS`) or from a YAML/CSV file: name, definitions."""
    if str(spec) in SETS:
        return str(spec), list(SETS[str(spec)])
    path = Path(spec)
    if not path.is_file():
        msg = f"Unknown definition set {spec!r}: use one of {list(SETS)} or a YAML/CSV file path."
        raise InputError(msg)
    if path.stat().st_size > _MAX_SET_BYTES:
        raise InputError(f"{short(path)} is over {_MAX_SET_BYTES // 1000:,} kB; a definition set "
                         "is a name and a list of definitions.")  # fmt: skip
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        msg = f"{short(path)} is not UTF-8 text; save the definition set as UTF-8."
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"{short(path)} cannot be read ({exc.strerror}); check the path."
        raise InputError(msg) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        name, defs = _yaml_set(path, text)
    else:
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(
                f"{short(path)} is not a CSV table with a `definition` column "
                f"({short(str(exc).strip(), 80)})."
            ) from None
        name, defs = path.stem, frame.get("definition", pd.Series(dtype=str)).tolist()
    if not isinstance(defs, list) or not all(isinstance(d, str) for d in defs):
        raise InputError(f"{short(path)}: `definitions` must be a list of definition names.")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise InputError(f"{short(path)}: `name` must be a short text (at most 200 characters).")
    if not defs:
        msg = f"{path} lists no definitions; give `definitions:` (YAML) or a `definition` column."
        raise InputError(msg)
    known = set(_table()["definition"])
    unknown = [d for d in defs if d not in known]
    if unknown:
        raise InputError(
            f"{short(path)}: unknown definitions {[short(u, 40) for u in unknown[:5]]}; "
            "see geotool.clusters.definitions() for the known ones."
        )
    return str(name), list(defs)


def _yaml_set(path: Path, text: str) -> tuple[Any, Any]:
    """The ``name`` and ``definitions`` of a YAML definition set.

    Without anchors and aliases: a few hundred bytes of nested aliases expand to gigabytes.
    """
    import yaml

    try:
        if any(isinstance(t, yaml.AliasToken | yaml.AnchorToken) for t in yaml.scan(text)):
            raise InputError(f"{short(path)} uses YAML anchors or aliases (& or *); write the "
                             "name and each definition out.")  # fmt: skip
        data = yaml.safe_load(text) or {}
    except RecursionError:
        raise InputError(f"{short(path)} nests its YAML too deeply; write `name:` and a flat "
                         "`definitions:` list.") from None  # fmt: skip
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        msg = f"{short(path)} is not valid YAML{line}; fix it (name: ..., definitions: [...])."
        raise InputError(msg) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{short(path)} holds a YAML {type(data).__name__}, not a mapping; write "
            "`name: my_set` and `definitions:` with a list of definitions."
        )
    return data.get("name", path.stem), data.get("definitions")


def membership(spec: str | Path = "report2020", *, level: str = "county") -> pd.DataFrame:
    """Every unit's clusters under a set (";"-joined, in priority order), and its primary one.

    At ``"prefecture"`` level a prefecture named wholly or in part is a member (``scope``);
    contested rows count at neither level.

    >>> m = membership("report2020", level="prefecture")
    >>> m.loc["320500", ["name", "primary_cluster", "scope"]].tolist()
    ['苏州市', 'yangtze_delta', 'whole']
    """
    if level not in ("county", "prefecture"):
        raise InputError(f"level must be 'county' or 'prefecture', got {short(level)!r}.")
    name, defs = load_set(spec)
    body = _membership if level == "county" else _prefecture_membership
    out = body(name, tuple(defs)).copy()
    out.attrs["set"] = name
    out.attrs["level"] = level
    return out


_MEMBERSHIP = {
    "name": "object", "clusters": "str", "definitions": "str", "n_clusters": "int64",
    "primary_cluster": "object", "primary_definition": "object", "primary_zh": "str",
}  # fmt: skip
_PREFECTURE_MEMBERSHIP = Frame(
    {**_MEMBERSHIP, "primary_cluster": "str", "primary_definition": "str", "scope": "str"},
    index=("adcode", "str"),
)


@derived_cache(maxsize=8, returns=_PREFECTURE_MEMBERSHIP)
def _prefecture_membership(name: str, defs: tuple[str, ...]) -> pd.DataFrame:
    """Cached body of :func:`membership` at prefecture level."""
    units = boundaries.units()
    prefectures = units.drop_duplicates("prefecture_code").set_index("prefecture_code")
    direct = units[units["province_administered"].astype(bool)]
    table = _table()
    rows = []
    for priority, d in enumerate(defs):
        for r in table[table["definition"] == d].to_dict(orient="records"):
            if r["rule"] == "contested":
                continue
            codes = list(_prefecture_codes(str(r["province"]), str(r["prefecture"])))
            own = [c for c in codes if c in direct.index]
            scope = "whole" if r["rule"] == "whole" else "partial"
            rows += [
                {"adcode": pref, "priority": priority, "definition": d,
                 "cluster_id": r["cluster_id"], "cluster_zh": r["cluster_zh"], "scope": scope}
                for pref in dict.fromkeys([*units.loc[codes, "prefecture_code"], *own])
            ]  # fmt: skip
    allm = pd.DataFrame(rows).sort_values(["adcode", "priority"], kind="stable")
    index = pd.Index(sorted({*prefectures.index, *direct.index}), name="adcode")
    names = prefectures["prefecture"].reindex(index).fillna(direct["name"])
    allm = allm.drop_duplicates(["adcode", "definition"])
    return _summary(allm, names, scope="scope")


@derived_cache(maxsize=8, returns=Frame(_MEMBERSHIP, index=("adcode", "object")))
def _membership(name: str, defs: tuple[str, ...]) -> pd.DataFrame:
    """Cached body of :func:`membership`."""
    allm = pd.concat([members(d) for d in defs], ignore_index=True)
    allm["priority"] = allm["definition"].map({d: i for i, d in enumerate(defs)})
    allm = allm.sort_values(["adcode", "priority"]).astype(
        {"cluster_id": object, "definition": object}
    )
    return _summary(allm, boundaries.units()["name"])


def _summary(allm: pd.DataFrame, names: pd.Series, **extra: str) -> pd.DataFrame:
    """Per unit of ``names``' index: its clusters in ``allm`` (in priority order), the first."""
    grouped = allm.groupby("adcode", sort=False)
    out = pd.DataFrame({"name": names})
    out["clusters"] = grouped["cluster_id"].agg(";".join).reindex(out.index, fill_value="")
    out["definitions"] = grouped["definition"].agg(";".join).reindex(out.index, fill_value="")
    out["n_clusters"] = grouped.size().reindex(out.index, fill_value=0)
    first = grouped.first()
    primary = {"primary_cluster": "cluster_id", "primary_definition": "definition",
               "primary_zh": "cluster_zh", **extra}  # fmt: skip
    for col, src in primary.items():
        out[col] = first[src].reindex(out.index, fill_value="")
    return out


def polygons(spec: str | Path = "report2020") -> gpd.GeoDataFrame:
    """One dissolved polygon per definition of a set (EPSG:4326), its members and counts."""
    _, defs = load_set(spec)
    return _polygons(tuple(defs)).copy()


_POLYGONS = Frame({
    "definition": "str", "cluster_id": "str", "cluster_zh": "str", "cluster_en": "str",
    "priority": "int64", "n_units": "int64", "n_prefectures": "int64", "members": "str",
    "geometry": "geometry",
})  # fmt: skip


@derived_cache(maxsize=8, returns=_POLYGONS)
def _polygons(defs: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Cached body of :func:`polygons`."""
    import shapely

    counties = boundaries.load("county")
    rows, geoms = [], []
    for i, d in enumerate(defs):
        m = members(d)
        geoms.append(shapely.coverage_union_all(counties.geometry.loc[m["adcode"]].to_numpy()))
        rows.append({
            "definition": d, "cluster_id": m["cluster_id"].iloc[0],
            "cluster_zh": m["cluster_zh"].iloc[0], "cluster_en": m["cluster_en"].iloc[0],
            "priority": i + 1, "n_units": len(m),
            "n_prefectures": m["prefecture_listed"].nunique(),
            "members": ";".join(counties.loc[m["adcode"], "name"]),
        })  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=settings.default_crs)


def check_geometry(spec: str | Path = "report2020") -> dict[str, int]:
    """Check membership by code against geometry: definition -> member units, or DataError."""
    _, defs = load_set(spec)
    return dict(_check_geometry(tuple(defs)))


@derived_cache(maxsize=8)
def _check_geometry(defs: tuple[str, ...]) -> dict[str, int]:
    """Cached body of :func:`check_geometry` (a disagreement raises, and is not cached)."""
    import shapely

    units = boundaries.units()
    pts = shapely.points(units["rep_lon"].to_numpy(), units["rep_lat"].to_numpy())
    tree = shapely.STRtree(pts)  # bounding boxes first, then prepared polygons
    poly = _polygons(defs)
    checked = {}
    for row in poly.itertuples(index=False):
        by_geom = set(units.index[tree.query(row.geometry, predicate="contains")])
        by_code = set(members(row.definition)["adcode"])
        if by_geom != by_code:
            raise DataError(
                f"{row.definition}: code and geometry disagree: in by code only "
                f"{sorted(by_code - by_geom)[:5]}, by geometry only {sorted(by_geom - by_code)[:5]}"
            )
        checked[row.definition] = len(by_code)
    return checked


def ranking_counts(spec: str | Path, table: pd.DataFrame, *, level: str = "county") -> pd.DataFrame:
    """Units of a table (``adcode``, ``name``, ``rank``) per primary cluster under a set.

    One row per cluster in priority order plus ``outside`` (the report's 二(六) figures).
    """
    _, defs = load_set(spec)
    ms = membership(spec, level=level)
    table = _known(table, ms)
    if "rank" in table.columns:
        table = table.sort_values("rank", kind="stable")
    table["primary"] = ms.loc[table["adcode"], "primary_definition"].to_numpy()
    heads = [(*members(d).iloc[0][["cluster_id", "cluster_zh"]], d) for d in defs]
    rows = []
    for cluster_id, cluster_zh, d in [*heads, ("outside", "不在城市群", "")]:
        part = table[table["primary"] == d]
        rows.append({"cluster_id": cluster_id, "cluster_zh": cluster_zh, "definition": d,
                     "count": len(part), "units": ";".join(part["name"])})  # fmt: skip
    return pd.DataFrame(rows)


def set_changes(
    a: str | Path, b: str | Path, table: pd.DataFrame, *, level: str = "county"
) -> pd.DataFrame:
    """Units of a table (``adcode``, ``name``, ``rank``) whose primary cluster differs."""
    ma, mb = membership(a, level=level), membership(b, level=level)
    table = _known(table, ma)
    codes = table["adcode"]
    out = pd.DataFrame({
        "adcode": codes.to_numpy(), "name": table["name"].to_numpy(),
        "rank": table["rank"].to_numpy() if "rank" in table.columns else np.nan,
        f"cluster_{ma.attrs['set']}": ma.loc[codes, "primary_cluster"].to_numpy(),
        f"cluster_{mb.attrs['set']}": mb.loc[codes, "primary_cluster"].to_numpy(),
    })  # fmt: skip
    changed = out.iloc[:, 3] != out.iloc[:, 4]
    return out[changed].reset_index(drop=True)


def _known(table: pd.DataFrame, ms: pd.DataFrame | None = None) -> pd.DataFrame:
    """A copy of ``table``, checked to hold codes of ``ms`` (default: bundled counties)."""
    level = "county" if ms is None else ms.attrs.get("level", "county")
    if "adcode" not in table.columns:
        raise InputError(
            f"table needs an 'adcode' column of {level}-level codes; it has {list(table.columns)}."
        )
    known = boundaries.units().index if ms is None else ms.index
    unknown = pd.Index(table["adcode"].astype(str)).difference(known)
    if len(unknown):
        raise InputError(
            f"{len(unknown)} codes of table are not bundled {level}-level units (e.g. "
            f"{list(unknown[:3])}); city clusters are defined on the bundled units."
        )
    return table.copy()


def network(
    w: WeightsLike,
    *,
    positions: pd.DataFrame | None = None,
    attributes: pd.DataFrame | None = None,
    crs: str | None = None,
) -> nx.Graph:
    """The units as an undirected networkx graph: nodes the weights' ids, edges their links.

    Edges keep the ``weight``; ``positions`` and ``attributes`` (frames on the ids) become
    node attributes; ``crs`` (of the positions) is ``G.graph["crs"]``.
    """
    w = as_weights(w)
    import networkx as nx

    g = nx.Graph(crs=crs, weights=w.spec)
    g.add_nodes_from(w.ids)
    for frame in (positions, attributes):
        if frame is not None:
            nx.set_node_attributes(g, frame.reindex(w.ids).to_dict(orient="index"))
    coo = w.sparse.tocoo()
    ids = np.asarray(w.ids, dtype=object)
    g.add_weighted_edges_from(zip(ids[coo.row], ids[coo.col], coo.data, strict=True))
    return g


def belts(
    selected: pd.Series,
    w: WeightsLike,
    *,
    order: pd.Series | None = None,
    labels: pd.Series | None = None,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Belts: connected groups of ``selected`` units (booleans on their index) over ``w``.

    ``order`` (rank, 1 = best), ``labels`` and ``groups`` (counted per belt) are Series on
    the units' index. One row per belt, largest first: ``size``, ``members`` (best first),
    ``best_rank`` and ``groups`` (when given).
    """
    w = as_weights(w)
    chosen = _selected_units(selected)
    for name, given in (("order", order), ("labels", labels), ("groups", groups)):
        if given is not None and not isinstance(given, pd.Series):
            msg = f"{name} must be a pandas Series on the units' index, got {type(given).__name__}."
            raise InputError(msg)
    if order is not None:
        rank = pd.to_numeric(order.reindex(chosen), errors="coerce")
        if not np.isfinite(rank.to_numpy(dtype=float)).all():
            shown = chosen[~np.isfinite(rank.to_numpy(dtype=float))][:5].tolist()
            msg = f"order has no finite rank for selected units {shown}; give every one a rank."
            raise InputError(msg)
    missing = chosen.difference(w.ids)
    if len(missing):
        msg = f"{len(missing)} selected units are not in the weights (e.g. {list(missing[:3])})."
        raise InputError(msg)
    from scipy.sparse.csgraph import connected_components

    pos = w.ids.get_indexer(chosen)
    sub = w.sparse[pos][:, pos]
    _, comp = connected_components(sub, directed=False)
    rows = []
    for c in np.unique(comp):
        members = chosen[comp == c]
        rank = order.reindex(members) if order is not None else pd.Series(0, index=members)
        members = rank.sort_values(kind="stable").index
        names = labels.reindex(members).astype(str) if labels is not None else members.astype(str)
        row: dict[str, Any] = {"size": len(members), "members": ";".join(names)}
        if order is not None:
            row["best_rank"] = int(rank.min())
        if groups is not None:
            counts = groups.reindex(members).replace("", "outside").value_counts()
            row["groups"] = ";".join(f"{k} {v}" for k, v in counts.items())
        rows.append(row)
    sort = ["size", "best_rank"] if order is not None else ["size"]
    return pd.DataFrame(rows).sort_values(
        sort, ascending=[False, True][: len(sort)], ignore_index=True
    )


def _selected_units(selected: object) -> pd.Index:
    """The units ``selected`` marks: booleans or 0/1, one per unit, none missing."""
    if not isinstance(selected, pd.Series):
        raise InputError(
            "selected must be a pandas Series of booleans on the units' index, got "
            f"{type(selected).__name__}."
        )
    if selected.index.has_duplicates:
        dup = selected.index[selected.index.duplicated()].unique()[:5].tolist()
        raise InputError(f"selected has duplicated index labels {dup}; give one value per unit.")
    flags = selected.astype(object)
    ok = flags.map(
        lambda v: (
            isinstance(v, bool | np.bool_)
            or (isinstance(v, int | float | np.number) and v in (0, 1))
        )
    )
    if not ok.all():
        shown = selected.index[~ok.to_numpy(dtype=bool)][:5].tolist()
        raise InputError(
            f"selected must hold True/False (or 1/0) for every unit; units {shown} hold "
            f"{short(flags[~ok.to_numpy(dtype=bool)].iloc[0], 30)!r}."
        )
    return pd.Index(selected.index[flags.astype(bool).to_numpy(dtype=bool)])


def table_belts(table: pd.DataFrame, spec: str | Path = "report2020") -> pd.DataFrame:
    """The report's industrial belts: :func:`belts` of a table's units (``adcode``, ``rank``).

    Over :func:`county_contiguity`, listed by name, primary clusters counted in ``clusters``.
    """
    table = _known(table)
    return belts(
        pd.Series(True, index=pd.Index(table["adcode"])),
        county_contiguity(),
        order=table.set_index("adcode")["rank"],
        labels=boundaries.units()["name"],
        groups=membership(spec)["primary_zh"],
    ).rename(columns={"groups": "clusters"})


def hops(w: WeightsLike, sources: list[str] | pd.Index) -> pd.Series:
    """Fewest links from any of ``sources`` to every unit (0 for a source, NaN: no path)."""
    from scipy.sparse.csgraph import dijkstra

    w = as_weights(w)
    idx = w.ids.get_indexer(pd.Index(sources))
    if (idx < 0).any() or not len(idx):
        raise InputError("sources must be units of the weights (at least one).")
    sym = ((w.sparse + w.sparse.T) > 0).astype(float)
    dist = dijkstra(sym, unweighted=True, indices=idx, min_only=True)
    return pd.Series(np.where(np.isfinite(dist), dist, np.nan), index=w.ids, name="hops")


_WEIGHTS = Record(
    Weights, {"sparse": Sparse(), "spec": str, "ids": Labels("adcode"), "report": JSON}
)


@derived_cache(maxsize=1, returns=_WEIGHTS)
def county_contiguity() -> Weights:
    """Queen contiguity of every bundled county-level unit, islands left alone (cached).

    No bridges: an island is a belt of its own, and has no path to a core.
    """
    from geotool.weights import build

    return build(boundaries.units().index, "queen", islands="keep")


def core_distances(spec: str | Path = "report2020") -> pd.DataFrame:
    """For every member unit of a set (by primary cluster): distance to the nearest core.

    A core is the municipal districts of a cluster's core cities (``cluster_cores.csv``);
    ``hops`` county-adjacency steps to it (NaN: no path), ``km`` geodesic.
    """
    name, defs = load_set(spec)
    return _core_distances(name, tuple(defs)).copy()


_CORE_DISTANCES = Frame({
    "adcode": "object", "name": "str", "cluster_id": "str", "core": "str", "hops": "float64",
    "km": "float64",
})  # fmt: skip


@derived_cache(maxsize=8, returns=_CORE_DISTANCES)
def _core_distances(name: str, defs: tuple[str, ...]) -> pd.DataFrame:
    """Cached body of :func:`core_distances`."""
    import pyproj

    ms = _membership(name, defs)
    units = boundaries.units()
    cores = pd.read_csv(settings.data_dir / "cluster_cores.csv", dtype=str)
    geod = pyproj.Geod(ellps="WGS84")
    urban_types = ["district", "sar_district", "prefecture_city_undivided"]
    frames = []
    for cluster, part in ms[ms["primary_cluster"] != ""].groupby("primary_cluster"):
        rows = cores[cores["cluster_id"] == cluster]
        core_units = []
        for r in rows.to_dict(orient="records"):
            pool = units.loc[list(_prefecture_codes(str(r["province"]), str(r["core"])))]
            urban = pool[pool["unit_type"].isin(urban_types)]
            core_units += list(urban.index if len(urban) else pool.index)
        hop = hops(county_contiguity(), core_units)
        here = units.loc[part.index, ["rep_lon", "rep_lat"]].to_numpy()[:, None, :]
        there = units.loc[core_units, ["rep_lon", "rep_lat"]].to_numpy()[None, :, :]
        here, there = np.broadcast_arrays(here, there)
        _, _, dist = geod.inv(here[..., 0], here[..., 1], there[..., 0], there[..., 1])
        frames.append(pd.DataFrame({
            "adcode": part.index, "name": part["name"].to_numpy(), "cluster_id": cluster,
            "core": "、".join(rows["core"]),
            "hops": hop.reindex(part.index).to_numpy(),
            "km": dist.min(axis=1) / 1000,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def radiation(
    spec: str | Path,
    table: pd.DataFrame,
    *,
    min_units: int = 5,
    permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Does being near a cluster's core go with a better rank? Rank correlations with km.

    Per cluster of at least ``min_units`` ranked units, and pooled: Spearman's rho and
    Kendall's tau-b with permutation p-values ("radiation" predicts rho > 0).
    """
    permutations = check.permutations(
        settings.permutations if permutations is None else permutations, n_units=len(table)
    )
    seed = check.seed(settings.seed if seed is None else seed)
    dist = core_distances(spec).set_index("adcode")
    table = _known(table)
    table = table[table["adcode"].isin(dist.index)]
    found = dist.loc[table["adcode"], ["km", "hops", "cluster_id"]]
    table = table.assign(**{c: found[c].to_numpy() for c in ("km", "hops", "cluster_id")})
    groups = [(c, part) for c, part in table.groupby("cluster_id") if len(part) >= min_units]
    if len(table) >= 3:  # a rank correlation of fewer units is no test
        groups.append(("all", table))
    rows = []
    for cluster, part in groups:
        rng = rng_for(seed, f"radiation:{cluster}")
        res = rank_correlations(part["rank"].to_numpy(float), part["km"].to_numpy(float),
                                permutations, rng)  # fmt: skip
        km_median = float(part["km"].median())
        rows.append({"cluster_id": cluster, "n": len(part), "km_median": km_median, **res})
    return pd.DataFrame(rows).assign(permutations=permutations, seed=seed)


def overlaps(spec: str | Path = "plans") -> tuple[nx.Graph, pd.DataFrame]:
    """The graph of a set's definitions, joined where they share units, and its table."""
    _, defs = load_set(spec)
    sets = {d: set(members(d)["adcode"]) for d in defs}
    import networkx as nx

    g = nx.Graph(set=str(spec))
    for d in defs:
        g.add_node(d, cluster_zh=members(d)["cluster_zh"].iloc[0], n_units=len(sets[d]))
    rows = []
    for i, a in enumerate(defs):
        for b in defs[i + 1 :]:
            shared = sets[a] & sets[b]
            if shared:
                g.add_edge(a, b, shared=len(shared))
                names = boundaries.units().loc[sorted(shared), "name"]
                rows.append(
                    {"a": a, "b": b, "shared": len(shared), "units": ";".join(names.iloc[:20])}
                )
    return g, pd.DataFrame(rows, columns=["a", "b", "shared", "units"])
