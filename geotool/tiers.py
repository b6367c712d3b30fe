"""Tier diffusion: how tiers of a ranking or score spread across space, measured.

Centres, spreads and ellipses are computed in the projected CRS of the units' positions
(:func:`unit_positions`), distances and bearings between points geodesically. The standard
deviational ellipse is ``"corrected"`` (pointpats' and CrimeStat's: ``sqrt(2 n / (n - 2))``
sigma, undefined for ``n <= 2``) or ``"plain"`` (1 sigma); azimuths are clockwise from north.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geotool import _validate as check
from geotool import settings
from geotool._errors import InputError
from geotool._perm import rank_correlations, rng_for
from geotool._text import short
from geotool.geometry import bundled_positions, positions

__all__ = [
    "analyse", "assign", "composition", "diffusion_steps", "diffusion_vectors", "from_scores",
    "geography",
    "gradient", "mobility", "shapes", "unit_positions", "yearly_centres",
]  # fmt: skip


def assign(scores: pd.Series, *, method: str = "ward", k: int = 4) -> pd.Series:
    """Tiers (1 = the highest scores, each a contiguous range of scores) from the data.

    ``method``: Ward clustering on the score (as the report did), exact Fisher-Jenks breaks
    or quantiles (ties share a tier); ``k``: 2 to 20 tiers, at most the distinct scores.

    >>> assign(pd.Series([10.0, 9.5, 5.0, 4.8, 1.0, 0.9]), k=3).tolist()
    [1, 1, 2, 2, 3, 3]
    """
    if method not in ("ward", "jenks", "quantiles"):
        raise InputError(
            f"method must be 'ward', 'jenks' or 'quantiles' (or 'report' for the report's "
            f"rankings), got {short(repr(method), 40)}."
        )
    if isinstance(scores, pd.Series) and pd.api.types.is_bool_dtype(scores.dtype):
        raise InputError("scores are booleans; pass a numeric score (higher is better).")
    from geotool._classify import at_most

    y = check.finite_values(scores, "scores").to_numpy()
    k = at_most(check.classes(k, n_distinct=len(np.unique(y)), minimum=2))  # 1: no diffusion
    if method == "ward":
        from scipy.cluster.hierarchy import fcluster, linkage

        labels = fcluster(linkage(y.reshape(-1, 1), method="ward"), t=k, criterion="maxclust")
    elif method == "jenks":
        from geotool._classify import fisher_jenks

        labels = np.searchsorted(fisher_jenks(y, k), y, side="left")
    else:  # upper bounds of k equal-count classes; ties stay together
        cuts = np.unique(np.quantile(y, np.arange(1, k + 1) / k))
        labels = np.searchsorted(cuts, y, side="left")
    # Relabel so that tier 1 has the highest mean score.
    order = pd.Series(y).groupby(np.asarray(labels)).mean().sort_values(ascending=False)
    relabel = {lab: i + 1 for i, lab in enumerate(order.index)}
    return pd.Series([relabel[lab] for lab in labels], index=scores.index, name="tier")


def composition(table: pd.DataFrame, *, by: str = "region") -> pd.DataFrame:
    """Tier x region (or province): a count column per group, ``total``, ``share_<group>``."""
    if by not in table.columns:
        raise InputError(f"Cannot group by {by!r}: not a column ({list(table.columns)}).")
    counts = pd.crosstab(table["tier"], table[by])
    if by == "region":
        counts = counts.reindex(columns=["east", "central", "west", "northeast"], fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0).round(4).add_prefix("share_")
    counts["total"] = counts.sum(axis=1)
    return pd.concat([counts, shares], axis=1)


def _to_lonlat(xy: np.ndarray, crs: pyproj.CRS | str) -> np.ndarray:
    inv = pyproj.Transformer.from_crs(crs, settings.default_crs, always_xy=True)
    lon, lat = inv.transform(xy[..., 0], xy[..., 1])
    return np.stack([lon, lat], axis=-1)


def _geometric_median(xy: np.ndarray, tol: float = 1e-3, max_iter: int = 1000) -> np.ndarray:
    """Weiszfeld's algorithm (metres); tol is the step size at which it stops."""
    point = xy.mean(axis=0)
    for _ in range(max_iter):
        d = np.hypot(*(xy - point).T)
        if (d < tol).any():  # sitting on a data point: it is the median if no pull exceeds 1
            d = np.where(d < tol, tol, d)
        new = (xy / d[:, None]).sum(axis=0) / (1 / d).sum()
        if np.hypot(*(new - point)) < tol:
            return new
        point = new
    return point


