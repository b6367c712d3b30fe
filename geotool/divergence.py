"""Regional divergence and convergence: Theil, Gini, sigma and beta convergence, clubs.

A panel is one positive variable (income, output per head) of the same units over years,
long or wide as :func:`geotool.dynamics.panel` reads it; units without a value in every
year are left out of the balanced panel, logged and listed in ``attrs["dropped"]`` (unit:
reason). The measures are PySAL's: Theil and its between/within decomposition
(``inequality.theil.TheilD``), Gini and the spatial Gini (``inequality.gini``), the
regressions ``spreg.OLS``, ``ML_Lag`` and ``ML_Error``; ``tests/test_divergence.py`` is
their acceptance test. Every result frame carries ``attrs["finding"]`` (one plain
sentence) and ``attrs["not_shown"]`` (what the measure cannot tell); the sentences state
association, never cause. ``attrs`` hold plain values only (text, numbers, dicts), so
results concatenate (``pd.concat`` compares them).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from geotool import _validate as check
from geotool import settings
from geotool._errors import InputError
from geotool._text import listing, short
from geotool.dynamics import Panel, panel
from geotool.weights import WeightsLike, as_weights

if TYPE_CHECKING:
    from libpysal.weights import W

__all__ = [
    "CLUB_RULES", "REGIONS", "beta_convergence", "china_regions", "clubs", "growth_points",
    "inequality", "sigma_convergence", "spatial_beta_convergence", "theil_by_group",
]  # fmt: skip

#: The report's four regions (NBS), English key to the report's Chinese name.
REGIONS = {
    "east": "东部", "central": "中部", "west": "西部", "northeast": "东北", "none": "港澳台",
}  # fmt: skip
#: How :func:`clubs` forms clubs: quantile classes or LISA classes of the initial level.
CLUB_RULES = ("quantile", "lisa")
_MIN_UNITS = 3


# ---------------------------------------------------------------- input
def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _units(units: Any) -> str:
    return listing([str(u) for u in units], limit=5)


def _positive_panel(
    data: pd.DataFrame | Panel, id_col: str | None, year_col: str | None, value_col: str | None
) -> Panel:
    """The balanced panel, refused unless it has >= 3 units and only positive values."""
    p = data if isinstance(data, Panel) else panel(data, id_col=id_col, year_col=year_col,
                                                   value_col=value_col)  # fmt: skip
    if len(p.wide) < _MIN_UNITS:
        raise InputError(
            f"data: the balanced panel has {len(p.wide)} unit(s); inequality and convergence "
            f"need at least {_MIN_UNITS} units with a value in every year."
        )
    bad = p.wide.index[(p.wide <= 0).any(axis=1).to_numpy()]
    if len(bad):
        raise InputError(
            f"value_col={value_col or p.name!r}: {len(bad)} unit(s) have zero or negative "
            f"values ({_units(bad)}); Theil and logs need positive values: pass a positive "
            "variable (e.g. income per head, not growth)."
        )
    return p


def _dropped(p: Panel) -> dict[Any, str]:
    """The units left out of the balanced panel and why, as a plain dict for ``attrs``."""
    return {unit: str(reason) for unit, reason in p.dropped["reason"].items()}


def _years(p: Panel, start: int | None, end: int | None) -> tuple[int, int]:
    first = p.years[0] if start is None else int(start)
    last = p.years[-1] if end is None else int(end)
    if first not in p.years or last not in p.years or last <= first:
        raise InputError(f"start={start!r}, end={end!r}: give two years of the panel "
                         f"({p.years[0]} to {p.years[-1]}), start before end.")  # fmt: skip
    return first, last


def _cross_section(values: pd.Series, name: str | None) -> Panel:
    """One year's values (a Series named by the year) as a one-year panel."""
    try:
        year = int(str(values.name))
    except (TypeError, ValueError):
        got = short(repr(values.name))
        msg = f"data: name the Series of one year's values by its year (2020), not {got}."
        raise InputError(msg) from None
    if values.index.has_duplicates or not np.isfinite(values.to_numpy(float)).all():
        raise InputError("data: give one finite value per unit (no NaN, no id twice).")
    wide = values.astype(float).to_frame(year)
    return Panel(wide=wide, dropped=pd.DataFrame(columns=["reason"]), name=name or "value")


