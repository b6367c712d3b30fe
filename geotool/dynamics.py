"""Panels over time: Moran's I by year, rank mobility, Markov and spatial Markov chains.

A panel is one variable of the same units over years, a **long** table (``id_col``,
``year_col``, ``value_col``) or a **wide** one (years as columns). :func:`panel` checks it
once (year labels by :func:`geotool._validate.year_labels`) and keeps the **balanced
panel**: units without a value in every year, or absent from the weights, are returned in
``dropped`` and logged, never hidden. The chains and rank statistics are giddy's
(``Markov``, ``Spatial_Markov``, ``LISA_Markov``, ``mobility``, ``rank``), tidied;
``tests/test_dynamics.py`` is their acceptance test against giddy. giddy is imported inside
the analyses: with mapclassify and quantecon it costs seconds that runs without a panel
should not pay. Classes are mapclassify quantiles, pooled over years (giddy's
``fixed=True``) or per year; spatial lags use row-standardised weights.

Where geotool departs from giddy: a class no unit started in has NaN probabilities, and
then no steady state and NaN Shorrocks (giddy: 0, then an invented absorbing class); a
chain with several closed classes has no steady state (NaN and a note); chi-square
p-values are ``chi2.sf`` (giddy's ``1 - cdf`` rounds to 0 below 1e-16); the spatial
Markov chi-square has ``m (k - 1)^2`` degrees of freedom (giddy ``k (k - 1)^2``); the
sentences state association, never cause.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from geotool import _validate as check
from geotool import settings
from geotool._errors import InputError
from geotool._log import log
from geotool._perm import folded_pvalue, rng_for
from geotool._text import listing, short
from geotool.autocorr import global_stats, local_stats
from geotool.tiers import yearly_centres
from geotool.weights import Weights, WeightsLike, as_weights

if TYPE_CHECKING:
    from libpysal.weights import W

__all__ = [
    "CLASS_RULES", "QUADRANTS", "Panel", "analyse", "class_centres", "lisa_markov", "markov",
    "mobility_table", "moran_by_year", "panel", "rank_mobility", "report_tables",
    "spatial_markov", "transition_table",
]  # fmt: skip

#: How quantile classes are cut: over all years at once, or year by year.
CLASS_RULES = ("pooled", "yearly")
#: LISA quadrants in giddy's order (its classes 1, 2, 3, 4).
QUADRANTS = ("HH", "LH", "LL", "HL")


@dataclass(frozen=True)
class Panel:
    """A checked, balanced panel of one variable.

    ``wide``: float64, units as rows, years as ascending ``int`` columns, every cell
    finite; ``dropped``: the units set aside, on their ids (``missing_years`` such as
    ``"2019, 2020"``, ``reason``); ``name``: the variable's, for titles and sentences.
    """

    wide: pd.DataFrame
    dropped: pd.DataFrame
    name: str

    @property
    def years(self) -> list[int]:
        """The years, ascending."""
        return [int(y) for y in self.wide.columns]


def _dropped(units: list[Any], missing: list[str], reason: str) -> pd.DataFrame:
    return pd.DataFrame({"missing_years": missing, "reason": [reason] * len(units)},
                        index=pd.Index(units, dtype="object", name="unit"))  # fmt: skip


def _rows(index: pd.Index, where: np.ndarray) -> str:
    return listing([str(i) for i in index[where]], limit=5)


def _numbers(series: pd.Series, name: str) -> pd.Series:
    """Values as float64; empty cells become NaN, text that is not a number is an error."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        out = series.astype("float64")
    else:
        text = series.map(lambda v: v.strip() if isinstance(v, str) else v)
        out = pd.to_numeric(text.replace("", np.nan), errors="coerce").astype("float64")
        bad = (out.isna() & text.notna() & (text != "")).to_numpy()
        if bad.any():
            raise InputError(
                f"{name}: {int(bad.sum()):,} value(s) are not numbers (e.g. "
                f"{short(series[bad].iloc[0], 30)!r} at rows {_rows(series.index, bad)}); "
                "fix or remove them."
            )
    infinite = np.isinf(out.to_numpy())
    if infinite.any():
        raise InputError(f"{name}: {int(infinite.sum()):,} value(s) are infinite at rows "
                         f"{_rows(series.index, infinite)}; fix them.")  # fmt: skip
    return out


def _years_or_error(labels: pd.Series, name: str, what: str) -> pd.Series:
    years, rejected = check.year_labels(labels, name)
    if len(rejected):
        shown = "; ".join(f"{short(label, 20)}: {reason}" for label, reason in
                          zip(rejected.index[:5], rejected["reason"][:5], strict=True))
        more = f" and {len(rejected) - 5:,} more" if len(rejected) > 5 else ""
        raise InputError(
            f"{name}: {len(rejected):,} {what} do not hold a year ({shown}{more}); give "
            f"four-digit years such as 2020, '2020' or '2020年', or remove those {what}."
        )  # fmt: skip
    return years