#: Conventions of the standard deviational ellipse (see the module docstring).
ELLIPSE_CONVENTIONS = ("corrected", "plain")
_GEOD = pyproj.Geod(ellps="WGS84")


def _bearing_km(lon0: Any, lat0: Any, lon1: Any, lat1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic bearing (degrees clockwise from north, in [0, 360)) and length (km)."""
    lons0, lats0, lons1, lats1 = np.broadcast_arrays(lon0, lat0, lon1, lat1)
    az, _, dist = _GEOD.inv(lons0, lats0, lons1, lats1)
    return np.mod(az, 360.0), dist / 1000


def _check_ellipse(convention: str) -> str:
    if convention not in ELLIPSE_CONVENTIONS:
        raise InputError(
            f"ellipse must be 'corrected' (sqrt(2) and sqrt(n/(n-2)), as pointpats and "
            f"CrimeStat) or 'plain' (1 sigma), got {convention!r}."
        )
    return convention


def _ellipse(xy: np.ndarray, convention: str = "plain") -> tuple[float, float, float]:
    """(azimuth of the major axis, degrees clockwise from north; semi-major; semi-minor)."""
    n = len(xy)
    if convention == "corrected" and n <= 2:
        return math.nan, math.nan, math.nan
    centred = xy - xy.mean(axis=0)
    cov = centred.T @ centred / n
    vals, vecs = np.linalg.eigh(cov)
    major = vecs[:, 1]
    azimuth = math.degrees(math.atan2(major[0], major[1])) % 180.0
    scale = math.sqrt(2 * n / (n - 2)) if convention == "corrected" else 1.0
    return (azimuth, scale * math.sqrt(max(vals[1], 0.0)), scale * math.sqrt(max(vals[0], 0.0)))


def unit_positions(
    geo: gpd.GeoDataFrame | gpd.GeoSeries | pd.Index | list[str],
    *,
    coast: shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    core: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Positions of units (any geometry with a CRS, or bundled county codes).

    ``x``, ``y`` (metres), ``lon``, ``lat`` on the units' index, ``km_to_coast`` for a
    ``coast`` line (EPSG:4326 unless it has a CRS) and ``km_to_core`` (geodesic) for a
    ``core`` ``(lon, lat)``; ``attrs["crs"]`` and ``attrs["crs_note"]`` name the CRS and why.
    """
    core = _core_point(core)
    if coast is not None and not isinstance(
        coast, shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame
    ):
        raise InputError(
            f"coast must be a shapely geometry, GeoSeries or GeoDataFrame (e.g. "
            f"geotool.boundaries.coastline()), got {type(coast).__name__}."
        )
    if isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries):
        ids, pos = pd.Index(geo.index), positions(geo)
    elif isinstance(geo, pd.Index | pd.Series | np.ndarray | list | tuple):
        ids = pd.Index(list(geo)).astype(str)
        pos = bundled_positions(ids)
    else:
        raise InputError(
            f"geo must be a GeoDataFrame, a GeoSeries or a list of bundled county codes, got "
            f"{type(geo).__name__}."
        )
    xy, columns = pos.xy, ["x", "y", "lon", "lat"]
    out = pd.DataFrame(np.column_stack([xy, pos.lonlat]), index=ids, columns=columns)
    if coast is not None:
        line = gpd.GeoSeries(
            list(coast.geometry) if hasattr(coast, "geometry") else [coast],
            crs=getattr(coast, "crs", None) or settings.default_crs,
        ).to_crs(pos.crs)
        out["km_to_coast"] = shapely.distance(shapely.points(xy), line.union_all()) / 1000
    if core is not None:
        out["km_to_core"] = _bearing_km(*core, out["lon"].to_numpy(), out["lat"].to_numpy())[1]
    out.attrs.update(crs=pos.crs.to_wkt(), crs_note=pos.crs_note)
    return out