def _on_units(values: pd.Series, units: pd.Index, name: str) -> pd.Series:
    """``values`` in the order of ``units``; every unit present, none missing."""
    if values.index.has_duplicates:
        raise InputError(f"{name} has duplicated labels; give one value per unit.")
    absent = units.difference(values.index)
    if len(absent):
        raise InputError(f"{name} has no value for {len(absent)} unit(s) of the panel "
                         f"({_units(absent)}); give one for every unit.")  # fmt: skip
    out = values.reindex(units)
    if out.isna().any():
        gaps = _units(units[out.isna().to_numpy()])
        raise InputError(f"{name} is missing (NaN) for units {gaps}; fill them or drop those "
                         "units.")  # fmt: skip
    return out


def _split_groups(
    data: pd.DataFrame, groups: str | pd.Series | None, id_col: str | None
) -> tuple[pd.DataFrame, pd.Series | None]:
    """``data`` without the group column, and the groups as a Series on the unit ids."""
    if groups is None or isinstance(groups, pd.Series):
        return data, groups
    if not isinstance(groups, str) or groups not in data.columns:
        msg = f"groups={groups!r}: pass a column of data or a Series on the units' ids."
        raise InputError(msg)
    ids = data[id_col] if id_col is not None else data.index.to_series()
    pairs = pd.DataFrame({"unit": ids.to_numpy(), "group": data[groups].to_numpy()})
    per_unit = pairs.drop_duplicates().groupby("unit")["group"]
    twice = per_unit.size()
    if (twice > 1).any():
        units = _units(twice.index[twice > 1])
        msg = f"groups={groups!r}: units {units} are in more than one group; keep one each."
        raise InputError(msg)
    return data.drop(columns=groups), per_unit.first()


def _partition(groups: pd.Series, units: pd.Index) -> np.ndarray:
    labels = _on_units(groups, units, "groups").astype(str).to_numpy()
    if len(np.unique(labels)) < 2:
        raise InputError(
            f"groups has one group ({labels[0]!r}) over the panel's units; a between/within "
            "decomposition needs at least two groups (e.g. china_regions(ids))."
        )
    return labels


def _libpysal_w(w: WeightsLike, units: pd.Index, *, binary: bool) -> W:
    """``w`` over ``units`` (their order) as a libpysal ``W`` with ids 0..n-1."""
    from libpysal.weights import WSP

    weights = as_weights(w)
    missing = units.difference(weights.ids)
    if len(missing):
        raise InputError(
            f"w has no row for {len(missing)} unit(s) of the panel ({_units(missing)}); "
            "build w on the panel's units with ids of the same type."
        )
    pos = weights.ids.get_indexer(units)
    matrix = (weights.binary() if binary else weights.sparse)[pos][:, pos].tocsr()
    return WSP(matrix, id_order=list(range(len(units)))).to_W(silence_warnings=True)