def panel(
    data: pd.DataFrame, *, id_col: str | None = None, year_col: str | None = None,
    value_col: str | None = None,
) -> Panel:  # fmt: skip
    """Check a long or wide table of one variable over years; keep the balanced panel.

    Long: give ``year_col`` and ``value_col``; wide (years as columns): neither.
    ``id_col`` names the units' ids (default the index). :class:`InputError` for labels
    that are not years, a unit with two values for one year, text that is not a number,
    infinite values, unknown columns, fewer than two years or units.

    >>> long = pd.DataFrame({"id": ["a", "a", "b", "b", "c"],
    ...                      "year": ["2019", "2020年", 2019, 2020.0, 2019],
    ...                      "GDP": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> p = panel(long, id_col="id", year_col="year", value_col="GDP")
    >>> p.wide.to_dict(orient="index")
    {'a': {2019: 1.0, 2020: 2.0}, 'b': {2019: 3.0, 2020: 4.0}}
    >>> p.dropped["missing_years"].tolist()
    ['2020']
    """
    if not isinstance(data, pd.DataFrame):
        msg = f"data must be a pandas DataFrame (long or wide), got {type(data).__name__}."
        raise InputError(msg)
    named = {"id_col": id_col, "year_col": year_col, "value_col": value_col}
    unknown = [f"{k}={v!r}" for k, v in named.items() if v is not None and v not in data.columns]
    if unknown:
        raise InputError(f"{', '.join(unknown)}: not a column of data; the columns are "
                         f"{listing([str(c) for c in data.columns], limit=8)}.")  # fmt: skip
    if (year_col is None) != (value_col is None):
        raise InputError(
            f"year_col={year_col!r}, value_col={value_col!r}: a long table needs both (the "
            "year and the value columns); a wide one (years as columns) neither."
        )
    frame = data.set_index(id_col) if id_col is not None else data
    if year_col is not None and value_col is not None:
        return _balanced(_from_long(frame, year_col, value_col), str(value_col))
    name = str(frame.columns.name) if frame.columns.name is not None else "value"
    return _balanced(_from_wide(frame), name)


def _from_long(frame: pd.DataFrame, year_col: str, value_col: str) -> pd.DataFrame:
    """Units x years from one row per unit and year (the units as ``frame``'s index)."""
    years = _years_or_error(frame[year_col].reset_index(drop=True), year_col, "rows")
    values = _numbers(frame[value_col].reset_index(drop=True), f"value_col={value_col!r}")
    long = pd.DataFrame({"unit": frame.index.to_numpy(), "year": years.to_numpy(), "value": values})
    twice = long.duplicated(["unit", "year"], keep=False)
    if twice.any():
        pairs = long.loc[twice, ["unit", "year"]].drop_duplicates().head(5)
        shown = ", ".join(f"{short(u, 20)} in {y}" for u, y in pairs.itertuples(index=False))
        raise InputError(f"year_col={year_col!r}: {int(twice.sum()):,} rows give a unit two "
                         f"values for one year ({shown}); keep one row per unit and year.")
    return long.pivot(index="unit", columns="year", values="value")  # noqa: PD010