def _core_point(core: object) -> tuple[float, float] | None:
    """``core=`` as a checked (longitude, latitude) in degrees."""
    if core is None:
        return None
    try:
        lon, lat = (float(c) for c in core)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        msg = f"core must be a (longitude, latitude) pair in degrees, got {short(core, 60)}."
        raise InputError(msg) from None
    if not (np.isfinite([lon, lat]).all() and -180 <= lon <= 360 and -90 <= lat <= 90):
        raise InputError(
            f"core=({lon:g}, {lat:g}) is not a longitude from -180 to 360 and a latitude "
            "from -90 to 90 degrees; pass (longitude, latitude)."
        )
    return lon, lat


def _positions_for(table: pd.DataFrame, pos: pd.DataFrame, id_col: str) -> pd.DataFrame:
    ids = pd.Index(table[id_col])
    missing = ids.difference(pos.index)
    if len(missing):
        raise InputError(
            f"{len(missing)} units of the tier table have no position (e.g. "
            f"{list(missing[:3])}); build positions from the same units."
        )
    return pos.loc[ids]


def geography(
    table: pd.DataFrame,
    pos: pd.DataFrame,
    *,
    group: str = "tier",
    id_col: str = "adcode",
    ellipse: str = "corrected",
) -> pd.DataFrame:
    """Centres, spread and position of each tier (or other ``group`` column) of ``table``.

    One row per group: mean and median centres, standard distance, the ellipse
    (``ellipse_note`` says why it is NaN), longitudes and distances to coast and core.
    """
    ellipse = _check_ellipse(ellipse)
    p_all = _positions_for(table, pos, id_col)
    xy = p_all[["x", "y"]].to_numpy()
    crs = pos.attrs.get("crs", settings.equal_area_crs)
    rows = []
    for raw_key, idx in table.reset_index(drop=True).groupby(group).indices.items():
        key = raw_key.item() if hasattr(raw_key, "item") else raw_key  # numpy -> int
        row = {group: key, **_spread(xy[idx], ellipse, crs)}
        p = p_all.iloc[idx]
        row.update(lon_mean=p["lon"].mean(), lon_median=p["lon"].median())
        if "km_to_coast" in p.columns:
            row["km_to_coast_mean"] = p["km_to_coast"].mean()
            row["km_to_coast_median"] = p["km_to_coast"].median()
        if "km_to_core" in p.columns:
            row["km_to_core_mean"] = p["km_to_core"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def _spread(pts: np.ndarray, ellipse: str, crs: Any) -> dict[str, Any]:
    """Centres, standard distance and ellipse of one group's points (metres in ``crs``)."""
    centre = pts.mean(axis=0)
    median = _geometric_median(pts)
    sd = math.sqrt(((pts - centre) ** 2).sum(axis=1).mean())
    azimuth, major, minor = _ellipse(pts, ellipse)
    note = (
        f"n = {len(pts)}: the corrected ellipse needs at least 3 units (its "
        "sqrt(n / (n - 2)) factor); ellipse='plain' gives 1 sigma"
        if ellipse == "corrected" and len(pts) <= 2
        else ""
    )
    (clon, clat), (mlon, mlat) = _to_lonlat(np.array([centre, median]), crs)
    return {
        "n": len(pts), "mean_lon": clon, "mean_lat": clat, "median_lon": mlon,
        "median_lat": mlat, "standard_distance_km": sd / 1000, "ellipse_azimuth_deg": azimuth,
        "ellipse_major_km": major / 1000, "ellipse_minor_km": minor / 1000,
        "ellipse_convention": ellipse, "ellipse_note": note,
    }  # fmt: skip


def diffusion_vectors(geo: pd.DataFrame, *, group: str = "tier") -> pd.DataFrame:
    """Bearing and length of the shift from the first group's mean centre to each later one.

    Geodesic on WGS84, degrees clockwise from north and km; ``kind`` ``"from_first"``.
    """
    first, rest = geo.iloc[0], geo.iloc[1:]
    return _vectors(geo[group].iloc[[0] * len(rest)].to_numpy(), rest[group].to_numpy(),
                    np.full((len(rest), 2), [first["mean_lon"], first["mean_lat"]]),
                    rest[["mean_lon", "mean_lat"]].to_numpy(float), "from_first")  # fmt: skip


def diffusion_steps(geo: pd.DataFrame, *, group: str = "tier") -> pd.DataFrame:
    """The mean centres joined in order: each step (group t-1 -> t), its bearing and km.

    The columns of :func:`diffusion_vectors`, ``kind`` ``"step"``; geodesic on WGS84.
    """
    xy = geo[["mean_lon", "mean_lat"]].to_numpy(float)
    keys = geo[group].to_numpy()
    return _vectors(keys[:-1], keys[1:], xy[:-1], xy[1:], "step")


def _vectors(a: np.ndarray, b: np.ndarray, xy0: np.ndarray, xy1: np.ndarray, kind: str
             ) -> pd.DataFrame:  # fmt: skip
    """Vectors from points ``xy0`` of groups ``a`` to ``xy1`` of groups ``b`` (lon, lat)."""
    xy0, xy1 = xy0.reshape(-1, 2), xy1.reshape(-1, 2)
    bearing, km = _bearing_km(xy0[:, 0], xy0[:, 1], xy1[:, 0], xy1[:, 1])
    return pd.DataFrame({
        "kind": kind, "from": a, "to": b, "bearing_deg": bearing, "length_km": km,
        "from_lon": xy0[:, 0], "from_lat": xy0[:, 1], "to_lon": xy1[:, 0], "to_lat": xy1[:, 1],
    })  # fmt: skip


def gradient(
    table: pd.DataFrame,
    pos: pd.DataFrame,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    id_col: str = "adcode",
) -> pd.DataFrame:
    """Test whether a worse rank (or a later tier) goes with further west and further inland.

    Spearman's rho and Kendall's tau-b of rank (and tier) with longitude (claim: rho < 0)
    and distance to the coast (rho > 0), seeded two-sided permutation p-values.
    """
    pos = _positions_for(table, pos, id_col)
    permutations = check.permutations(
        settings.permutations if permutations is None else permutations, n_units=len(pos)
    )
    seed = check.seed(settings.seed if seed is None else seed)
    rows = []
    for order in ("rank", "tier"):
        if order not in table.columns or table[order].isna().all():
            continue
        o = table[order].to_numpy(dtype=float)
        for position, expected in (("lon", -1), ("km_to_coast", 1)):
            if position not in pos.columns:
                continue
            rng = rng_for(seed, f"gradient:{order}:{position}")
            res = rank_correlations(o, pos[position].to_numpy(), permutations, rng)
            supports = bool(np.sign(res["spearman_rho"]) == expected and res["spearman_p"] < 0.05)
            rows.append({
                "order": order, "position": position, "n": len(o), **res,
                "expected_sign": "-" if expected < 0 else "+", "supports": supports,
            })  # fmt: skip
    return pd.DataFrame(rows).assign(permutations=permutations, seed=seed)


def yearly_centres(
    table: pd.DataFrame, pos: pd.DataFrame, *, year_col: str = "year", id_col: str = "adcode"
) -> pd.DataFrame:
    """Per year and tier: the mean centre, and its shift (km, bearing) from the year before."""
    years = sorted(table[year_col].unique())
    if len(years) < 2:
        raise InputError(
            f"Change over time needs rankings of at least two years in {year_col!r}; found {years}."
        )
    frames = []
    for year in years:
        geo = geography(table[table[year_col] == year], pos, id_col=id_col)
        geo.insert(0, year_col, year)
        frames.append(geo)
    centres = pd.concat(frames, ignore_index=True)
    centres = centres.sort_values(["tier", year_col]).reset_index(drop=True)
    prev = centres.groupby("tier")[["mean_lon", "mean_lat"]].shift()
    ok = prev["mean_lon"].notna().to_numpy()
    bearing, km = _bearing_km(*prev.loc[ok, ["mean_lon", "mean_lat"]].to_numpy().T,
                              *centres.loc[ok, ["mean_lon", "mean_lat"]].to_numpy().T)  # fmt: skip
    centres[["shift_km", "shift_bearing_deg"]] = np.nan
    centres.loc[ok, "shift_km"] = km
    centres.loc[ok, "shift_bearing_deg"] = bearing
    return centres[["tier", year_col, "n", "mean_lon", "mean_lat", "shift_km", "shift_bearing_deg"]]


def mobility(
    table: pd.DataFrame, *, year_col: str = "year", id_col: str = "adcode"
) -> dict[str, pd.DataFrame]:
    """Tier transition matrices between consecutive years (``out`` = not ranked)."""
    years = sorted(table[year_col].unique())
    if len(years) < 2:
        msg = f"A mobility matrix needs at least two years in {year_col!r}; found {years}."
        raise InputError(msg)
    tiers = {y: table[table[year_col] == y].set_index(id_col)["tier"] for y in years}
    out = {}
    for a, b in zip(years[:-1], years[1:], strict=True):
        units = tiers[a].index.union(tiers[b].index)
        fa, fb = (tiers[y].reindex(units).astype("object").fillna("out").astype(str).rename(str(y))
                  for y in (a, b))  # fmt: skip
        out[f"{a}->{b}"] = pd.crosstab(fa, fb)
    return out


def shapes(
    geo: pd.DataFrame,
    vectors: pd.DataFrame,
    *,
    group: str = "tier",
    crs: pyproj.CRS | str | None = None,
) -> gpd.GeoDataFrame:
    """Tier centres (points), ellipses (polygons), diffusion vectors and steps (lines) for maps.

    In EPSG:4326 with ``kind`` and ``group``; ``crs`` is the one the ellipses were measured
    in (default China Albers).
    """
    crs = crs or settings.equal_area_crs
    t = np.linspace(0, 2 * np.pi, 73)
    fwd = pyproj.Transformer.from_crs(settings.default_crs, crs, always_xy=True)
    records, geoms = [], []
    for row in geo.to_dict(orient="records"):
        records.append({"kind": "mean_centre", group: row[group]})
        geoms.append(shapely.Point(row["mean_lon"], row["mean_lat"]))
        if not np.isfinite([row["ellipse_major_km"], row["ellipse_minor_km"]]).all():
            continue
        cx, cy = fwd.transform(row["mean_lon"], row["mean_lat"])
        a, b = row["ellipse_major_km"] * 1000, row["ellipse_minor_km"] * 1000
        az = math.radians(row["ellipse_azimuth_deg"])
        # major axis direction (east, north) = (sin az, cos az)
        ex, ey = math.sin(az), math.cos(az)
        xs = cx + a * np.cos(t) * ex - b * np.sin(t) * ey
        ys = cy + a * np.cos(t) * ey + b * np.sin(t) * ex
        ring = _to_lonlat(np.column_stack([xs, ys]), crs)
        convention = row.get("ellipse_convention", "plain")
        records.append({"kind": "ellipse", group: row[group], "ellipse_convention": convention})
        geoms.append(shapely.Polygon(ring))
    if "kind" in vectors.columns:  # analyse's table: the steps are drawn from geo below
        vectors = vectors[vectors["kind"] != "step"]
    steps = diffusion_steps(geo, group=group) if len(geo) > 1 else vectors.iloc[:0]
    for kind, table in (("vector", vectors), ("step", steps)):
        for _, v in table.iterrows():
            records.append({"kind": kind, group: v["to"], "bearing_deg": v["bearing_deg"],
                            "length_km": v["length_km"]}
                           | ({"from": v["from"]} if kind == "step" else {}))  # fmt: skip
            geoms.append(
                shapely.LineString([(v["from_lon"], v["from_lat"]), (v["to_lon"], v["to_lat"])])
            )
    return gpd.GeoDataFrame(records, geometry=geoms, crs=settings.default_crs)


def analyse(
    table: pd.DataFrame,
    pos: pd.DataFrame,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    year_col: str | None = None,
    id_col: str = "adcode",
    ellipse: str = "corrected",
    east_west: bool = True,
) -> dict[str, Any]:
    """Composition, geography, diffusion vectors and steps, gradient test and change for one table.

    With ``year_col``, also yearly centres and mobility (the rest on the latest year);
    ``east_west`` tests the report's east-to-west claim (outside China: centres described).
    """
    ellipse = _check_ellipse(ellipse)  # before any work
    _check_analysis_input(table, pos, id_col=id_col, year_col=year_col)
    latest = table
    out: dict[str, Any] = {}
    if year_col:
        out["yearly_centres"] = yearly_centres(table, pos, year_col=year_col, id_col=id_col)
        out["mobility"] = mobility(table, year_col=year_col, id_col=id_col)
        latest = table[table[year_col] == table[year_col].max()]
    if "region" in latest.columns:
        out["composition"] = composition(latest, by="region")
    if "province" in latest.columns:
        out["composition_province"] = composition(latest, by="province")
    out["geography"] = geo = geography(latest, pos, id_col=id_col, ellipse=ellipse)
    vec = diffusion_vectors(geo)
    out["vectors"] = pd.concat([vec, diffusion_steps(geo)], ignore_index=True)
    out["shapes"] = shapes(geo, vec, crs=pos.attrs.get("crs"))
    if east_west:
        out["gradient"] = grad = gradient(latest, pos, permutations=permutations, seed=seed,
                                          id_col=id_col)  # fmt: skip
        out["verdict"] = _verdict(geo, grad)
    else:
        out["verdict"] = _centres_sentence(vec)
    return out


def _centres_sentence(vec: pd.DataFrame) -> str:
    """Where each tier's mean centre lies from tier 1's, in one sentence."""
    steps = "; ".join(
        f"tier {int(t)}: {d:,.1f} km at bearing {b:.0f}°"
        for t, d, b in zip(vec["to"], vec["length_km"], vec["bearing_deg"], strict=True)
    )
    return f"Mean centres from tier 1's: {steps or 'one tier only'}."


def _check_analysis_input(table: object, pos: object, *, id_col: str, year_col: str | None) -> None:
    """Refuse a tier table or positions :func:`analyse` cannot use, naming the argument."""
    for name, frame in (("table", table), ("pos", pos)):
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}.")
    assert isinstance(table, pd.DataFrame) and isinstance(pos, pd.DataFrame)
    needed = [id_col, "tier", *([year_col] if year_col else [])]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(
            f"table has no column {short(missing, 60)} (id_col={short(id_col, 30)!r}, "
            f"year_col={short(year_col, 30)!r}); its columns are "
            f"{short(list(table.columns), 120)}. Make it with tiers.from_scores."
        )
    if table.empty:
        raise InputError("table has no rows; there is nothing to analyse.")
    tier = pd.to_numeric(table["tier"], errors="coerce")
    if tier.isna().any() or not (tier >= 1).all() or not (tier % 1 == 0).all():
        msg = "table['tier'] must hold whole numbers from 1 (the best tier), with none missing."
        raise InputError(msg)
    if table[id_col].isna().any() or (year_col and table[year_col].isna().any()):
        raise InputError(f"table has missing values in {short(needed[::2], 60)}; drop those rows.")
    keys = [id_col, year_col] if year_col else [id_col]
    if table.duplicated(keys).any():
        msg = f"table repeats units (by {short(keys, 60)}); keep one row per unit (and year)."
        raise InputError(msg)
    bad = [c for c in ("x", "y", "lon", "lat") if c not in pos.columns]
    coords = None if bad else pos[["x", "y", "lon", "lat"]].apply(pd.to_numeric, errors="coerce")
    if coords is None or not np.isfinite(coords.to_numpy(dtype=float)).all():
        raise InputError(
            "pos must be tiers.unit_positions() of the table's units: finite x, y, lon and "
            f"lat columns{f' (missing {bad})' if bad else ''}."
        )