@contextlib.contextmanager
def _quiet_spreg() -> Iterator[None]:
    """Mute spreg 1.9's stray print of the model's class name and its pandas warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
        warnings.filterwarnings("ignore", "Method 'bounded' does not support", RuntimeWarning)
        yield


# ---------------------------------------------------------------- regions
def china_regions(ids: pd.Index | pd.Series | list[str], *, lang: str = "zh") -> pd.Series:
    """The report's region (东部, 中部, 西部, 东北) of China's units, by six-digit adcode.

    The region is the province's (``geotool/data/provinces.csv``, the first two digits);
    Hong Kong, Macau and Taiwan are ``港澳台`` (``none`` in English), so no unit is lost.

    >>> china_regions(["320281", "510100"]).tolist()
    ['东部', '西部']
    """
    if lang not in ("zh", "en"):
        raise InputError(f"lang={lang!r}: use 'zh' (东部...) or 'en' (east...).")
    index = pd.Index(ids.index if isinstance(ids, pd.Series) else ids)
    codes = pd.Series(ids.to_numpy() if isinstance(ids, pd.Series) else index, index=index)
    codes = codes.astype(str).str.strip()
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    region = dict(zip(provinces["province_code"].str[:2], provinces["region"], strict=True))
    found = codes.str[:2].map(region)
    bad = ~codes.str.fullmatch(r"\d{6}") | found.isna()
    if bad.any():
        shown = listing([short(c, 20) for c in codes[bad.to_numpy()]], limit=5)
        msg = f"ids: {int(bad.sum())} are not six-digit adcodes of China ({shown}); fix them."
        raise InputError(msg)
    return (found.map(REGIONS) if lang == "zh" else found).rename("region")


# ---------------------------------------------------------------- inequality
def _spatial_gini(y: np.ndarray, w: W, permutations: int, seed: int) -> dict[str, float]:
    """``Gini_Spatial`` with its permutations seeded (it shuffles numpy's global stream).

    The global stream is restored afterwards, so the caller's draws are untouched.
    """
    from inequality.gini import Gini_Spatial

    state = np.random.get_state()  # noqa: NPY002 (Gini_Spatial shuffles the global stream)
    try:
        np.random.seed(seed)  # noqa: NPY002
        gs = Gini_Spatial(y, w, permutations=permutations)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return {"gini_neighbours": float(gs.wg / gs.den), "gini_non_neighbours": float(gs.wcg_share),
            "spatial_gini_p": float(gs.p_sim) if permutations else math.nan,
            "polarization": float(gs.polarization)}  # fmt: skip


def _grouped_panel(
    data: pd.DataFrame | Panel | pd.Series, groups: str | pd.Series | None, id_col: str | None,
    year_col: str | None, value_col: str | None,
) -> tuple[Panel, pd.Series | None]:  # fmt: skip
    """The positive panel of ``data`` (a long or wide frame, a Panel, one year's Series)."""
    if isinstance(data, pd.DataFrame):
        data, groups = _split_groups(data, groups, id_col)
    elif isinstance(groups, str):
        raise InputError(f"groups={groups!r}: with a Panel or Series, pass the groups as a Series.")
    if isinstance(data, pd.Series):
        data = _cross_section(data, value_col)
    return _positive_panel(data, id_col, year_col, value_col), groups


def inequality(
    data: pd.DataFrame | Panel | pd.Series, groups: str | pd.Series | None = None, *,
    id_col: str | None = None, year_col: str | None = None, value_col: str | None = None,
    w: WeightsLike | None = None, permutations: int | None = None, seed: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Inequality across units, year by year, with its geography.

    ``data``: long (``id_col``, ``year_col``, ``value_col`` as
    :func:`geotool.dynamics.panel`) or wide, or one year's values named by the year.
    ``groups`` (a column or a Series on the ids, e.g. :func:`china_regions`) adds the
    Theil decomposition; ``w`` the spatial Gini (binary weights; ``permutations``,
    ``seed`` of its p-value, defaults from :mod:`geotool.settings`). On ``year``:
    ``n_units, mean, theil`` (``theil_between, theil_within, between_share`` with groups),
    ``gini``, ``cv`` (population std over mean), ``max_min_ratio`` and, with ``w``,
    ``gini_neighbours, gini_non_neighbours`` (summing to ``gini``), ``spatial_gini_p,
    polarization``.
    """
    from inequality.gini import Gini
    from inequality.theil import Theil, TheilD

    p, groups = _grouped_panel(data, groups, id_col, year_col, value_col)
    y = p.wide.to_numpy()
    out = pd.DataFrame(index=pd.Index(p.years, name="year"))
    out["n_units"] = len(y)
    out["mean"] = y.mean(axis=0)
    if groups is None:
        out["theil"] = Theil(y).T
    else:
        td = TheilD(y, _partition(groups, p.wide.index))
        out["theil"], out["theil_between"], out["theil_within"] = td.T, td.bg, td.wg
        out["between_share"] = td.bg / td.T
    out["gini"] = [float(Gini(y[:, j]).g) for j in range(y.shape[1])]
    out["cv"] = y.std(axis=0) / y.mean(axis=0)
    out["max_min_ratio"] = y.max(axis=0) / y.min(axis=0)
    if w is not None:
        lw = _libpysal_w(w, p.wide.index, binary=True)
        perms = settings.permutations if permutations is None else permutations
        perms = check.permutations(perms, n_units=len(y))
        s = check.seed(settings.seed if seed is None else seed)
        rows = [_spatial_gini(y[:, j], lw, perms, s) for j in range(y.shape[1])]
        out = out.join(pd.DataFrame(rows, index=out.index))
    out.attrs.update(_inequality_words(out, p), dropped=_dropped(p))
    return out


def _inequality_words(out: pd.DataFrame, p: Panel) -> dict[str, str]:
    first, last = out.iloc[0], out.iloc[-1]
    y0, y1 = out.index[0], out.index[-1]
    trend = "fell" if last["theil"] < first["theil"] else "rose"
    finding = (
        f"Theil of {p.name} across {len(p.wide)} units is {last['theil']:.4f}, "
        f"Gini {last['gini']:.3f}" if len(out) == 1 else
        f"Theil of {p.name} across {len(p.wide)} units {trend} from {first['theil']:.4f} "
        f"({y0}) to {last['theil']:.4f} ({y1}); Gini {first['gini']:.3f} to {last['gini']:.3f}"
    )  # fmt: skip
    if "between_share" in out:
        b0, b1 = first["between_share"], last["between_share"]
        shares = f"{b0:.0%} of Theil in {y0} and {b1:.0%} in {y1}" if len(out) > 1 else (
            f"{b1:.0%} of Theil")  # fmt: skip
        finding += f"; the between-group part was {shares}"
    return {
        "finding": finding + ".",
        "not_shown": "Each unit counts once, whatever its population; the measures describe "
        "the spread of unit averages, not inequality among people within units, nor why.",
    }


def theil_by_group(
    data: pd.DataFrame | Panel | pd.Series, groups: str | pd.Series, *, id_col: str | None = None,
    year_col: str | None = None, value_col: str | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Each group's part of the within-group Theil, year by year.

    ``T = sum_g s_g ln(s_g n / n_g) + sum_g s_g T_g`` with ``s_g`` the group's share of
    the total value and ``T_g`` the Theil among its units (``inequality.theil.Theil``);
    the ``contribution`` ``s_g T_g`` of the groups sums to :func:`inequality`'s
    ``theil_within``. On (``year``, ``group``): ``n_units, unit_share, value_share,
    theil_within_g, contribution, share_of_within``; ``attrs``: ``dropped``.
    """
    from inequality.theil import Theil

    if groups is None:
        raise InputError(f"groups={groups!r}: pass a column of data or a Series on the units' ids.")
    p, by = _grouped_panel(data, groups, id_col, year_col, value_col)
    assert by is not None
    labels = _partition(by, p.wide.index)
    y = p.wide.to_numpy()
    rows = []
    for j, year in enumerate(p.years):
        total = y[:, j].sum()
        for g in np.unique(labels):
            part = y[labels == g, j]
            share, within = part.sum() / total, float(Theil(part).T)
            rows.append((year, g, len(part), len(part) / len(y), share, within, share * within))
    cols = ["year", "group", "n_units", "unit_share", "value_share", "theil_within_g",
            "contribution"]  # fmt: skip
    out = pd.DataFrame(rows, columns=cols).set_index(["year", "group"])
    sums = out.groupby(level="year")["contribution"].transform("sum")
    out["share_of_within"] = out["contribution"] / sums
    out.attrs["dropped"] = _dropped(p)
    return out


# ---------------------------------------------------------------- sigma
def _carree_klomp_t2(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Carree and Klomp's (1997) T2 of equal variances of ``a`` and ``b`` (same units)."""
    cov = np.cov(a, b, ddof=1)
    s1, s2, s12 = cov[0, 0], cov[1, 1], cov[0, 1]
    denominator = s1 * s2 - s12**2
    if denominator <= 0:  # perfectly correlated: the variances' ratio is exact
        return (0.0, 1.0) if math.isclose(s1, s2) else (math.inf, 0.0)
    t2 = (len(a) - 2.5) * math.log1p(0.25 * (s1 - s2) ** 2 / denominator)
    return float(t2), float(special.chdtrc(1, t2))  # chi2(1).sf without scipy.stats (0.4 s)


def sigma_convergence(
    data: pd.DataFrame | Panel, *, id_col: str | None = None, year_col: str | None = None,
    value_col: str | None = None, start: int | None = None, end: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """σ-convergence: the dispersion of log values by year, and a test of its change.

    The test of ``sigma(start) == sigma(end)`` is Carree and Klomp's (1997) T2 (chi-square,
    1 dof) on the variances and covariance of the log values: the same units are measured
    twice, so a variance-ratio F test (independent samples) would be far too conservative.
    On ``year``: ``n_units, sigma`` (population std of the logs), ``mean_log``, ``cv``;
    ``attrs``: ``test`` (``start, end, sigma_start, sigma_end, t2, p``), ``finding``,
    ``not_shown``, ``dropped``.
    """
    p = _positive_panel(data, id_col, year_col, value_col)
    first, last = _years(p, start, end)
    logs = np.log(p.wide)
    out = pd.DataFrame({"n_units": len(logs), "sigma": logs.std(axis=0, ddof=0),
                        "mean_log": logs.mean(axis=0),
                        "cv": p.wide.std(axis=0, ddof=0) / p.wide.mean(axis=0)})  # fmt: skip
    out.index = pd.Index(p.years, name="year")
    t2, pv = _carree_klomp_t2(logs[first].to_numpy(), logs[last].to_numpy())
    s0, s1 = float(logs[first].std(ddof=0)), float(logs[last].std(ddof=0))
    test = {"start": first, "end": last, "sigma_start": s0, "sigma_end": s1, "t2": t2, "p": pv}
    change = "narrowed" if s1 < s0 else "widened" if s1 > s0 else "did not change"
    finding = (
        f"σ of log {p.name} went from {s0:.4f} ({first}) to {s1:.4f} ({last}): the spread "
        f"{change} (Carree-Klomp T2 = {t2:.2f}, {_p_text(pv)})."
    )
    not_shown = (
        "A narrowing spread says nothing on who grew faster (β-convergence) or why; the "
        "years between start and end may rise and fall (see the yearly sigma)."
    )
    out.attrs.update(test=test, finding=finding, not_shown=not_shown, dropped=_dropped(p))
    return out


# ---------------------------------------------------------------- beta
def _growth(
    data: pd.DataFrame | Panel, id_col: str | None, year_col: str | None,
    value_col: str | None, *, start: int | None, end: int | None,
) -> tuple[Panel, tuple[int, int], np.ndarray, np.ndarray]:  # fmt: skip
    """(panel, (start, end), average annual growth of the log, log initial level)."""
    p = _positive_panel(data, id_col, year_col, value_col)
    first, last = _years(p, start, end)
    initial = np.log(p.wide[first].to_numpy())
    growth = (np.log(p.wide[last].to_numpy()) - initial) / (last - first)
    if np.ptp(growth) == 0 or np.ptp(initial) == 0:
        raise InputError(
            f"value_col={p.name!r}: every unit grew alike (or started alike) over "
            f"{first}-{last}; β-convergence and clubs need growth that differs between units."
        )
    return p, (first, last), growth, initial


def growth_points(
    data: pd.DataFrame | Panel, *, id_col: str | None = None, year_col: str | None = None,
    value_col: str | None = None, start: int | None = None, end: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The points :func:`beta_convergence` fits: each unit's log initial level and growth.

    On the units' ids: ``log_initial`` (``ln y_start``) and ``growth`` (``(ln y_end - ln
    y_start) / T``); ``attrs``: ``start``, ``end``, ``dropped``.
    """
    p, years, growth, initial = _growth(data, id_col, year_col, value_col, start=start, end=end)
    first, last = years
    out = pd.DataFrame({"log_initial": initial, "growth": growth}, index=p.wide.index)
    out.attrs.update(start=first, end=last, dropped=_dropped(p))
    return out


def _controls(controls: pd.DataFrame | None, units: pd.Index) -> tuple[np.ndarray, list[str]]:
    if controls is None:
        return np.empty((len(units), 0)), []
    if not isinstance(controls, pd.DataFrame) or controls.shape[1] == 0:
        raise InputError("controls must be a DataFrame of numeric columns on the units' ids.")
    cols = []
    for name in controls.columns:
        col = controls[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise InputError(f"controls[{short(name, 30)!r}] is not numeric; convert or drop it.")
        cols.append(_on_units(col.astype(float), units, f"controls[{short(name, 30)!r}]"))
    x = np.column_stack(cols)
    if not np.isfinite(x).all():
        raise InputError("controls has infinite values; fix them.")
    return x, [str(c) for c in controls.columns]


def _speed(beta: float, span: int) -> tuple[float, float]:
    """Implied speed ``-ln(1 + beta T) / T`` and half-life ``ln 2 / speed`` (NaN if none)."""
    if beta >= 0 or 1 + beta * span <= 0:
        return math.nan, math.nan
    speed = -math.log1p(beta * span) / span
    return speed, math.log(2) / speed


def _beta_words(row: dict[str, Any], stat: str) -> tuple[str, str]:
    beta, pv, half = row["beta"], row["p"], row["half_life"]
    period = f"{row['start']}-{row['end']}"
    if beta < 0 and pv < 0.05:
        half_text = f"; half-life {half:.0f} years" if math.isfinite(half) else ""
        finding = f"β = {beta:.4f} ({_p_text(pv)}): poorer units grew faster over {period}"
        finding += half_text + "."
    elif beta > 0 and pv < 0.05:
        finding = f"β = {beta:.4f} ({_p_text(pv)}): richer units grew faster over {period}."
    else:
        finding = (f"β = {beta:.4f} ({_p_text(pv)}, {stat}): no clear link between initial "
                   f"level and growth over {period}.")  # fmt: skip
    not_shown = (
        "β describes the average unit: a negative β is compatible with a spread that does "
        "not narrow (see sigma_convergence) and with clubs converging apart; it shows "
        "association over the whole period, not a cause nor the path between its ends."
    )
    return finding, not_shown


def _beta(
    model: str, p: Panel, years: tuple[int, int], reg: Any, terms: list[str], **extra: Any
) -> pd.DataFrame:
    """A spreg β regression as one row on ``model``, its coefficients in ``attrs``."""
    kind = "t" if model in ("absolute", "conditional") else "z"
    table = pd.DataFrame(
        {"coef": np.ravel(reg.betas), "se": np.ravel(reg.std_err),
         kind: [float(s[0]) for s in getattr(reg, f"{kind}_stat")],
         "p": [float(s[1]) for s in getattr(reg, f"{kind}_stat")]},
        index=pd.Index(terms, name="term"),
    )  # fmt: skip
    span = years[1] - years[0]
    coef, se, stat, pv = table.loc["log_initial", ["coef", "se", kind, "p"]].to_numpy(float)
    speed, half = _speed(float(coef), span)
    row: dict[str, Any] = {
        "n_units": len(p.wide), "start": years[0], "end": years[1], "years": span,
        "beta": float(coef), "se": float(se), kind: float(stat), "p": float(pv), **extra,
        "speed": speed, "half_life": half,
    }  # fmt: skip
    row["finding"], row["not_shown"] = _beta_words(row, kind)
    out = pd.DataFrame([row], index=pd.Index([model], name="model"))
    out.attrs.update(
        coefficients=table.to_dict(orient="index"), finding=row["finding"],
        not_shown=row["not_shown"], dropped=_dropped(p),
    )  # fmt: skip
    return out


def beta_convergence(
    data: pd.DataFrame | Panel, controls: pd.DataFrame | None = None, *, id_col: str | None = None,
    year_col: str | None = None, value_col: str | None = None, start: int | None = None,
    end: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """β-convergence: average annual log growth on the log initial level (OLS, spreg).

    Absolute without ``controls``; conditional with them (numeric columns on the units'
    ids, e.g. industry shares). Growth is ``(ln y_end - ln y_start) / T``; the implied
    speed ``λ = -ln(1 + β T) / T`` and the half-life ``ln 2 / λ``. One row (``absolute``
    or ``conditional``): ``n_units, start, end, years, beta, se, t, p, r2, speed,
    half_life, finding, not_shown``; ``attrs``: ``coefficients`` (term: ``coef, se, t,
    p``), ``finding``, ``not_shown``, ``dropped``.
    """
    import spreg

    p, years, growth, initial = _growth(data, id_col, year_col, value_col, start=start, end=end)
    extra, names = _controls(controls, p.wide.index)
    with _quiet_spreg():
        ols = spreg.OLS(growth[:, None], np.column_stack([initial, extra]),
                        name_x=["log_initial", *names])  # fmt: skip
    model = "absolute" if controls is None else "conditional"
    return _beta(model, p, years, ols, ["const", "log_initial", *names], r2=float(ols.r2))


def spatial_beta_convergence(
    data: pd.DataFrame | Panel, w: WeightsLike, controls: pd.DataFrame | None = None, *,
    model: str = "lag", id_col: str | None = None, year_col: str | None = None,
    value_col: str | None = None, start: int | None = None, end: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Spatial β-convergence: :func:`beta_convergence`'s regression, by maximum likelihood.

    ``model="lag"`` (``spreg.ML_Lag``: neighbours' growth enters, ``rho``) or
    ``"error"`` (``spreg.ML_Error``: spatially correlated shocks, ``lambda``); weights
    row-standardised. Same columns as :func:`beta_convergence` with ``z`` for ``t``,
    ``pseudo_r2`` for ``r2``, and ``rho`` or ``lambda``, ``log_likelihood``, ``aic``.
    """
    import spreg

    if model not in ("lag", "error"):
        raise InputError(f"model={model!r}: use 'lag' (spreg.ML_Lag) or 'error' (ML_Error).")
    p, years, growth, initial = _growth(data, id_col, year_col, value_col, start=start, end=end)
    extra, names = _controls(controls, p.wide.index)
    lw = _libpysal_w(w, p.wide.index, binary=False)
    lw.transform = "r"
    fit = spreg.ML_Lag if model == "lag" else spreg.ML_Error
    with _quiet_spreg():
        reg = fit(growth[:, None], np.column_stack([initial, extra]), lw,
                  name_x=["log_initial", *names])  # fmt: skip
    spatial = "rho" if model == "lag" else "lambda"
    return _beta(
        f"spatial_{model}", p, years, reg, ["const", "log_initial", *names, spatial],
        pseudo_r2=float(reg.pr2), **{spatial: float(reg.rho if model == "lag" else reg.lam),
                                     f"{spatial}_p": float(reg.z_stat[-1][1])},
        log_likelihood=float(reg.logll), aic=float(reg.aic),
    )  # fmt: skip


# ---------------------------------------------------------------- clubs
def _club_labels(
    initial: pd.Series, by: str, *, k: int, w: WeightsLike | None, permutations: int | None,
    seed: int | None, alpha: float,
) -> pd.Series:  # fmt: skip
    if by == "quantile":
        import mapclassify

        k = check.classes(k, n_distinct=int(initial.nunique()))
        q = mapclassify.Quantiles(initial.to_numpy(), k=k)
        names = [f"Q{c + 1}" for c in range(k)]
        return pd.Series([names[c] for c in q.yb], index=initial.index, name="club")
    if w is None:
        raise InputError("w: clubs by='lisa' need spatial weights over the units.")
    from geotool.autocorr import local_stats

    lisa = local_stats(initial, w, permutations=permutations, seed=seed, alpha=alpha,
                       gi_star=False)  # fmt: skip
    return lisa["lisa_class"].reindex(initial.index).rename("club")


def clubs(
    data: pd.DataFrame | Panel, *, by: str = "quantile", k: int = 4, w: WeightsLike | None = None,
    id_col: str | None = None, year_col: str | None = None, value_col: str | None = None,
    start: int | None = None, end: int | None = None, permutations: int | None = None,
    seed: int | None = None, alpha: float = 0.05,
) -> pd.DataFrame:  # fmt: skip
    """Convergence clubs: units grouped by their initial level, and each group's path.

    ``by="quantile"``: ``k`` quantile classes of the log initial level (mapclassify,
    ``Q1`` lowest); ``by="lisa"``: its LISA classes under ``w``
    (:func:`geotool.autocorr.local_stats`). On ``club``: ``n_units, log_initial, growth``
    (means), ``sigma_start, sigma_end`` (within the club), ``beta`` (within-club OLS
    slope; NaN below 3 units), ``members``; ``attrs``: ``membership`` (unit: club),
    ``finding``, ``not_shown``, ``dropped``.
    """
    if by not in CLUB_RULES:
        raise InputError(f"by={by!r}: use one of {', '.join(CLUB_RULES)}.")
    p, years, growth, initial = _growth(data, id_col, year_col, value_col, start=start, end=end)
    log0 = pd.Series(initial, index=p.wide.index, name=f"log {p.name} {years[0]}")
    labels = _club_labels(log0, by, k=k, w=w, permutations=permutations, seed=seed,
                          alpha=check.alpha(alpha))  # fmt: skip
    frame = pd.DataFrame({"club": labels, "initial": initial, "growth": growth,
                          "end": np.log(p.wide[years[1]].to_numpy())})  # fmt: skip
    rows = {club: _club_row(part) for club, part in frame.groupby("club", sort=True)}
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("club")
    growth_ = out["growth"]
    finding = (
        f"Of {len(out)} clubs by {by} of the {years[0]} level, {growth_.idxmax()} grew "
        f"fastest ({growth_.max():.2%} a year) and {growth_.idxmin()} slowest "
        f"({growth_.min():.2%}) over {years[0]}-{years[1]}."
    )
    not_shown = (
        "Clubs are drawn from the initial level, not estimated (no Phillips-Sul test): "
        "they show how groups' paths differ, not that each converges to its own steady "
        "state."
    )
    out.attrs.update(finding=finding, not_shown=not_shown, membership=labels.to_dict(),
                     dropped=_dropped(p))  # fmt: skip
    return out


def _club_row(part: pd.DataFrame) -> dict[str, Any]:
    beta = math.nan
    if len(part) >= _MIN_UNITS and np.ptp(part["initial"].to_numpy()) > 0:
        x = np.column_stack([np.ones(len(part)), part["initial"].to_numpy()])
        beta = float(np.linalg.lstsq(x, part["growth"].to_numpy(), rcond=None)[0][1])
    return {
        "n_units": len(part), "log_initial": part["initial"].mean(),
        "growth": part["growth"].mean(), "sigma_start": part["initial"].std(ddof=0),
        "sigma_end": part["end"].std(ddof=0), "beta": beta,
        "members": ", ".join(str(u) for u in part.index),
    }  # fmt: skip