def _from_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Units x years from one column per year, the labels read as years."""
    years = _years_or_error(pd.Series(list(frame.columns)), "data", "columns")
    if years.duplicated().any():
        same = [str(c) for c, d in zip(frame.columns, years.duplicated(keep=False), strict=True)
                if d]  # fmt: skip
        raise InputError(f"data: columns {listing(same, limit=6)} name the same year; keep "
                         "one column per year.")  # fmt: skip
    return pd.DataFrame(
        {int(y): _numbers(frame[c], f"data[{short(c, 20)!r}]") for c, y in
         zip(frame.columns, years, strict=True)},
        index=frame.index,
    )  # fmt: skip


def _balanced(wide: pd.DataFrame, name: str) -> Panel:
    """The units with a value in every year; the others in ``dropped``, logged."""
    if wide.index.has_duplicates:
        dup = listing([str(u) for u in wide.index[wide.index.duplicated()].unique()], limit=5)
        raise InputError(f"data: units {dup} have more than one row; keep one row per unit.")
    wide = wide.reindex(columns=sorted(wide.columns))
    wide.columns = pd.Index([int(c) for c in wide.columns], name="year")
    wide.index.name = "unit"
    missing = wide.isna()
    incomplete = missing.any(axis=1).to_numpy()
    gaps = [", ".join(str(y) for y in wide.columns[row]) for row in missing.to_numpy()[incomplete]]
    dropped = _dropped(list(wide.index[incomplete]), gaps, "no value in some years")
    balanced = wide.loc[~incomplete].astype("float64")
    if len(dropped):
        log(f"Panel of {name}: {len(dropped):,} of {len(wide):,} units lack a value in some "
            f"years and are left out of the balanced panel "
            f"({listing([str(u) for u in dropped.index], limit=5)}).", logging.WARNING)
    steps = np.diff(np.asarray(wide.columns, dtype=int))
    if len(steps) and (steps != steps[0]).any():
        log(f"Panel of {name}: the years {list(map(int, wide.columns))} are not evenly spaced; "
            "transitions are counted between consecutive observed years, whatever the gap.",
            logging.WARNING)  # fmt: skip
    if balanced.shape[1] < 2 or len(balanced) < 2:
        raise InputError(
            f"The balanced panel of {short(name, 40)} has {len(balanced):,} unit(s) and "
            f"{balanced.shape[1]} year(s) ({len(dropped):,} units dropped for missing years); "
            "change over time needs at least two units with values in at least two years."
        )
    return Panel(wide=balanced, dropped=dropped, name=name)


def _as_panel(data: Panel | pd.DataFrame) -> Panel:
    return data if isinstance(data, Panel) else panel(data)


def _set_aside(dropped: pd.DataFrame, units: list[Any], reason: str, note: str) -> pd.DataFrame:
    """``dropped`` with ``units`` added for ``reason``, logged as ``note`` (if any units)."""
    if not units:
        return dropped
    log(note, logging.WARNING)
    return pd.concat([dropped, _dropped(units, [""] * len(units), reason)])


def _restricted(weights: Weights, keep: np.ndarray) -> Weights:
    pos = np.flatnonzero(keep)
    sub = weights.sparse[pos][:, pos].tocsr()
    return Weights(sparse=sub, spec=weights.spec, ids=weights.ids[pos], report={})


def _aligned(p: Panel, w: WeightsLike) -> tuple[np.ndarray, Weights, pd.DataFrame]:
    """``(values (n, t) in the weights' order, weights over those units, dropped units)``.

    Panel units absent from the weights, and units left without a neighbour among the
    panel's (no lag, so no spatial class), are dropped and reported.
    """
    weights = as_weights(w)
    units = p.wide.index
    absent = units.difference(weights.ids, sort=False)
    dropped = _set_aside(
        p.dropped, list(absent), "not in w",
        f"Panel of {p.name}: {len(absent):,} units are not in the weights and are left "
        f"out ({listing([str(u) for u in absent], limit=5)}).",
    )  # fmt: skip
    keep = weights.ids.isin(units)
    if not keep.all():
        weights = _restricted(weights, keep)
    lonely = np.diff(weights.sparse.indptr) == 0
    gone = [str(u) for u in weights.ids[lonely]]
    dropped = _set_aside(
        dropped, gone, "no neighbour in w",
        f"Panel of {p.name}: {len(gone):,} units have no neighbour among its units and "
        f"are left out of the panel analyses ({listing(gone, limit=5)}); weights built with "
        "islands='nearest' join each to its nearest unit.",
    )  # fmt: skip
    if lonely.any():
        weights = _restricted(weights, ~lonely)
    if len(weights.ids) < 4:
        raise InputError(
            f"w: only {len(weights.ids)} units in common with the panel (panel ids such as "
            f"{listing(units[:3].tolist())}, weights ids such as "
            f"{listing(as_weights(w).ids[:3].tolist())}); need at least 4: build w on the "
            "panel's units, with ids of the same type (text adcodes, not numbers)."
        )
    return p.wide.reindex(weights.ids).to_numpy(dtype=float), weights, dropped


def _check_k(k: object, name: str) -> int:
    return check.classes(k, n_distinct=10**9, name=name)


def _check_rule(classes: object) -> str:
    if classes not in CLASS_RULES:
        msg = f"classes={short(classes, 30)!r}: use 'pooled' (one set of cut-offs) or 'yearly'."
        raise InputError(msg)
    return str(classes)


def _quantile_classes(
    y: np.ndarray, k: int, rule: str, name: str, years: list[int]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Class ids 0..k-1 of ``y`` (n, t) and the cut-offs: mapclassify's ``Quantiles``, as giddy.

    Ties that leave fewer than ``k`` distinct cut-offs are refused: mapclassify would
    warn and cut fewer classes, and the chains would not have the ``k`` asked for.
    """
    import mapclassify

    pooled = rule == "pooled"
    blocks = [y.ravel()] if pooled else [y[:, j] for j in range(y.shape[1])]
    labels: list[object] = ["pooled"] if pooled else list(years)
    ids, rows = [], []
    for block, label in zip(blocks, labels, strict=True):
        with warnings.catch_warnings():
            # "Not enough unique values in array to form k classes": refused just below
            warnings.filterwarnings("ignore", "Not enough unique values", UserWarning)
            q = mapclassify.Quantiles(block, k=k)
        cuts = np.asarray(q.bins, dtype=float)
        if len(cuts) < k:
            where = "over all years" if pooled else f"in {label}"
            raise InputError(
                f"{name}={k}: the values {where} have only {len(cuts)} distinct quantile "
                f"cut-offs (many equal values), too few for {k} classes; use {name}="
                f"{len(cuts)} or fewer, or a variable with fewer ties."
            )
        ids.append(np.asarray(q.yb, dtype=np.int64))
        lower = np.concatenate([[block.min()], cuts[:-1]])
        rows += [{"year": label, "class": c + 1, "lower": lower[c], "upper": cuts[c]}
                 for c in range(k)]  # fmt: skip
    return (ids[0].reshape(y.shape) if pooled else np.column_stack(ids)), pd.DataFrame(rows)


def _libpysal_w(matrix: sp.csr_matrix) -> W:
    """``matrix`` as a libpysal ``W`` with ids 0..n-1 (giddy indexes the values by id)."""
    from libpysal.weights import W

    cut = matrix.indptr[1:-1]
    neighbours = dict(enumerate(a.tolist() for a in np.split(matrix.indices, cut)))
    values = dict(enumerate(a.tolist() for a in np.split(matrix.data, cut)))
    return W(neighbours, values, id_order=list(range(matrix.shape[0])), silence_warnings=True)


#: What each chain's test tests (the ``meaning`` of its row): the test, H0, why its dof and p.
TEST_MEANINGS: dict[tuple[str, str], str] = {
    ("spatial_markov", "Q"): (
        "Bickenbach-Bode Q (Pearson chi-square). H0: the transition probabilities are the "
        "same whatever the neighbours' class. dof = sum over rows of (lag classes that start "
        "in the row - 1) x (moves seen in the pooled row - 1): rows no unit starts in and "
        "moves never seen do not count. Read this p."
    ),
    ("spatial_markov", "LR"): (
        "Likelihood ratio test of Q's H0 (same dof as Q); a check on Q: far apart, the "
        "chi-square approximation is poor (few moves per row)."
    ),
    ("spatial_markov", "chi2"): (
        "giddy's x2: each lag class's chi-square against the pooled chain, summed - the same "
        "statistic as Q - with dof m (k - 1)^2 counting every cell, seen or not. Where the "
        "chains leave cells empty (units move one class at most) that dof is too large and p "
        "too large (up to 1.0): shown for comparison with giddy; read Q's p."
    ),
    ("lisa_markov", "chi2"): (
        "Pearson chi-square (Rey, Murray and Anselin 2011). H0: a unit's move between LISA "
        "quadrants is what its own high/low chain and its neighbours' high/low chain give "
        "when the two are independent. dof = (quadrants started from - 1) x (quadrants "
        "expected - 1)."
    ),
}


def _chi2_p(value: float, dof: int) -> float:
    """Upper tail of chi-square (``sf``: exact where giddy's ``1 - cdf`` rounds to 0)."""
    return float(special.chdtrc(dof, value)) if dof > 0 else float("nan")


def _steady_state(p: np.ndarray) -> tuple[np.ndarray, str]:
    """The steady state (giddy's) when there is exactly one; else NaNs and why."""
    from giddy.ergodic import steady_state

    nan = np.full(len(p), np.nan)
    if np.isnan(p).any():
        return nan, "some classes have no observed moves out"
    found = np.atleast_2d(steady_state(p))  # one row per closed (recurrent) class
    if len(found) != 1:
        return nan, f"{len(found)} closed classes: the long-run shares depend on the start"
    return np.asarray(found[0], dtype=float), ""


def _matrix(values: np.ndarray, labels: list[Any]) -> pd.DataFrame:
    """A transition table: ``from`` classes as rows, ``to`` classes as columns."""
    index, columns = pd.Index(labels, name="from"), pd.Index(labels, name="to")
    return pd.DataFrame(values, index=index, columns=columns)


def _tables(counts: np.ndarray, p: np.ndarray, labels: list[Any]) -> dict[str, Any]:
    """Counts, probabilities (NaN rows where no unit started), steady state, Shorrocks."""
    from giddy.mobility import markov_mobility

    probs = np.where(counts.sum(axis=-1, keepdims=True) > 0, p, np.nan)
    steady, note = _steady_state(probs)
    return {
        "counts": _matrix(counts, labels),
        "probabilities": _matrix(probs, labels),
        "steady_state": pd.Series(steady, index=pd.Index(labels, name="class"), name="share"),
        "steady_state_note": note,
        "shorrocks": float(markov_mobility(probs, measure="P")),  # NaN with a NaN row
    }


def moran_by_year(
    data: Panel | pd.DataFrame, w: WeightsLike, *, permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Global Moran's I of each year over the same units (comparable across years).

    ``data``: a :class:`Panel` or a wide frame (units x years); ``w``: weights over (at
    least) its units; ``permutations``, ``seed`` as :func:`geotool.autocorr.global_stats`
    (the same relabellings every year). One row per year: ``year, moran_i, expected,
    z_rand, p_rand`` (two-sided), ``p_sim`` (folded), ``n, permutations, seed, weights``.
    """
    p = _as_panel(data)
    y, weights, _ = _aligned(p, w)
    columns = ["expected", "z_rand", "p_rand", "p_sim", "n", "permutations", "seed", "weights"]
    rows = []
    for j, year in enumerate(p.years):
        values = pd.Series(y[:, j], index=weights.ids, name=f"{p.name} {year}")
        g = global_stats(values, weights, permutations=permutations, seed=seed)
        moran = g.set_index("statistic").loc["moran_i"]
        rows.append({"year": year, "moran_i": moran["value"]} | moran[columns].to_dict())
    return pd.DataFrame(rows)


def class_centres(
    data: Panel | pd.DataFrame, pos: pd.DataFrame, *, k: int = 5, classes: str = "pooled"
) -> pd.DataFrame:
    """Mean centre of each quantile class per year and its shift from the year before.

    :func:`geotool.tiers.yearly_centres` on the quantile classes (1 = lowest), with
    ``pos`` from :func:`geotool.tiers.unit_positions`; ``k`` and ``classes`` as
    :func:`markov`. Returns ``class, year, n, mean_lon, mean_lat, shift_km,
    shift_bearing_deg``.
    """
    p = _as_panel(data)
    ids, _ = _quantile_classes(p.wide.to_numpy(), _check_k(k, "k"), _check_rule(classes), "k",
                               p.years)  # fmt: skip
    table = pd.DataFrame({"unit": np.repeat(p.wide.index.to_numpy(), len(p.years)),
                          "year": np.tile(p.years, len(p.wide)), "tier": ids.ravel() + 1})
    out = yearly_centres(table, pos, year_col="year", id_col="unit")
    return out.rename(columns={"tier": "class"})


def _spatial_tau_row(
    st: Any, x0: np.ndarray, x1: np.ndarray, links: sp.coo_matrix, sims: Any
) -> dict[str, Any]:
    """The columns of ``SpatialTau`` ``st``, with tau-b over the pairs not in ``links``.

    That tau is giddy's counts over all pairs minus the neighbours' (``extraX``,
    ``extraY``: pairs untied in one year only); ``p_sim`` comes from ``sims``.
    """
    a, b = links.row, links.col
    both = st.concordant + st.discordant
    untied_x = both + st.extraX - np.count_nonzero(x0[a] != x0[b])
    untied_y = both + st.extraY - np.count_nonzero(x1[a] != x1[b])
    net = (st.concordant - st.concordant_spatial) - (st.discordant - st.discordant_spatial)
    others = float(net / math.sqrt(untied_x * untied_y)) if untied_x * untied_y > 0 else math.nan
    tau_near = float(st.tau_spatial)
    p_sim = math.nan
    if sims is not None and math.isfinite(tau_near):
        p_sim = float(folded_pvalue(np.array([tau_near]), sims[None, :])[0])
    return {"pairs_neighbours": int(st.pairs_spatial),
            "concordant_neighbours": int(st.concordant_spatial),
            "discordant_neighbours": int(st.discordant_spatial), "tau_neighbours": tau_near,
            "tau_others": others, "p_sim_neighbours": p_sim}  # fmt: skip


def rank_mobility(
    data: Panel | pd.DataFrame, w: WeightsLike | None = None, *, span: str = "both",
    permutations: int | None = None, seed: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Kendall's tau-b between years (giddy's ``Tau``) and, with weights, its spatial split.

    A tau near 1 means little rank mobility. ``span``: ``consecutive`` years,
    ``first_last``, or ``both`` (first-last added past two years). With ``w``, pairs of
    units split into neighbours (giddy's ``SpatialTau`` on symmetrised binary links) and
    others (Rey 2004): ``tau_neighbours`` below ``tau_others`` means local exchanges.
    ``p_sim_neighbours`` relocates values with geotool's seeded engine: giddy's loop takes
    0.69 s CPU per pair of years on the 345 prefectures (0.03 s here for five) and draws
    from numpy's global generator. Columns: ``year_from, year_to, n, tau, p_norm``
    (scipy's ``kendalltau``), ``concordant, discordant`` and, with ``w``,
    ``pairs_/concordant_/discordant_/tau_neighbours, tau_others, p_sim_neighbours``.
    """
    from giddy.rank import SpatialTau, Tau
    from scipy.stats import kendalltau  # here: a run without a panel need not import it (0.4 s)

    if span not in ("both", "consecutive", "first_last"):
        raise InputError(f"span={short(span, 30)}: use 'both', 'consecutive' or 'first_last'.")
    p = _as_panel(data)
    y = p.wide.to_numpy(dtype=float)
    last = len(p.years) - 1
    pairs = [(j, j + 1) for j in range(last)] if span != "first_last" else []
    if span == "first_last" or (span == "both" and last > 1):
        pairs.append((0, last))
    if w is not None:
        y, near, upper, sims = _neighbour_pairs(p, w, pairs, permutations, seed)
    rows = []
    for r, (j0, j1) in enumerate(pairs):
        x0, x1 = y[:, j0], y[:, j1]
        with np.errstate(divide="ignore", invalid="ignore"):  # a flat year: giddy's 0 / 0
            st = Tau(x0, x1) if w is None else SpatialTau(x0, x1, near)
        row: dict[str, Any] = {
            "year_from": p.years[j0], "year_to": p.years[j1], "n": len(x0),
            "tau": float(st.tau), "p_norm": float(kendalltau(x0, x1).pvalue),
            "concordant": int(st.concordant), "discordant": int(st.discordant),
        }  # fmt: skip
        if w is not None:
            row |= _spatial_tau_row(st, x0, x1, upper, None if sims is None else sims[r])
        rows.append(row)
    return pd.DataFrame(rows)


def _neighbour_pairs(
    p: Panel, w: WeightsLike, pairs: list[tuple[int, int]], permutations: Any, seed: Any
) -> tuple[np.ndarray, W, sp.coo_matrix, np.ndarray | None]:
    """Values in ``w``'s order, its symmetrised links (a ``W``, the upper triangle) and sims."""
    y, weights, _ = _aligned(p, w)
    b = weights.binary()
    links = ((b + b.T) > 0).astype(float).tocsr()
    upper = sp.triu(links, k=1).tocoo()
    perms = settings.permutations if permutations is None else permutations
    perms = check.permutations(perms, n_units=len(y))
    rng = rng_for(check.seed(settings.seed if seed is None else seed), "spatial_tau")
    sims = _spatial_tau_sims(y, pairs, upper, perms, rng) if perms else None
    return y, _libpysal_w(links), upper, sims


def _spatial_tau_sims(
    y: np.ndarray, pairs: list[tuple[int, int]], links: sp.coo_matrix, permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Tau over the neighbouring pairs ``links`` after random relocations, ``(pairs, P)``.

    Whether a relocated pair is concordant depends only on the two units moved there,
    so each pair of years is an ``(n, n)`` table of concordance and each relocation a
    gather from it.
    """
    n, a = len(y), links.row
    perm = rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int64), (permutations, n)), axis=1)
    where = perm[:, a] * n + perm[:, links.col]  # (P, pairs): flat positions in an (n, n) table
    del perm

    def order(j: int) -> np.ndarray:
        return np.sign(y[:, j][:, None] - y[:, j][None, :]).astype(np.int8).ravel()

    def untied(j: int, sign: np.ndarray) -> np.ndarray:
        if len(np.unique(y[:, j])) == n:  # no ties: every pair is ordered
            return np.full(permutations, float(len(a)))
        return np.count_nonzero(sign[where], axis=1).astype(float)

    sims = np.empty((len(pairs), permutations))
    with np.errstate(divide="ignore", invalid="ignore"):
        for r, (j0, j1) in enumerate(pairs):
            s0, s1 = order(j0), order(j1)
            net = (s0 * s1)[where].sum(axis=1, dtype=np.int64)
            sims[r] = net / np.sqrt(untied(j0, s0) * untied(j1, s1))
    return sims


def markov(data: Panel | pd.DataFrame, *, k: int = 5, classes: str = "pooled") -> dict[str, Any]:
    """Quantile-class Markov chain: giddy's ``Markov``, steady state and Shorrocks' index.

    ``k`` quantile classes, cut over all years (``pooled``) or per year (``yearly``:
    relative positions). Returns ``counts`` and ``probabilities`` (``from`` x ``to``; NaN
    rows where no unit started), ``steady_state`` (NaN when not unique;
    ``steady_state_note`` says why), ``shorrocks`` (0: nobody moves), ``classes`` (units
    x years, 1..k), ``cutoffs``, ``k``, ``rule``, ``moves``, ``dropped``, ``sentence``.

    >>> wide = pd.DataFrame({"2018": [1.0, 2.0, 3.0, 4.0], "2019年": [2.0, 1.0, 3.0, 4.0]})
    >>> markov(wide, k=2)["counts"].to_numpy().tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    from giddy.markov import Markov

    p = _as_panel(data)
    k, rule = _check_k(k, "k"), _check_rule(classes)
    ids, cutoffs = _quantile_classes(p.wide.to_numpy(), k, rule, "k", p.years)
    chain = Markov(ids, classes=np.arange(k), summary=False)
    out = _tables(chain.transitions, chain.p, list(range(1, k + 1)))
    moves = int(chain.transitions.sum())
    stay = float(np.trace(chain.transitions)) / moves
    return out | {
        "classes": pd.DataFrame(ids + 1, index=p.wide.index, columns=p.wide.columns),
        "cutoffs": cutoffs, "k": k, "rule": rule, "moves": moves, "dropped": p.dropped,
        "sentence": (
            f"Of {moves:,} year-to-year transitions of {p.name} between {k} quantile "
            f"classes ({rule} cut-offs), {stay:.0%} stayed in their class (Shorrocks "
            f"mobility index {out['shorrocks']:.2f}; 0 = no mobility)."
        ),
    }  # fmt: skip


def _verdict(p_value: float, alpha: float, found: str, not_found: str) -> str:
    if not math.isfinite(p_value):
        return "not tested (no degrees of freedom: too few classes were visited)"
    return found if p_value <= alpha else not_found


def _test(chain: str, statistic: str, value: float, dof: int) -> dict[str, Any]:
    """A test's row: the statistic, its dof and p, and what it means (:data:`TEST_MEANINGS`)."""
    return {"statistic": statistic, "value": value, "dof": dof, "p": _chi2_p(value, dof),
            "meaning": TEST_MEANINGS[chain, statistic]}  # fmt: skip


def spatial_markov(
    data: Panel | pd.DataFrame, w: WeightsLike, *, k: int = 5, m: int | None = None,
    classes: str = "pooled", alpha: float = 0.05,
) -> dict[str, Any]:  # fmt: skip
    """Spatial Markov chain (Rey 2001): transitions conditional on the neighbours' class.

    giddy's ``Spatial_Markov``: a unit's move is counted in the matrix of its lag's class
    (``m`` quantile classes of the lags, default ``k``); Bickenbach and Bode's Q and LR and
    giddy's chi-square test whether the ``m`` matrices equal the pooled one; ``alpha`` is
    the sentence's level. Returns ``counts``, ``probabilities`` (indexed by
    ``(lag_class, from)``, a column per ``to``), ``pooled`` (:func:`markov`'s tables),
    ``tests`` (``Q, LR, chi2``: ``statistic, value, dof, p``), ``chi2_by_lag``,
    ``steady_state`` (lag class x class), ``classes``, ``lag_classes``, ``cutoffs``,
    ``lag_cutoffs``, ``k``, ``m``, ``rule``, ``alpha``, ``dropped`` and ``sentence``.
    """
    from giddy.markov import Spatial_Markov

    alpha = check.alpha(alpha)
    p = _as_panel(data)
    k = _check_k(k, "k")
    m = k if m is None else _check_k(m, "m")
    rule = _check_rule(classes)
    y, weights, dropped = _aligned(p, w)
    wr = _libpysal_w(weights.row_standardised())
    _, cutoffs = _quantile_classes(y, k, rule, "k", p.years)
    # the lags giddy classifies (W.sparse sorts each row: sums may differ in the last bit)
    _, lag_cutoffs = _quantile_classes(wr.sparse @ y, m, rule, "m", p.years)
    sm = Spatial_Markov(y, wr, k=k, m=m, fixed=rule == "pooled")
    probs = np.where(sm.T.sum(axis=-1, keepdims=True) > 0, sm.P, np.nan)
    labels = list(range(1, k + 1))
    index = pd.MultiIndex.from_product([range(1, m + 1), labels], names=["lag_class", "from"])
    columns = pd.Index(labels, name="to")
    tests = pd.DataFrame([
        _test("spatial_markov", "Q", float(sm.Q), int(sm.dof_hom)),
        _test("spatial_markov", "LR", float(sm.LR), int(sm.dof_hom)),
        _test("spatial_markov", "chi2", float(sm.x2), m * (k - 1) ** 2),  # giddy: k (k - 1)^2
    ])  # fmt: skip
    by_lag = pd.DataFrame([{"lag_class": r + 1, "chi2": float(x2), "dof": int(d),
                            "p": _chi2_p(x2, int(d))} for r, (x2, _, d) in enumerate(sm.chi2)])
    years = p.wide.columns
    steady = np.vstack([_steady_state(probs[r])[0] for r in range(m)])
    return {
        "counts": pd.DataFrame(sm.T.reshape(m * k, k), index=index, columns=columns),
        "probabilities": pd.DataFrame(probs.reshape(m * k, k), index=index, columns=columns),
        "pooled": _tables(sm.transitions, sm.p, labels),
        "tests": tests,
        "chi2_by_lag": by_lag,
        "steady_state": pd.DataFrame(steady, index=pd.Index(range(1, m + 1), name="lag_class"),
                                     columns=pd.Index(labels, name="class")),
        "classes": pd.DataFrame(sm.class_ids + 1, index=weights.ids, columns=years),
        "lag_classes": pd.DataFrame(sm.lclass_ids + 1, index=weights.ids, columns=years),
        "cutoffs": cutoffs, "lag_cutoffs": lag_cutoffs, "k": k, "m": m, "rule": rule,
        "alpha": alpha, "dropped": dropped,
        "sentence": _spatial_sentence(p, k, len(y), tests.iloc[0], alpha),
    }  # fmt: skip


def _spatial_sentence(p: Panel, k: int, n: int, q: pd.Series, alpha: float) -> str:
    """What the Q test says about moves and neighbours: association, never cause."""
    found = math.isfinite(q["p"]) and q["p"] <= alpha
    verdict = _verdict(
        q["p"], alpha,
        "is associated with its neighbours' class: the transition probabilities differ "
        "between neighbourhoods",
        "shows no detectable dependence on its neighbours' class: the transition "
        "probabilities are consistent with being the same in every neighbourhood",
    )  # fmt: skip
    return (
        f"A unit's move up or down the {k} quantile classes of {p.name} {verdict} "
        f"(Q = {q['value']:.1f}, dof {int(q['dof'])}, p = {q['p']:.3g}, α = {alpha:g}; "
        f"{n:,} units, {p.years[0]}-{p.years[-1]}). "
        + ("This is an association between a unit's moves and its surroundings, not "
           "evidence that neighbours cause them." if found
           else "It does not show that neighbours are irrelevant, only that these data "
           "cannot tell their influence from chance.")
    )  # fmt: skip


def lisa_markov(
    data: Panel | pd.DataFrame, w: WeightsLike, *, alpha: float = 0.05, permutations: int = 0,
    seed: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Transitions between LISA quadrants, and whether a unit's move follows its neighbours'.

    giddy's ``LISA_Markov`` (esda's quadrants, every unit counted). The test compares the
    moves with those expected were a unit's own high/low chain and its neighbours'
    independent (Rey, Murray and Anselin 2011): giddy's ``chi_2`` builds those chains on
    the transposed panel, so here they are giddy's ``Markov`` on the panel as it is. With
    ``permutations`` (seeded), yearly local Moran marks significant unit-years. Returns
    ``counts``, ``probabilities``, ``expected`` (over :data:`QUADRANTS`), ``steady_state``
    (and ``_note``), ``tests``, ``quadrants``, ``moves`` (``unit, year_from, year_to, from,
    to``, ``significant_from/_to``), ``significant``, ``significant_counts`` (with
    permutations), ``alpha``, ``permutations``, ``dropped``, ``sentence``.
    """
    alpha = check.alpha(alpha)
    p = _as_panel(data)
    y, weights, dropped = _aligned(p, w)
    permutations = check.permutations(permutations, n_units=len(y))
    flat = [str(year) for year, s in zip(p.years, y.std(axis=0), strict=True) if s == 0]
    if flat:
        msg = f"{p.name} is the same for every unit in {', '.join(flat)}; no LISA quadrants."
        raise InputError(msg)
    counts, probabilities, quadrants = _lisa_chain(y, weights)
    labels = list(QUADRANTS)
    tables = _tables(counts, probabilities, labels)
    expected, test = _lisa_test(y, weights, counts)
    names = np.array(labels)[quadrants - 1]  # giddy's quadrants 1..4, as QUADRANTS
    n, t = names.shape
    moves = pd.DataFrame({
        "unit": np.repeat(weights.ids.to_numpy(), t - 1), "year_from": np.tile(p.years[:-1], n),
        "year_to": np.tile(p.years[1:], n), "from": names[:, :-1].ravel(),
        "to": names[:, 1:].ravel(),
    })  # fmt: skip
    extra = _significance(p, y, weights, quadrants - 1, moves, permutations=permutations,
                          seed=seed, alpha=alpha)  # fmt: skip
    verdict = _verdict(test["p"], alpha, "is associated with its neighbours' move",
                       "shows no detectable association with its neighbours' move")
    sentence = (
        f"A unit's move between LISA quadrants (HH, LH, LL, HL) of {p.name} {verdict} "
        f"(chi2 = {test['value']:.1f}, dof {test['dof']}, p = {test['p']:.3g}, α = "
        f"{alpha:g}; {len(y):,} units, {p.years[0]}-{p.years[-1]}); an association, not "
        "a cause."
    )
    return {
        "sentence": sentence, "alpha": alpha, "dropped": dropped,
        "counts": tables["counts"], "probabilities": tables["probabilities"],
        "expected": _matrix(expected, labels),
        "steady_state": tables["steady_state"].rename_axis("quadrant"),
        "steady_state_note": tables["steady_state_note"],
        "tests": pd.DataFrame([test]),
        "quadrants": pd.DataFrame(names, index=weights.ids, columns=p.wide.columns),
        "moves": moves, "permutations": int(permutations), **extra,
    }  # fmt: skip


def _lisa_test(
    y: np.ndarray, weights: Weights, counts: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected quadrant transitions if own and neighbours' moves were independent; chi2."""
    from giddy.markov import Markov, chi2

    mean, two = y.mean(axis=0), np.array([False, True])
    own = Markov(y < mean, classes=two, summary=False).p
    nbr = Markov(weights.row_standardised() @ y < mean, classes=two, summary=False).p
    order = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]])
    expected = counts.sum(axis=1)[:, None] * (order @ np.kron(own, nbr) @ order.T)
    value, _, dof = chi2(counts, expected)
    return expected, _test("lisa_markov", "chi2", float(value), int(dof))


