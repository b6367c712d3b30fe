"""Composite indices: weighted indicators in, scores, ranks and tiers out.

Weights by AHP over dimensions (as the 2020 report built its ranking), Shannon entropy,
CRITIC (Diakoulaki et al. 1995), principal components or equal weights; high always means
strong. The formulas are a few numpy/scipy lines each, written here: pymcdm refuses the zero
proportions of min-max columns (entropy), scores a cost column as ``1 - x / |x|`` rather than
Hwang & Yoon's anti-ideal (TOPSIS), and uses Tummala & Ling's random indices, not Saaty's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geotool import _validate as check
from geotool._errors import InputError
from geotool._text import listing, short

__all__ = [
    "METHODS", "RANDOM_INDEX", "Composite", "Sensitivity", "ahp_weights", "build",
    "object_weights", "rank", "sensitivity",
]  # fmt: skip

METHODS = ("entropy", "critic", "ahp", "pca", "equal")
NORMALISATIONS = ("minmax", "zscore", "vector")
ENTROPY_BASES = ("minmax", "raw")  # proportions of min-max values / of the values as measured
AGGREGATIONS = ("sum", "geometric", "topsis")
#: Saaty's (1980) random consistency index by matrix order (1 and 2 are always consistent).
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41,
                9: 1.45, 10: 1.49}  # fmt: skip
MAX_CR = 0.1  # Saaty's threshold of acceptable inconsistency
PCA_VARIANCE = 0.85  # share of variance the retained components explain at least
_RECIPROCAL_TOL = 5e-3  # 1/3 typed as 0.333 passes, 0.33 does not


@dataclass(frozen=True)
class Composite:
    """An index: scores, weights and diagnostics.

    ``scores``: score, rank and one column per dimension, on the input's index;
    ``weights``: indicator, dimension, weight, method; ``diagnostics``: the method's numbers.
    """

    scores: pd.DataFrame
    weights: pd.DataFrame
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sensitivity:
    """Ranks and tiers under each weighting method, and how far they agree.

    ``ranks`` and ``tiers``: a column per method; ``spearman``: method x method;
    ``changes``: the units whose tier is not the same under every method.
    """

    ranks: pd.DataFrame
    spearman: pd.DataFrame
    tiers: pd.DataFrame
    changes: pd.DataFrame


def rank(scores: pd.Series) -> pd.Series:
    """Ranks, 1 = highest score, ties sharing the best (the report's two 30s and no 31).

    Scores are compared to 12 significant digits, so float rounding cannot split a tie;
    a missing score has no rank.

    >>> rank(pd.Series([0.9, 0.5, 0.5, 0.1])).tolist()
    [1, 2, 2, 4]
    """
    level = np.nanmax(np.abs(scores.to_numpy(float)), initial=0.0)
    digits = 12 - int(np.floor(np.log10(level))) if level > 0 else 12
    rounded = scores.astype(float).round(digits)
    return rounded.rank(ascending=False, method="min").astype("Int64").rename("rank")


def ahp_weights(matrix: object, labels: Sequence[str] | None = None) -> tuple[pd.Series, dict]:
    """Saaty's principal-eigenvector weights of a pairwise matrix, with λmax, CI, RI, CR.

    ``matrix[i][j]``: how much more important ``i`` is than ``j`` (Saaty's 1-9 scale),
    positive and reciprocal. A matrix with CR > 0.1 is refused: its judgements contradict
    each other too much to be weights.
    """
    a = _pairwise(matrix, labels)
    n = a.shape[0]
    values, vectors = np.linalg.eig(a.to_numpy())
    top = int(np.argmax(values.real))
    lam = float(values[top].real)
    vec = np.abs(vectors[:, top].real)  # Perron vector: one sign, made positive
    ci = (lam - n) / (n - 1) if n > 1 else 0.0
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri > 0 else 0.0
    diag = {"lambda_max": lam, "ci": ci, "ri": ri, "cr": cr, "n": n}
    if cr > MAX_CR:
        raise InputError(
            f"ahp: the {n}x{n} pairwise matrix is inconsistent (CR {cr:.3f} > {MAX_CR}, "
            f"λmax {lam:.3f}); revise the judgements that contradict others (if A > B and "
            "B > C, A > C by about their product) until CR <= 0.1."
        )
    return pd.Series(vec / vec.sum(), index=a.index, name="weight"), diag


def _pairwise(matrix: object, labels: Sequence[str] | None) -> pd.DataFrame:
    """The checked square, positive, reciprocal matrix, labelled (reordered to ``labels``)."""
    if isinstance(matrix, pd.DataFrame) and labels is not None:
        want = [str(x) for x in labels]
        if set(map(str, matrix.index)) != set(want) or set(map(str, matrix.columns)) != set(want):
            raise InputError(
                f"ahp: the matrix is labelled {listing(matrix.index)}, the items to weigh are "
                f"{listing(want)}; label its rows and columns with the items."
            )
        matrix = matrix.rename(index=str, columns=str).loc[want, want]
    try:
        a = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise InputError("ahp: the pairwise matrix must hold numbers (1/3, not '1/3').") from None
    n = len(labels) if labels is not None else (a.shape[0] if a.ndim == 2 else 0)
    if a.ndim != 2 or a.shape != (n, n) or n < 2:
        raise InputError(
            f"ahp: the pairwise matrix has shape {a.shape}; give a square matrix with one row "
            f"and column per item weighed ({n})."
        )
    if n > max(RANDOM_INDEX):
        raise InputError(f"ahp: {n} items; Saaty's random index stops at 10, group them.")
    if not np.isfinite(a).all() or (a <= 0).any():
        raise InputError("ahp: the pairwise matrix has zero, negative or missing judgements; "
                         "every a[i][j] must be positive (1 = equal, 1/9 to 9).")  # fmt: skip
    off = np.abs(a * a.T - 1.0) > _RECIPROCAL_TOL
    if off.any():
        i, j = (int(v) for v in np.argwhere(off)[0])
        raise InputError(
            f"ahp: the pairwise matrix is not reciprocal (a[{i}][{j}] = {a[i, j]:.4g}, "
            f"a[{j}][{i}] = {a[j, i]:.4g}); set a[j][i] = 1 / a[i][j] and a[i][i] = 1."
        )
    names = [str(x) for x in labels] if labels is not None else [str(i) for i in range(n)]
    return pd.DataFrame(a, index=names, columns=names)


def object_weights(
    z: pd.DataFrame, method: str, *, entropy_basis: str = "minmax"
) -> tuple[pd.Series, dict[str, Any]]:
    """Objective weights of oriented indicators (columns; high = strong), summing to 1.

    ``entropy``: proportions ``p`` per column, entropy ``e = -sum(p ln p) / ln n`` with
    ``0 ln 0 = 0`` (no shift), weights ``∝ 1 - e``; ``p`` is of the min-max normalised
    values (``entropy_basis="minmax"``) or of ``z`` itself (``"raw"``: give the values as
    measured, >= 0; Xu 2004 and most worked examples use ``p = x / sum x``, direction not
    entering). ``critic``: min-max values' standard deviation x ``sum_k (1 - r_jk)``. ``pca``:
    on the correlation matrix, the fewest components explaining >= 85% of the variance,
    ``w_j ∝ sum_k λ_k |v_jk|`` (eigenvalue-weighted loadings, as in the OECD/JRC
    Handbook on Constructing Composite Indicators, 2008, 6.1). ``equal``: ``1 / m``.
    """
    m = z.shape[1]
    mm = (z - z.min()) / (z.max() - z.min())
    diag: dict[str, Any] = {}
    if method == "entropy":
        e = _entropy(mm if entropy_basis == "minmax" else z, entropy_basis)
        raw = 1.0 - e
        of = "min-max" if entropy_basis == "minmax" else "the values as given"
        diag.update(entropy=dict(zip(z.columns, map(float, e), strict=True)),
                    entropy_basis=entropy_basis,
                    zeros=f"0 ln 0 = 0 (the limit); proportions of {of}, no shift")  # fmt: skip
    elif method == "critic":
        r = np.corrcoef(mm.to_numpy(), rowvar=False).reshape(m, m)
        raw = mm.std(ddof=1).to_numpy() * (1.0 - r).sum(axis=0)
    elif method == "pca":
        lam, vec = np.linalg.eigh(np.corrcoef(z.to_numpy(), rowvar=False).reshape(m, m))
        lam, vec = lam[::-1].clip(min=0.0), vec[:, ::-1]
        share = np.cumsum(lam) / lam.sum()
        k = int(np.searchsorted(share, PCA_VARIANCE - 1e-12) + 1)
        raw = np.abs(vec[:, :k]) @ lam[:k]
        diag.update(components=k, explained=float(share[k - 1]))
    elif method == "equal":
        raw = np.ones(m)
    else:
        raise InputError(f"method must be one of {list(METHODS)}, got {short(repr(method))}.")
    raw = np.asarray(raw, dtype=float)
    if not np.isfinite(raw).all() or raw.sum() <= 0:
        raise InputError(f"method={method!r}: the indicators give no weights; use 'equal'.")
    return pd.Series(raw / raw.sum(), index=z.columns, name="weight"), diag


def _entropy(share: pd.DataFrame, basis: str) -> np.ndarray:
    """Shannon entropy of each column's proportions, over ``ln n`` (scipy's, 0 ln 0 = 0)."""
    if basis not in ENTROPY_BASES:
        raise InputError(f"entropy_basis must be one of {list(ENTROPY_BASES)}, "
                         f"got {short(repr(basis))}.")  # fmt: skip
    negative = [c for c in share.columns if (share[c] < 0).any()]
    if negative:
        raise InputError(
            f"entropy_basis='raw': {listing(negative)} has negative values, and proportions "
            "x / sum(x) need x >= 0; shift them, or use entropy_basis='minmax'."
        )
    import scipy.stats  # here: a run that builds no index need not import it (0.5 s)

    return scipy.stats.entropy(share.to_numpy(), axis=0) / np.log(len(share))


def build(
    frame: pd.DataFrame,
    indicators: Sequence[str],
    *,
    method: str = "entropy",
    direction: Mapping[str, str] | None = None,
    normalise: str | None = None,
    aggregate: str = "sum",
    ahp: object = None,
    dimensions: Mapping[str, Sequence[str]] | None = None,
    missing: str = "refuse",
    entropy_basis: str = "minmax",
) -> Composite:
    """A composite index of ``indicators`` (columns of ``frame``), one score per row.

    A ``"-"`` indicator (``direction``) is negated before normalising (``minmax``,
    ``zscore`` or ``vector``, the default for ``topsis``); ``aggregate``: weighted ``sum``,
    ``geometric`` mean or ``topsis`` closeness. Each of ``dimensions`` gets a score column,
    and the ``ahp`` matrix weighs them (else the indicators). ``missing="exclude"`` leaves
    rows with a gap unscored (listed in ``diagnostics``); ``entropy_basis="raw"`` takes
    proportions of the values as measured (Xu 2004), to reproduce published examples.
    """
    norm = normalise if normalise is not None else ("vector" if aggregate == "topsis" else "minmax")
    choices = {"method": method, "aggregate": aggregate, "missing": missing, "normalise": norm,
               "entropy_basis": entropy_basis}  # fmt: skip
    cols, dims = _check_spec(frame, indicators, dimensions, **choices)
    values, excluded = _values(frame, cols, missing)
    signs = _signs(direction, cols)
    oriented = values * signs
    weights, diag = _weights(
        oriented, method, ahp, dims, values=values, entropy_basis=entropy_basis
    )
    z = _normalised(oriented, values, signs, norm)
    total = _aggregate(z, weights, aggregate)
    out = pd.DataFrame(index=frame.index)
    out["score"] = total.reindex(frame.index)
    out["rank"] = rank(out["score"])
    for name, members in (dims or {}).items():
        out[name] = _aggregate(z[list(members)], weights[list(members)], aggregate)
    table = pd.DataFrame({
        "indicator": cols,
        "dimension": [next((d for d, m in (dims or {}).items() if c in m), None) for c in cols],
        "weight": weights.reindex(cols).to_numpy(),
        "method": method,
    })  # fmt: skip
    diag.update(
        method=method, normalise=norm, aggregate=aggregate, n_units=len(values),
        excluded=excluded, ties="equal scores share the best rank (1, 2, 2, 4)",
    )  # fmt: skip
    return Composite(out, table, diag)


def _check_spec(
    frame: object, indicators: object, dimensions: object, **choices: str
) -> tuple[list[str], dict[str, list[str]] | None]:
    """The indicator list and dimensions, checked against ``frame``; the options' choices."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(indicators, str) or not isinstance(indicators, Sequence) or not indicators:
        raise InputError("indicators: give a list of column names, e.g. ['gdp', 'patents'].")
    cols = list(indicators)  # labels as given: a frame's columns may be years (ints)
    absent = [c for c in cols if c not in frame.columns]
    if absent or len(set(cols)) != len(cols):
        what = f"not columns of frame: {listing(absent)}" if absent else "listed twice"
        raise InputError(f"indicators: {what}; name each column once.")
    allowed = {"method": METHODS, "aggregate": AGGREGATIONS, "missing": ("refuse", "exclude"),
               "normalise": NORMALISATIONS, "entropy_basis": ENTROPY_BASES}  # fmt: skip
    for name, value in choices.items():
        if value not in allowed[name]:
            msg = f"{name} must be one of {list(allowed[name])}, got {short(repr(value))}."
            raise InputError(msg)
    if dimensions is None:
        return cols, None
    if not isinstance(dimensions, Mapping) or not dimensions:
        raise InputError("dimensions: give {dimension: [indicators]}, e.g. {'scale': ['gdp']}.")
    dims = {str(k): list(v) for k, v in dimensions.items()}
    listed = [c for members in dims.values() for c in members]
    if sorted(listed) != sorted(cols) or any(not m for m in dims.values()):
        raise InputError(
            f"dimensions: each indicator must be in exactly one dimension; they list "
            f"{listing(sorted(listed))}, indicators are {listing(sorted(cols))}."
        )
    clash = [d for d in dims if d in ("score", "rank")]
    if clash:
        raise InputError(f"dimensions: {listing(clash)} is a result column; rename it.")
    return cols, dims


def _values(frame: pd.DataFrame, cols: list[str], missing: str) -> tuple[pd.DataFrame, list]:
    """The indicator values, numbers, finite; rows with a missing value refused or left out."""
    gaps = frame[cols].isna().any(axis=1)
    excluded = frame.index[gaps.to_numpy()].tolist()
    if excluded and missing == "refuse":
        at = listing(excluded, limit=5)
        raise InputError(
            f"indicators: {len(excluded):,} row(s) have missing values (at {at}); fill them "
            "in, or pass missing='exclude' to leave those rows without a score."
        )
    kept = frame.loc[~gaps.to_numpy(), cols]
    if len(kept) < 3:
        raise InputError(f"frame: {len(kept)} complete row(s); an index needs at least 3 units.")
    values = pd.DataFrame({c: check.finite_values(kept[c], c) for c in cols}, index=kept.index)
    flat = [c for c in cols if values[c].nunique() < 2]
    if flat:
        raise InputError(f"indicators: {listing(flat)} is constant; drop it (it ranks nothing).")
    return values, excluded


def _signs(direction: Mapping[str, str] | None, cols: list[str]) -> pd.Series:
    """+1 / -1 per indicator from ``direction`` (default ``"+"``)."""
    given = dict(direction or {})
    unknown = [k for k in given if k not in cols]
    bad = [k for k, v in given.items() if v not in ("+", "-")]
    if unknown or bad:
        what = f"not indicators: {listing(unknown)}" if unknown else f"bad signs at {listing(bad)}"
        raise InputError(f"direction: {what}; give {{indicator: '+' or '-'}}.")
    return pd.Series([-1.0 if given.get(c) == "-" else 1.0 for c in cols], index=cols)


def _weights(
    oriented: pd.DataFrame, method: str, ahp: object, dims: dict[str, list[str]] | None, *,
    values: pd.DataFrame, entropy_basis: str,
) -> tuple[pd.Series, dict[str, Any]]:  # fmt: skip
    """Indicator weights (sum 1) and the method's diagnostics."""
    if method != "ahp":
        if ahp is not None:
            raise InputError(f"ahp: a pairwise matrix is given but method={method!r}; "
                             "pass method='ahp' or drop the matrix.")  # fmt: skip
        measured = method == "entropy" and entropy_basis == "raw"
        return object_weights(values if measured else oriented, method,
                              entropy_basis=entropy_basis)  # fmt: skip
    if ahp is None:
        raise InputError("ahp: method='ahp' needs the pairwise matrix (ahp=[[1, 3], [1/3, 1]]).")
    if dims is None:
        return ahp_weights(ahp, list(oriented.columns))
    top, diag = ahp_weights(ahp, list(dims))
    share = {c: top[d] / len(m) for d, m in dims.items() for c in m}
    return pd.Series(share).reindex(oriented.columns).rename("weight"), diag


def _normalised(
    oriented: pd.DataFrame, values: pd.DataFrame, signs: pd.Series, norm: str
) -> pd.DataFrame:
    """The oriented indicators normalised: min-max to [0, 1], z-scores, or ``x / |x|``."""
    if norm == "minmax":
        return (oriented - oriented.min()) / (oriented.max() - oriented.min())
    if norm == "zscore":
        return (oriented - oriented.mean()) / oriented.std(ddof=1)
    return values / np.sqrt((values**2).sum()) * signs  # Hwang & Yoon; |-x| = |x|


def _aggregate(z: pd.DataFrame, weights: pd.Series, aggregate: str) -> pd.Series:
    """One score per row: weighted sum, weighted geometric mean, or TOPSIS closeness."""
    w = weights.reindex(z.columns) / weights.reindex(z.columns).sum()
    if aggregate == "sum":
        return z @ w
    if aggregate == "geometric":
        if (z <= 0).to_numpy().any():
            raise InputError(
                "aggregate='geometric' needs positive normalised values, and min-max gives "
                "each indicator's lowest unit 0; use normalise='vector' with positive '+' "
                "indicators, or aggregate='sum'."
            )
        return np.exp(np.log(z) @ w)
    v = z * w
    best = np.sqrt(((v - v.max()) ** 2).sum(axis=1))
    worst = np.sqrt(((v - v.min()) ** 2).sum(axis=1))
    return worst / (best + worst)


def sensitivity(
    frame: pd.DataFrame,
    indicators: Sequence[str],
    *,
    methods: Sequence[str] | None = None,
    k: int = 4,
    **options: Any,
) -> Sensitivity:
    """How much the ranking depends on the weighting: one :func:`build` per method.

    ``methods``: default entropy, critic, pca, equal (and ahp when ``ahp=`` is given);
    ``options`` go to :func:`build`. Tiers are ``k`` quantile classes of each method's
    score (:func:`geotool.tiers.assign`, tier 1 = highest, ties together).
    """
    from geotool import tiers

    chosen = list(methods) if methods is not None else [
        m for m in METHODS if m != "ahp" or options.get("ahp") is not None
    ]  # fmt: skip
    if len(chosen) < 2:
        raise InputError("methods: give at least two weighting methods to compare.")
    ranks, tier_cols = {}, {}
    for m in chosen:
        given = {**options, "ahp": options.get("ahp") if m == "ahp" else None}
        result = build(frame, indicators, method=m, **given)
        score = result.scores["score"]
        ranks[m] = result.scores["rank"]
        kept = score.dropna()
        tier_cols[m] = tiers.assign(kept, method="quantiles", k=k).reindex(score.index)
    rank_table = pd.DataFrame(ranks, index=frame.index)
    tier_table = pd.DataFrame(tier_cols, index=frame.index).astype("Int64")
    rho = rank_table.astype(float).corr(method="spearman")
    complete = tier_table.dropna()
    moved = complete.max(axis=1) != complete.min(axis=1)
    changes = complete.loc[moved.to_numpy()].copy()
    changes["lowest"] = changes[chosen].max(axis=1)
    changes["highest"] = changes[chosen].min(axis=1)
    return Sensitivity(rank_table, rho, tier_table, changes)