def _verdict(geo: pd.DataFrame, grad: pd.DataFrame) -> str:
    """One plain sentence on whether the east-to-west (and coast-to-inland) claim holds."""
    first = grad["order"].iloc[0]
    row = grad[(grad["order"] == first) & (grad["position"] == "lon")].iloc[0]
    coast_rows = grad[(grad["order"] == first) & (grad["position"] == "km_to_coast")]
    lons = geo["lon_mean"].round(2).tolist()
    monotone = all(a >= b for a, b in zip(lons[:-1], lons[1:], strict=True))
    if not np.isfinite(row["spearman_p"]):
        return (
            f"East-to-west claim not tested (no permutations): Spearman rho of {row['order']} "
            f"with longitude {row['spearman_rho']:.2f}."
        )
    held = bool(row["supports"]) and all(coast_rows["supports"])
    coast_text = ""
    if len(coast_rows):
        coast = coast_rows.iloc[0]
        coast_text = (
            f" and with distance to the coast {coast['spearman_rho']:.2f} "
            f"(p {coast['spearman_p']:.3g}, expected > 0)"
        )
    return (
        f"East-to-west claim {'supported' if held else 'not supported'} at the 5 % level: "
        f"Spearman rho of {row['order']} with longitude {row['spearman_rho']:.2f} "
        f"(p {row['spearman_p']:.3g}, expected < 0){coast_text}; tier mean "
        f"longitudes {lons} {'fall tier by tier' if monotone else 'do not fall monotonically'}."
    )