def _lisa_chain(y: np.ndarray, weights: Weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LISA quadrant transitions, probabilities and quadrants (units x years, 1..4).

    giddy's ``LISA_Markov``; where it fails (a short panel that does not visit both
    states of its two-state chains), the same quadrants and giddy's ``Markov`` on them.
    """
    from giddy.markov import LISA_Markov, Markov

    try:  # giddy's own chi_2 (not used) divides by each unit's mean
        with np.errstate(divide="ignore", invalid="ignore"):
            lm = LISA_Markov(y, _libpysal_w(weights.sparse))
        return lm.transitions, lm.p, lm.q
    except ValueError:
        z = y - y.mean(axis=0)
        high, lag_high = z > 0, weights.row_standardised() @ z > 0
        q = np.select([high & lag_high, ~high & lag_high, ~high & ~lag_high], [1, 2, 3], 4)
        chain = Markov(q, classes=np.arange(1, 5), summary=False)
        return chain.transitions, chain.p, q


def _significance(
    p: Panel, y: np.ndarray, weights: Weights, q: np.ndarray, moves: pd.DataFrame, *,
    permutations: int, seed: int | None, alpha: float,
) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Significant unit-years (yearly local Moran), marked on ``moves``; {} without permutations."""
    if not permutations:
        return {}
    sig = np.column_stack([
        local_stats(pd.Series(y[:, j], index=weights.ids), weights, permutations=permutations,
                    seed=seed, alpha=alpha, gi_star=False)["significant"].to_numpy()
        for j in range(y.shape[1])
    ])  # fmt: skip
    moves["significant_from"] = sig[:, :-1].ravel()
    moves["significant_to"] = sig[:, 1:].ravel()
    both = sig[:, :-1] & sig[:, 1:]
    counts = np.zeros((4, 4))
    np.add.at(counts, (q[:, :-1][both], q[:, 1:][both]), 1.0)
    return {"significant": pd.DataFrame(sig, index=weights.ids, columns=p.wide.columns),
            "significant_counts": _matrix(counts, list(QUADRANTS))}  # fmt: skip