def from_scores(
    units: pd.Series | np.ndarray | list[str],
    scores: pd.Series | np.ndarray,
    *,
    years: pd.Series | np.ndarray | None = None,
    method: str = "ward",
    k: int = 4,
    id_col: str = "adcode",
) -> pd.DataFrame:
    """A tier table (``id_col, score, tier, rank``, ``year``) from scores, tiers per year."""
    table = _score_table(units, scores, years, id_col)
    parts = []
    for _, group in table.groupby("year", sort=True):
        part = group.copy()
        part["tier"] = assign(part["score"], method=method, k=k)
        part["rank"] = part["score"].rank(ascending=False, method="min")
        parts.append(part)
    out = pd.concat(parts).sort_index()
    return out if years is not None else out.drop(columns="year")


def _column(values: object, name: str) -> np.ndarray:
    """``values`` as a 1-d array, or :class:`InputError` naming ``name``."""
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        msg = f"{name} must be a sequence (list, array or Series), got {type(values).__name__}."
        raise InputError(msg)
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {array.shape}.")
    return array


def _score_table(units: object, scores: object, years: object, id_col: str) -> pd.DataFrame:
    """The checked ``id_col, score, year`` table of :func:`from_scores`."""
    ids = _column(units, "units")
    values = pd.Series(_column(scores, "scores"))
    when = _column(years, "years") if years is not None else np.zeros(len(ids), dtype=int)
    if not len(ids) == len(values) == len(when):
        sizes = f"units {len(ids):,}, scores {len(values):,}" + (
            f", years {len(when):,}" if years is not None else ""
        )
        raise InputError(f"units, scores and years must have one entry per unit; got {sizes}.")
    blank = pd.isna(ids) | np.array([str(i).strip() == "" for i in ids], dtype=bool)
    if blank.any():
        raise InputError(
            f"units: {int(blank.sum()):,} id(s) are missing or blank (positions "
            f"{np.flatnonzero(blank)[:5].tolist()}); give every score a unit id."
        )
    if years is not None and pd.isna(when).any():
        raise InputError(
            f"years: {int(pd.isna(when).sum()):,} year(s) are missing (positions "
            f"{np.flatnonzero(pd.isna(when))[:5].tolist()}); give every score its year."
        )
    table = pd.DataFrame({id_col: ids, "score": check.finite_values(values, "scores").to_numpy()})
    table["year"] = when
    dup = table.duplicated([id_col, "year"], keep=False).to_numpy()
    if dup.any():
        shown = pd.unique(table.loc[dup, id_col])[:5].tolist()
        where = " in one year" if years is not None else ""
        raise InputError(
            f"units: {len(pd.unique(table.loc[dup, id_col])):,} unit(s) appear more than once"
            f"{where} ({short(shown, 80)}); give one score per unit (and year)."
        )
    return table