def analyse(
    data: Panel | pd.DataFrame, w: WeightsLike, *, k: int = 5, classes: str = "pooled",
    permutations: int | None = None, seed: int | None = None, alpha: float = 0.05,
) -> dict[str, Any]:  # fmt: skip
    """Every panel analysis of one variable, for a report.

    ``k`` and ``classes`` are the Markov chains' (values and lags); ``permutations``
    and ``seed`` serve Moran's I by year and the spatial tau; ``alpha`` the sentences.
    Returns ``moran_by_year``, ``rank_mobility``, ``markov``, ``spatial_markov``,
    ``lisa_markov`` (see each function), ``dropped`` and ``sentences``.
    """
    p = _as_panel(data)
    out: dict[str, Any] = {
        "moran_by_year": moran_by_year(p, w, permutations=permutations, seed=seed),
        "rank_mobility": rank_mobility(p, w, permutations=permutations, seed=seed),
        "markov": markov(p, k=k, classes=classes),
        "spatial_markov": spatial_markov(p, w, k=k, classes=classes, alpha=alpha),
        "lisa_markov": lisa_markov(p, w, alpha=alpha),
    }
    out["dropped"] = out["spatial_markov"]["dropped"]
    out["sentences"] = [out[key]["sentence"] for key in ("markov", "spatial_markov", "lisa_markov")]
    return out


# ---------------------------------------------------------------- tables for a report


def transition_table(counts: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """A chain's transitions in one table: each row's ``n``, counts and probabilities.

    One row per starting class (and lag class), the keys as columns; ``n`` is the row's
    moves (the sum of its counts), ``count_<to>`` and ``p_<to>`` per class moved to.
    """
    c = counts.round().astype("int64")
    out = pd.concat([c.sum(axis=1).rename("n"), c.rename(columns=lambda t: f"count_{t}"),
                     probabilities.rename(columns=lambda t: f"p_{t}")], axis=1)  # fmt: skip
    out.columns.name = None
    return out.reset_index()


def mobility_table(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Year-to-year transition matrices (``"2018->2019"``: from x to) as one long table.

    Columns ``from_year, to_year, from, to, count, n`` (the from row's units) and
    ``probability`` (count / n); one row per cell, so 80 pairs of years are one file.
    """
    frames = []
    for step, matrix in matrices.items():
        a, b = (int(y) for y in step.split("->"))
        long = matrix.rename_axis(index="from", columns="to").reset_index().melt(
            id_vars="from", var_name="to", value_name="count"
        )
        long = long.astype({"from": str, "to": str})
        long["n"] = long.groupby("from")["count"].transform("sum")
        long["probability"] = long["count"] / long["n"].where(long["n"] > 0)
        frames.append(long.assign(from_year=a, to_year=b))
    columns = ["from_year", "to_year", "from", "to", "count", "n", "probability"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)[columns]
    return out.sort_values(["from_year", "from", "to"], kind="stable", ignore_index=True)


def report_tables(found: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """:func:`analyse`'s results as a report's long tables, one per kind of result.

    ``moran_by_year`` (a row per year), ``rank_mobility`` (per pair of years),
    ``markov``, ``spatial_markov`` and ``lisa_markov`` (:func:`transition_table`) and
    ``tests`` (every chain's tests with their ``meaning``).
    """
    chains = ("markov", "spatial_markov", "lisa_markov")
    tests = pd.concat([found[c]["tests"].assign(chain=c) for c in chains[1:]], ignore_index=True)
    return {
        "moran_by_year": found["moran_by_year"],
        "rank_mobility": found["rank_mobility"],
        **{c: transition_table(found[c]["counts"], found[c]["probabilities"]) for c in chains},
        "tests": tests[["chain", "statistic", "value", "dof", "p", "meaning"]],
    }
