"""Explain the pattern: spatial regression as economists write it, on spreg and mgwr.

:func:`fit` takes a frame, a formula (``"y ~ x1 + log(x2) + C(region)"``, read by
formulaic) and spatial weights, and fits one model: OLS with GeoDa's diagnostics (the LM
tests and Moran's I of the residuals among them), spatial lag and error by maximum
likelihood or GMM, SLX and spatial Durbin (with direct, indirect and total impacts),
spatial regimes with their Chow tests, or GWR and MGWR. The estimators are spreg's and
mgwr's; this module shapes their input (guards that name the parameter at fault) and their
output (tidy frames on the input's index). :func:`panel` fits a panel (pooled OLS with
year effects, spreg's spatial fixed- and random-effects models) with the panel LM tests
and the Hausman test. :func:`table` lays one or more fits out as a regression table for a
paper (CSV, Markdown, HTML, LaTeX).
"""

from __future__ import annotations

import ast
import contextlib
import html
import io
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geotool._errors import InputError
from geotool._log import log
from geotool._text import listing, short
from geotool.weights import as_weights

__all__ = ["KINDS", "METHODS", "PANEL_KINDS", "ROBUST", "Fit", "decide", "fit", "impacts_table",
           "panel", "table", "table_cells", "table_frame", "usable"]  # fmt: skip

#: The models :func:`fit` estimates.
KINDS = ("ols", "lag", "error", "slx", "durbin", "gwr", "mgwr")
#: The panel models of :func:`panel`: pooled OLS with year effects, spreg's spatial fixed-
#: and random-effects lag and error models.
PANEL_KINDS = ("pooled", "fe_lag", "fe_error", "re_lag", "re_error")
#: How lag, error and Durbin models are estimated: maximum likelihood or GMM (spreg's GM_*).
METHODS = ("ml", "gm")
#: Heteroskedasticity-robust standard errors: White's (OLS, SLX, GM lag and Durbin), or
#: spreg's ``GM_Error_Het`` for the GM error model.
ROBUST = ("white", "het")
#: Functions a formula may call (formulaic's own, and numpy's under ``np.``).
_FUNCTIONS = frozenset({
    "log", "log1p", "log10", "log2", "exp", "sqrt", "abs", "C", "I", "center", "scale",
    "standardize", "poly", "Q",
})  # fmt: skip
_NUMPY = frozenset({"log", "log1p", "log10", "log2", "exp", "sqrt", "abs", "square"})
#: What a formula's functions are (formulaic adds C, I, center, scale, poly ...); never
#: the calling module's own names (``log`` here is the logger).
_CONTEXT = {"np": np, "log": np.log, "log1p": np.log1p, "log10": np.log10, "log2": np.log2,
            "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}  # fmt: skip


@dataclass
class Fit:
    """One fitted model, as tidy frames.

    ``kind`` (:data:`KINDS`, :data:`PANEL_KINDS`), ``method`` (``ml``/``gm``/``ols``...),
    ``formula``, ``y``; ``coefficients`` by ``term``: ``estimate, std_err, statistic`` (t
    for OLS and SLX, z otherwise), ``p``, ``vif`` for OLS, ``rho``/``lambda`` for the
    spatial term, a ``regime`` column with regimes (GWR/MGWR: each term's bandwidth and
    local summary); ``diagnostics`` by ``statistic``: ``value, df, z, p`` (NaN where a test
    has none); ``fitted`` on the input's index: ``observed, fitted, residual``; ``impacts``
    (lag, Durbin) by ``term`` and ``effect``; ``local`` (GWR/MGWR): ``est_<term>,
    t_<term>, sig_<term>`` (corrected level), ``local_r2``; ``chow`` (regimes); ``guide``
    (OLS: the model the LM tests point to); ``notes``; ``dropped`` (panels: rows left
    out, with the reason); ``model``: the spreg or mgwr result itself.
    """

    kind: str
    method: str
    formula: str
    y: str
    coefficients: pd.DataFrame
    diagnostics: pd.DataFrame
    fitted: pd.DataFrame
    impacts: pd.DataFrame | None = None
    local: pd.DataFrame | None = None
    chow: pd.DataFrame | None = None
    guide: str = ""
    notes: list[str] = field(default_factory=list)
    dropped: pd.DataFrame | None = None
    model: Any = None

    @property
    def label(self) -> str:
        """A short name of the model for table headers (``ML lag``, ``GWR`` ...)."""
        names = {"ols": "OLS", "lag": "lag", "error": "error", "slx": "SLX",
                 "durbin": "Durbin", "gwr": "GWR", "mgwr": "MGWR", "pooled": "pooled OLS",
                 "fe_lag": "FE lag", "fe_error": "FE error", "re_lag": "RE lag",
                 "re_error": "RE error"}  # fmt: skip
        name = names.get(self.kind, self.kind)
        if self.kind in ("lag", "error", "durbin"):
            name = f"{'ML' if self.method == 'ml' else 'GM'} {name}"
        return name

    def value(self, statistic: str) -> float:
        """One diagnostic's value (NaN when the model has no such statistic)."""
        d = self.diagnostics
        return _num(d.at[statistic, "value"]) if statistic in d.index else math.nan


def _num(value: Any) -> float:
    return float(value)


@dataclass
class _Design:
    """A formula's matrices on the rows it can use."""

    y: pd.Series
    x: pd.DataFrame
    notes: list[str]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Mute spreg's stray prints and the numeric warnings of its optimisers and of logs."""
    with (warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()),
          np.errstate(all="ignore")):  # fmt: skip
        for kind in (RuntimeWarning, FutureWarning, DeprecationWarning, UserWarning):
            warnings.simplefilter("ignore", kind)
        yield


# ----------------------------------------------------------------------- the formula


#: The Python a formula's term may hold (formulaic evaluates it): names, calls of the
#: allowed functions, arithmetic, small constants; nothing that reaches an object's
#: attributes, builds a large value (``9**9**9``, ``"a" * 10**9``) or runs code.
_SAFE_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load,
               ast.Attribute, ast.Constant, ast.keyword, ast.List, ast.Tuple, ast.Add, ast.Sub,
               ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)  # fmt: skip
#: At most this many terms in a model (``(a + b + ...)**5`` expands to thousands).
MAX_TERMS = 200


def _check_terms(formula: Any, columns: pd.Index) -> None:
    """Every name a formula uses, left and right of ``~``, is a column or an allowed function.

    formulaic evaluates each term as Python: a term is read as a syntax tree and refused
    unless it is arithmetic on columns with the allowed functions (:data:`_SAFE_NODES`).
    """
    sides = [*formula.lhs, *formula.rhs]
    if len(formula.rhs) > MAX_TERMS:
        raise InputError(f"formula: {len(formula.rhs):,} terms (at most {MAX_TERMS}); fewer "
                         "interactions, e.g. (a + b)**2.")  # fmt: skip
    for term in sides:
        for factor in term.factors:
            if factor.eval_method.value == "lookup" and factor.expr not in columns:
                msg = (f"formula: {short(factor.expr)!r} is not a column; the columns are "
                       f"{listing([str(c) for c in columns], 12)}.")  # fmt: skip
                raise InputError(msg)
            if factor.eval_method.value == "python":
                _check_python(factor.expr, columns)


def _check_python(expr: str, columns: pd.Index) -> None:
    """A term formulaic evaluates as Python: only columns, allowed functions and arithmetic."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise InputError(f"formula: cannot read the term {short(expr)!r}.") from None
    calls = f"{listing(sorted(_FUNCTIONS))} or np.log/np.sqrt ..."
    for node in ast.walk(tree):
        if not isinstance(node, _SAFE_NODES) or (
            isinstance(node, ast.Constant) and not _small(node.value)
        ) or (isinstance(node, ast.List | ast.Tuple) and len(node.elts) > 50):  # fmt: skip
            raise InputError(f"formula: {short(expr)!r} is more than arithmetic on columns with "
                             f"{calls}.")  # fmt: skip
        if isinstance(node, ast.BinOp) and any(
            (isinstance(side, ast.Constant) and isinstance(side.value, str))
            or isinstance(side, ast.List | ast.Tuple)
            for side in (node.left, node.right)
        ):  # "a" * 10**5, [0] * 10**12: text and lists are arguments, never arithmetic
            raise InputError(f"formula: {short(expr)!r} computes with text; terms are numbers.")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not (
            _number(node.right) is not None and abs(_number(node.right) or 0) <= 10
            and any(isinstance(n, ast.Name) for n in ast.walk(node.left))
        ):  # fmt: skip
            raise InputError(f"formula: {short(expr)!r}: a power is of a column, to a number "
                             "from -10 to 10 (x**2).")  # fmt: skip
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "poly":
            given = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "degree")]
            if any(not 0 < (_number(d) or 0) <= 10 for d in given):
                raise InputError(f"formula: {short(expr)!r}: a polynomial's degree is from 1 "
                                 "to 10.")  # fmt: skip
        if isinstance(node, ast.Attribute):
            ok = isinstance(node.value, ast.Name) and node.value.id == "np"
            if not ok or node.attr not in _NUMPY:
                raise InputError(f"formula: {short(expr)!r} calls something other than {calls}.")
        elif isinstance(node, ast.Name) and node.id not in columns and node.id not in (
            *_FUNCTIONS, "np"
        ):  # fmt: skip
            cols = listing([str(c) for c in columns], 12)
            raise InputError(f"formula: {short(node.id)!r} is not a column or an allowed "
                             f"function; the columns are {cols}.")  # fmt: skip


def _check_width(formula: Any, frame: pd.DataFrame, text: str) -> None:
    """Refuse a model of more columns than rows, counted before they are built.

    A term's columns are at most the product of its categorical factors' levels (a
    factor in ``C(...)``, or on a column of text, quoted ``Q('t')`` too) and of its
    polynomials' degrees: five 49-level categories crossed ask for 49**5 columns, which
    formulaic would build for minutes in gigabytes.
    """
    text_columns = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}
    width = 0
    for term in formula.rhs:
        columns = 1
        for factor in term.factors:
            names = _columns_of(factor, frame.columns)
            if "C(" in str(factor.expr).replace(" ", "") or names & text_columns:
                for name in names:
                    columns *= max(int(frame[name].nunique()), 1)
            columns *= _poly_degree(factor)
        width += columns
        if width > max(len(frame), MAX_TERMS):
            raise InputError(
                f"formula: {short(text)!r} asks for more than {max(len(frame), MAX_TERMS):,} "
                f"columns from {len(frame):,} rows (categories or polynomials crossed); "
                "fewer categories, degrees or interactions."
            )


def _columns_of(factor: Any, columns: pd.Index) -> set[str]:
    """The columns a formula's factor reads (looked up, named, or quoted: ``Q('t1')``)."""
    expr = str(factor.expr)
    if factor.eval_method.value != "python":
        return {expr} if expr in columns else set()
    tree = ast.parse(expr, mode="eval")  # checked by _check_python already
    named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    quoted = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
              and isinstance(n.value, str)}  # fmt: skip
    return {c for c in named | quoted if c in columns}


def _poly_degree(factor: Any) -> int:
    """The columns a factor's ``poly(x, d)`` makes (``d``; 1 without poly)."""
    if factor.eval_method.value != "python" or "poly" not in str(factor.expr):
        return 1
    degree = 1
    for node in ast.walk(ast.parse(str(factor.expr), mode="eval")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "poly":
            given = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "degree")]
            degree *= int(_number(given[0]) or 1) if given else 1
    return max(degree, 1)


def _braced(formula: str) -> list[str]:
    """The Python of each ``{...}`` of a formula (outside backticks and quotes), unbalanced too."""
    out, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(formula):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "`'\"":
            quote = ch
        elif ch == "{":
            depth += 1
            start = i + 1 if depth == 1 else start
        elif ch == "}" and depth:
            depth -= 1
            if not depth:
                out.append(formula[start:i])
    if depth or quote:
        out.append(formula[start:])  # unbalanced: checked (and refused) as it stands
    return out


def _number(node: ast.AST) -> float | None:
    """The number a node writes (``2``, ``-1``, ``0.5``), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    ok = isinstance(node, ast.Constant) and isinstance(node.value, int | float)
    return float(node.value) if ok and not isinstance(node.value, bool) else None  # type: ignore[attr-defined]


def _small(value: object) -> bool:
    """A constant a term may hold: a number below 1e15, or a short text (a level's name)."""
    if isinstance(value, bool | int | float):
        return not isinstance(value, int | float) or abs(value) < 1e15
    return isinstance(value, str) and len(value) <= 100


def _skeleton(formula: str) -> str:
    """The formula's operators and groups, each name or call replaced by ``v``.

    Names in backticks, quoted text, braced Python and the arguments of calls (``log(x)``,
    ``I((x - 1)**4)``) are skipped: formulaic's operators are the rest.
    """
    out, depth, quote, call = [], 0, "", False
    for ch in formula:
        if quote:
            quote = "" if ch == quote else quote
            continue
        if depth:  # inside braces or a call's parentheses: skipped
            depth += ch in "({"
            depth -= ch in ")}"
            continue
        if ch in "`'\"":
            quote = ch
            out.append("v")
        elif ch == "{" or (ch == "(" and call):
            depth = 1
            out.append("v")
        else:
            out.append(ch)
        call = ch.isalnum() or ch in "_."  # a name just before "(" makes it a call
    return re.sub(r"(?<![\w.])(?!\d+(?![\w.]))[\w.]+", "v", "".join(out))  # numbers kept


def _expanded_terms(formula: str) -> int:
    """An upper bound of the terms formulaic would expand ``formula``'s right side into.

    A group ``(a + b + c)`` counts its terms; ``:`` and ``*`` between groups multiply
    them, ``**n`` raises a group to the n-th power (all its interactions up to order n).
    """
    rhs = _skeleton(formula).partition("~")[2].replace(" ", "")
    sizes: list[int] = []
    while "(" in rhs:  # innermost groups first, each replaced by its size
        def group(m: re.Match[str]) -> str:
            sizes.append(_terms_of(m.group(1), sizes))
            return f"g{len(sizes) - 1}"

        rhs, n = re.subn(r"\(([^()]*)\)", group, rhs)
        if not n:
            break
    return _terms_of(rhs, sizes)


def _terms_of(expr: str, sizes: list[int]) -> int:
    """Terms of a group without parentheses: a sum of products of names and groups."""
    total = 0
    for part in expr.replace("-", "+").split("+"):
        product = 1
        for factor in re.split(r"[:*](?!\*)", part.replace("**", "^")):
            base, _, power = factor.partition("^")
            size = sizes[int(base[1:])] if re.fullmatch(r"g\d+", base) else 1
            exponent = min(int(power), 50) if power.isdigit() else 1  # (g)**n: orders <= n
            product *= sum(math.comb(size, k) for k in range(1, min(exponent, size) + 1))
        total += product
    return total

#: Characters a Chinese input method types for a formula's operators (never operators).
_FULL_WIDTH = dict(zip("＋－＊／～（）：，", "+-*/~():,", strict=True))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _unreadable(formula: str, exc: Exception) -> str:
    """The syntax error of formulaic in one line, with the fix for the usual slips."""
    why = _ANSI.sub("", str(exc)).strip().splitlines()[0].rstrip(".")
    bare = re.sub(r"`[^`]*`", "", formula)  # a backticked name may hold anything
    wide = [ch for ch in dict.fromkeys(bare) if ch in _FULL_WIDTH]
    fix = ""
    if wide:
        fix = (f"; {wide[0]!r} is full-width: type {_FULL_WIDTH[wide[0]]!r}, or put a column "
               f"name holding it in backticks (`收入（万元）`)")  # fmt: skip
    elif why.startswith("Missing operator"):
        fix = "; a column name with spaces goes in backticks (`GDP per head`)"
    return f"formula: cannot read {short(formula)!r}: {short(why, 80)}{fix}."


def _design(frame: pd.DataFrame, formula: str) -> _Design:
    """``y`` and the regressors (no intercept: spreg adds it) on the rows they can use.

    Rows with a missing value are left out and named in the notes; a value made
    non-finite by a transform (``log(0)``) is refused, naming the first unit.
    """
    from formulaic import Formula, model_matrix

    if not isinstance(formula, str) or "~" not in formula:
        raise InputError(f"formula={short(repr(formula))} must read 'y ~ x1 + log(x2)'.")
    for expr in _braced(formula):  # formulaic runs a braced left side as it parses it
        _check_python(expr, frame.columns)
    if "|" in _skeleton(formula):
        raise InputError(f"formula: {short(formula)!r} has parts separated by '|'; write one "
                         "model, y ~ x1 + x2.")  # fmt: skip
    if len(formula) > 5_000 or _expanded_terms(formula) > MAX_TERMS:  # expanding takes minutes
        raise InputError(f"formula: {short(formula)!r} asks for more than {MAX_TERMS} terms "
                         "(interactions of large groups, or above the third order); use "
                         "(a + b)**2 or a:b.")  # fmt: skip
    try:
        parsed = Formula(formula)
    except Exception as exc:
        raise InputError(_unreadable(formula, exc)) from None
    if len(parsed.lhs) != 1:
        raise InputError(f"formula: {short(formula)!r} needs one variable left of '~'.")
    _check_terms(parsed, frame.columns)
    _check_width(parsed, frame, formula)
    try:
        with _quiet():
            mm = model_matrix(parsed, pd.DataFrame(frame), na_action="ignore", context=_CONTEXT)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"formula: {short(formula)!r} fails on the data: "
                         f"{short(str(exc).splitlines()[0], 100)}.") from None  # fmt: skip
    try:
        y, x = mm.lhs.iloc[:, 0].astype(float), pd.DataFrame(mm.rhs).astype(float)
    except (TypeError, ValueError):
        raise InputError(f"formula: {short(formula)!r} has a term that is not a number (text? "
                         "wrap a column of categories in C(...)).") from None  # fmt: skip
    empty = [str(t) for t, cols in mm.rhs.model_spec.term_indices.items() if not cols]
    if empty:  # C(x) of one level: no column (formulaic drops it)
        raise InputError(f"formula: {short(empty[0])} has a single value (one level) on the "
                         "rows used, so it explains nothing; drop it.")  # fmt: skip
    if "Intercept" not in x.columns:
        raise InputError("formula: spreg's models always have an intercept; drop '- 1' / '0 +'.")
    x = x.drop(columns="Intercept")
    if x.shape[1] == 0:
        raise InputError(f"formula: {short(formula)!r} has no regressor right of '~'.")
    used = [c for c in frame.columns if str(c) in {str(v) for v in parsed.required_variables}]
    return _usable_rows(frame[used], y.rename(str(mm.lhs.columns[0])), x)


def _usable_rows(frame: pd.DataFrame, y: pd.Series, x: pd.DataFrame) -> _Design:
    """Rows with every value present and finite; missing ones left out (said), others refused.

    ``frame``: the columns the formula uses (the note names those with missing values).
    """
    bad = ~(np.isfinite(y.to_numpy()) & np.isfinite(x.to_numpy()).all(axis=1))
    notes: list[str] = []
    if bad.any():
        missing = frame.loc[bad].isna().any(axis=1)
        made = missing.index[~missing.to_numpy()]
        if len(made):
            col = x.columns[~np.isfinite(x.loc[made[0]].to_numpy())]
            what = col[0] if len(col) else y.name
            raise InputError(
                f"formula: {what} is not finite for unit {short(str(made[0]))} "
                f"({len(made)} unit(s) in all) after the transform; use log1p or drop them."
            )
        gaps, left = frame.loc[bad].isna().sum(), frame.index[bad]
        where = ", ".join(f"{c}: {n}" for c, n in gaps[gaps > 0].items())
        note = (
            f"{int(bad.sum())} row(s) with a missing value left out ({where}): "
            f"{', '.join(str(i) for i in left[:8])}{' ...' if len(left) > 8 else '.'}"
        )
        notes.append(note)
        log(note, logging.WARNING)
    return _Design(y[~bad], x[~bad], notes)


def usable(frame: pd.DataFrame, formula: str) -> pd.Index:
    """The rows a formula can use (every value present), to build the weights on them.

    Weights built on all rows and cut to these could leave a unit whose only neighbours
    were left out without any; built on these, the island rule sees the units that stay.
    """
    return _design(frame, formula).y.index


# ----------------------------------------------------------------------- the guards


def _check_rank(x: pd.DataFrame, n_spatial: int, *, warn: bool = True) -> list[str]:
    """Too few units, or a regressor that is a combination of others: refused by name."""
    n, k = x.shape[0], x.shape[1] + 1 + n_spatial
    if n <= k + 1:
        msg = f"frame: {n} usable rows for {k} parameters; a model needs more units than that."
        raise InputError(msg)
    full = np.column_stack([np.ones(n), x.to_numpy()])
    for j in range(1, full.shape[1]):
        if np.linalg.matrix_rank(full[:, : j + 1]) < j + 1:
            raise InputError(
                f"formula: {x.columns[j - 1]} is collinear with the intercept and the terms "
                "before it (a constant, a copy or a sum of them); drop it."
            )
    scaled = full / np.sqrt((full**2).sum(axis=0))
    condition = float(np.linalg.cond(scaled))
    if condition > 30 and warn:
        note = (
            f"condition number {condition:.1f} > 30: the regressors are nearly collinear "
            "(GeoDa's rule of thumb); the VIF column says which."
        )
        log(note, logging.WARNING)
        return [note]
    return []


def _libpysal_w(w: Any, index: pd.Index, kind: str) -> tuple[Any, list[str]]:
    """Weights over the rows used, row-standardised, as spreg takes them; islands checked."""
    from libpysal.weights import WSP

    wts = as_weights(w)
    where = wts.ids.get_indexer(index)
    if (where < 0).any():
        absent = [str(i) for i in index[where < 0]]
        raise InputError(
            f"w: {len(absent)} row(s) of the frame have no unit in the weights "
            f"({listing(absent, 5)}); build w on the frame's own index."
        )
    sub = wts.sparse[where][:, where].tocsr()
    lonely = index[np.diff(sub.indptr) == 0]
    notes = []
    if len(lonely):
        units = ", ".join(str(i) for i in lonely[:5]) + (" ..." if len(lonely) > 5 else "")
        if kind != "ols":
            raise InputError(
                f"w: {len(lonely)} unit(s) have no neighbours ({units}); their spatial lag "
                f"is 0 in the {kind} model: build w with islands='nearest:unbounded' (each "
                "joined to its nearest unit) or islands='drop'."
            )
        notes.append(f"{len(lonely)} unit(s) without neighbours ({units}): their lag is 0.")
        log(notes[-1], logging.WARNING)
    lw = WSP(sub, id_order=list(range(len(index)))).to_W(silence_warnings=True)
    lw.transform = "r"
    return lw, notes


def _check_regimes(x: pd.DataFrame, groups: list[str]) -> None:
    """Each regime has its own coefficients: enough units, no term constant within it."""
    labels = np.asarray(groups)
    for regime in dict.fromkeys(groups):
        try:
            _check_rank(x[labels == regime], 0, warn=False)
        except InputError as exc:
            why = str(exc).split(": ", 1)[1]
            raise InputError(f"regimes: in regime {short(regime)!r}, {why}") from None


def _regimes(frame: pd.DataFrame, regimes: str | pd.Series, index: pd.Index) -> list[str]:
    """Each used row's regime, from a column name or a series on the frame's index."""
    if isinstance(regimes, str):
        if regimes not in frame.columns:
            raise InputError(
                f"regimes={short(regimes)!r} is not a column; the columns are "
                f"{listing([str(c) for c in frame.columns], 12)}."
            )
        regimes = frame[regimes]
    values = pd.Series(regimes).reindex(index)
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")  # a code column read as floats: 1, not 1.0
    if values.isna().any():
        first = values.index[values.isna().to_numpy()][0]
        raise InputError(f"regimes: unit {short(str(first))} has no regime; give every row one.")
    counts = values.astype(str).value_counts()
    if len(counts) < 2:
        raise InputError("regimes: every row is in one regime; regimes need two or more.")
    return [str(v) for v in values]


# ----------------------------------------------------------------------- the estimators


def _spreg_model(kind: str, method: str, *, robust: str | None, regimes: list[str] | None,
                 y: np.ndarray, x: np.ndarray, lw: Any, names: dict[str, Any]) -> Any:  # fmt: skip
    """The spreg model of a kind, method and options (regimes: spreg's *_Regimes)."""
    import spreg

    slx = 1 if kind in ("slx", "durbin") else 0
    if regimes is not None:
        reg = {"ols": spreg.OLS_Regimes, ("lag", "ml"): spreg.ML_Lag_Regimes,
               ("error", "ml"): spreg.ML_Error_Regimes, ("lag", "gm"): spreg.GM_Lag_Regimes,
               ("error", "gm"): spreg.GM_Error_Het_Regimes}  # fmt: skip
        extra: dict[str, Any] = {"w": lw}
        if kind == "ols":  # one pooled fit: its R², LM tests
            extra |= {"spat_diag": lw is not None, "moran": lw is not None,
                      "regime_err_sep": False}  # fmt: skip
        if (kind, method) == ("lag", "gm"):
            extra["robust"] = robust
        return reg["ols" if kind == "ols" else (kind, method)](y, x, regimes, **extra, **names)
    if kind in ("ols", "slx"):
        return spreg.OLS(
            y, x, w=lw, robust=robust, slx_lags=slx, spat_diag=lw is not None and not slx,
            moran=lw is not None and not slx, white_test=True, vif=True, **names,
        )  # fmt: skip
    if kind in ("lag", "durbin") and method == "ml":
        return spreg.ML_Lag(y, x, lw, slx_lags=slx, spat_impacts="full", **names)
    if kind in ("lag", "durbin"):
        return spreg.GM_Lag(
            y, x, w=lw, slx_lags=slx, robust=robust, spat_impacts="full", w_lags=1 + slx, **names
        )  # Durbin: W^2 X instruments (WX is in X)
    if method == "ml":
        return spreg.ML_Error(y, x, lw, **names)
    if robust == "het":
        return spreg.GM_Error_Het(y, x, lw, **names)
    return spreg.GM_Error_Hom(y, x, lw, **names)


def _check_options(kind: str, method: str, robust: str | None, w: Any, regimes: Any) -> None:
    """The kind, method and robust options fit together; spatial kinds have weights."""
    if kind not in KINDS:
        raise InputError(f"kind={short(repr(kind))} is not one of {listing(KINDS)}.")
    if method not in METHODS:
        raise InputError(f"method={short(repr(method))} is not one of {listing(METHODS)}.")
    allowed: tuple[str | None, ...] = (None,)
    if kind in ("ols", "slx") or (kind in ("lag", "durbin") and method == "gm"):
        allowed = (None, "white")
    elif kind == "error" and method == "gm":
        allowed = (None, "het")
    if robust not in allowed:
        shown = [a for a in allowed if a]
        takes = f"takes {listing(shown)}" if shown else "has no robust option (use method='gm')"
        msg = (f"robust={short(repr(robust))} does not go with kind={kind!r} and "
               f"method={method!r}, which {takes}.")  # fmt: skip
        raise InputError(msg)
    if regimes is not None and kind not in ("ols", "lag", "error"):
        raise InputError(f"regimes= works with kind 'ols', 'lag' or 'error', not {kind!r}.")
    if w is None and kind in ("lag", "error", "slx", "durbin"):
        raise InputError(
            f"w: kind={kind!r} needs spatial weights; build them with "
            "geotool.weights.build(frame, 'queen')."
        )


def fit(
    frame: pd.DataFrame, formula: str, w: Any = None, *, kind: str = "ols", method: str = "ml",
    robust: str | None = None, regimes: str | pd.Series | None = None, coords: Any = None,
    alpha: float = 0.05, draws: int = 1000, seed: int = 0,
) -> Fit:  # fmt: skip
    """Fit one regression model of ``formula`` on ``frame`` (spreg, or mgwr for GWR/MGWR).

    ``frame``: the units' values, indexed by the ids ``w`` uses (GWR: with geometry, or
    ``coords`` (n, 2)); ``formula``: formulaic's ``"y ~ x1 + log(x2) + C(region)"``
    (``log``, ``sqrt``, ``np.log1p``, ``C()``, ``I()``, backticks); ``w``: spatial weights
    (row-standardised here; OLS without them has no spatial diagnostics); ``kind`` of
    :data:`KINDS`; ``method`` ``ml`` or ``gm`` (lag, error, Durbin); ``robust``:
    ``white`` (OLS, SLX, GM lag/Durbin) or ``het`` (``GM_Error_Het``, default
    ``GM_Error_Hom``); ``regimes``: a column or series of groups, one set of
    coefficients each with the Chow tests (OLS, lag, error); ``alpha``: the guide's and
    GWR's corrected level; ``draws``, ``seed``: the impacts' parameter draws.
    """
    _check_options(kind, method, robust, w, regimes)
    design = _design(frame, formula)
    if kind in ("gwr", "mgwr"):
        return _local_fit(frame, formula, design, kind=kind, coords=coords, alpha=alpha)
    k = design.x.shape[1]
    notes = design.notes + _check_rank(design.x, {"lag": 1, "error": 1, "durbin": 1 + k,
                                                  "slx": k}.get(kind, 0))  # fmt: skip
    lw = None
    if w is not None:
        lw, more = _libpysal_w(w, design.y.index, kind)
        notes += more
    groups = None if regimes is None else _regimes(frame, regimes, design.y.index)
    if groups is not None:
        _check_regimes(design.x, groups)
    names = {"name_y": str(design.y.name), "name_x": [str(c) for c in design.x.columns]}
    with _quiet():
        model = _spreg_model(kind, method if kind not in ("ols", "slx") else "ml",
                             robust=robust, regimes=groups, y=design.y.to_numpy()[:, None],
                             x=design.x.to_numpy(), lw=lw, names=names)  # fmt: skip
    result = _tidy(model, kind, "ols" if kind in ("ols", "slx") else method, formula, design)
    if isinstance(getattr(model, "white", None), str):  # spreg's reason it has no White test
        notes.append(f"White's test not computed: {model.white.rstrip('.')} (spreg skips it "
                     "when the condition number exceeds 30).")  # fmt: skip
    result.notes = notes
    if groups is not None:
        result.chow = _chow(model)
    elif kind in ("lag", "durbin"):
        result.impacts = _impacts(model, lw, design.x.columns, kind, draws=draws, seed=seed)
    if method == "ml" and kind in ("lag", "error", "durbin") and groups is None:
        result.diagnostics = _with_likelihood_ratio(result.diagnostics, model, design, lw, kind)
    if kind == "ols" and lw is not None and groups is None:
        result.guide = decide(result.diagnostics, alpha)
    return result


# ----------------------------------------------------------------------- tidy output


def _term(name: str, y: str) -> str:
    """The name of a spreg term as the tables show it (``W_dep_var`` -> ``rho``)."""
    if name in (f"W_{y}", "W_dep_var") or name.endswith(f"_W_{y}"):
        return "rho" if "_W_" not in name else name.replace(f"W_{y}", "rho")
    return name


def _coefficients(model: Any, kind: str, y: str) -> pd.DataFrame:
    """The coefficient table of spreg (``output``), tidy: by term, t or z, VIF for OLS."""
    import spreg

    out = getattr(model, "output", None)
    if out is None:  # spreg's panel models: names, betas, standard errors, (z, p) pairs
        betas = np.asarray(model.betas, float).ravel()
        names = [str(n) for n in model.name_x][: len(betas)]
        names += ["lambda" if hasattr(model, "lam") else "rho"] * (len(betas) - len(names))
        out = pd.DataFrame({
            "var_names": names, "coefficients": betas, "std_err": np.asarray(model.std_err),
            "zt_stat": [float(z) for z, _ in model.z_stat],
            "prob": [float(p) for _, p in model.z_stat],
        })  # fmt: skip
    table = pd.DataFrame({
        "term": [_term(str(n), y) for n in out["var_names"]],
        "estimate": out["coefficients"].to_numpy(float),
        "std_err": out["std_err"].to_numpy(float),
        "statistic": out["zt_stat"].to_numpy(float),
        "p": out["prob"].to_numpy(float),
    })  # fmt: skip
    regimes = [str(r) for r in getattr(model, "regimes_set", [])]
    if regimes:  # spreg's "E_INC": regime E, term INC (the longest matching regime first)
        split = [_split_regime(str(t), regimes) for t in table["term"]]
        table["term"] = [t for _, t in split]
        table.insert(1, "regime", [r for r, _ in split])
    elif kind == "ols":
        with _quiet():
            vifs = spreg.vif(model)
        table["vif"] = [math.nan if v is None else float(v[0]) for v in vifs][: len(table)]
    table = table.set_index("term")
    table.attrs["statistic"] = "t" if kind in ("ols", "slx") else "z"
    return table


def _split_regime(name: str, regimes: list[str]) -> tuple[str, str]:
    """A regimes model's term name as (regime, term); ``global`` for a term of every regime."""
    if name.startswith("_Global_"):
        return "global", name[len("_Global_") :]
    for regime in sorted(regimes, key=len, reverse=True):
        if name.startswith(f"{regime}_"):
            return regime, name[len(regime) + 1 :]
    return "global", name


def _row(value: Any, df: Any = math.nan, z: Any = math.nan, p: Any = math.nan) -> dict:
    """One diagnostic's row (spreg gives some as 1 x 1 arrays)."""
    v, d, zz, pp = (float(np.asarray(a, dtype=float).ravel()[0]) for a in (value, df, z, p))
    return {"value": v, "df": d, "z": zz, "p": pp}


def _ols_diagnostics(m: Any) -> dict[str, dict]:
    """GeoDa's OLS report: fit, normality, heteroskedasticity, and the spatial tests."""
    rows = {
        "r2": _row(m.r2), "adj_r2": _row(m.ar2),
        "f_stat": _row(m.f_stat[0], p=m.f_stat[1]), "log_likelihood": _row(m.logll),
        "aic": _row(m.aic), "schwarz": _row(m.schwarz), "sigma2": _row(m.sig2),
        "condition_number": _row(m.mulColli),
    }  # fmt: skip
    for name, key in (("jarque_bera", "jb"), ("breusch_pagan", "bp"), ("koenker_bassett", "kb"),
                      ("white", "wh")):  # fmt: skip
        test = getattr(m, name, None)
        if isinstance(test, dict):
            rows[name] = _row(test[key], test["df"], p=test["pvalue"])
    if hasattr(m, "moran_res"):
        rows["moran_i_residuals"] = _row(m.moran_res[0], z=m.moran_res[1], p=m.moran_res[2])
    for name, attr, df in (("lm_lag", "lm_lag", 1), ("robust_lm_lag", "rlm_lag", 1),
                           ("lm_error", "lm_error", 1), ("robust_lm_error", "rlm_error", 1),
                           ("lm_sarma", "lm_sarma", 2)):  # fmt: skip
        if hasattr(m, attr):
            stat, p = getattr(m, attr)
            rows[name] = _row(stat, df, p=p)
    return rows


def _diagnostics(model: Any, kind: str, n: int) -> pd.DataFrame:
    """The model's diagnostics, by statistic (``value``, ``df``, ``z``, ``p``)."""
    rows = {"n": _row(n), "k": _row(model.k)}
    if kind in ("ols", "slx"):
        rows |= _ols_diagnostics(model)
    else:
        rows["pseudo_r2"] = _row(model.pr2)
        if getattr(model, "pr2_e", None) is not None:
            rows["spatial_pseudo_r2"] = _row(model.pr2_e)
        for name in ("logll", "aic", "schwarz"):
            if getattr(model, name, None) is not None:
                rows["log_likelihood" if name == "logll" else name] = _row(getattr(model, name))
        if getattr(model, "sig2", None) is not None:
            rows["sigma2"] = _row(model.sig2)
        for name, attr in (("rho", "rho"), ("lambda", "lam")):
            if getattr(model, attr, None) is not None:
                rows[name] = _row(np.asarray(getattr(model, attr)).ravel()[0])
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "statistic"
    return frame


def _with_likelihood_ratio(
    diagnostics: pd.DataFrame, model: Any, design: _Design, lw: Any, kind: str
) -> pd.DataFrame:
    """The diagnostics with the likelihood ratio test of rho (lambda) = 0, as GeoDa reports.

    Against the model without it on the same design: OLS (SLX for a Durbin model), by
    spreg's ``likratiotest`` (one degree of freedom).
    """
    import spreg

    with _quiet():
        null = spreg.OLS(design.y.to_numpy()[:, None], design.x.to_numpy(), w=lw,
                         slx_lags=1 if kind == "durbin" else 0)  # fmt: skip
        lr = spreg.likratiotest(null, model)
    row = pd.DataFrame([_row(lr["likr"], df=lr["df"], p=lr["p-value"])],
                       index=pd.Index(["likelihood_ratio"], name=diagnostics.index.name))
    return pd.concat([diagnostics, row])


def _tidy(model: Any, kind: str, method: str, formula: str, design: _Design) -> Fit:
    """A spreg result as a :class:`Fit` on the input's index."""
    y = str(design.y.name)
    fitted = pd.DataFrame({
        "observed": design.y.to_numpy(),
        "fitted": np.asarray(model.predy).ravel(),
        "residual": np.asarray(model.u).ravel(),
    }, index=design.y.index)  # fmt: skip
    if getattr(model, "e_filtered", None) is not None:
        fitted["innovation"] = np.asarray(model.e_filtered).ravel()
    return Fit(kind=kind, method=method, formula=formula, y=y,
               coefficients=_coefficients(model, kind, y),
               diagnostics=_diagnostics(model, kind, len(design.y)), fitted=fitted,
               model=model)  # fmt: skip


def _chow(model: Any) -> pd.DataFrame:
    """The Chow tests of a regimes model: joint, and one per coefficient."""
    joint = model.chow.joint
    terms = list(getattr(model, "name_x_r", [])) or [f"x{i}" for i in range(len(model.chow.regi))]
    rows = [("joint", float(joint[0]), float(joint[1]))] + [
        (str(t), float(s), float(p)) for t, (s, p) in zip(terms, model.chow.regi, strict=False)
    ]
    return pd.DataFrame(rows, columns=["term", "wald", "p"]).set_index("term")


def _impacts(model: Any, lw: Any, columns: pd.Index, kind: str, *, draws: int,
             seed: int) -> pd.DataFrame:  # fmt: skip
    """Direct, indirect and total impacts, with inference by parameter draws.

    spreg 1.9 gives the impacts' point values only (``sp_multipliers``, LeSage and Pace's
    ``full`` method, which is reproduced exactly here); their inference comes from
    ``draws`` draws of the coefficients from their estimated asymptotic distribution
    (LeSage and Pace 2009, 2.7), each draw's impacts computed the same way (:func:`_drawn`).
    Impacts exist for rho inside the stationary range (1/min, 1/max of the weights'
    eigenvalues), where (I - rho W) is invertible: the draws are kept inside it (a
    truncated normal), and a rho estimated outside it (GM lag may) gives no impacts, said
    in ``attrs["note"]``. ``attrs``: ``draws``, ``discarded``, ``note``.
    """
    k = len(columns)
    betas = np.asarray(model.betas, float).ravel()
    vm = np.asarray(model.vm, float)[: len(betas), : len(betas)]
    eig = np.linalg.eigvals(lw.sparse.toarray())
    lo, hi = 1.0 / eig.real.min(), 1.0 / eig.real.max()
    inside = lo < betas[-1] < hi
    sample, discarded = (_draws_within(betas, vm, (lo, hi), draws=draws, seed=seed) if inside
                         else (np.empty((0, len(betas))), 0))  # fmt: skip
    sample = np.vstack([betas, sample])
    rho = sample[:, -1]
    adi = np.real(np.mean(1.0 / (1.0 - rho[:, None] * eig[None, :]), axis=1))
    ati = 1.0 / (1.0 - rho)
    beta = sample[:, 1 : 1 + k]
    theta = sample[:, 1 + k : 1 + 2 * k] if kind == "durbin" else np.zeros_like(beta)
    direct = adi[:, None] * beta
    total = ati[:, None] * (beta + theta)
    rows = []
    for effect, values in (("direct", direct), ("indirect", total - direct), ("total", total)):
        for j, term in enumerate(columns):
            est = float(values[0, j]) if inside else math.nan
            rows.append({"term": str(term), "effect": effect, **_drawn(est, values[1:, j])})
    out = pd.DataFrame(rows).set_index("term")
    note = "" if inside else (
        f"rho = {betas[-1]:.4g} lies outside its stationary range ({lo:.4g}, {hi:.4g}): "
        "(I - rho W) has no inverse there, so the model has no impacts")  # fmt: skip
    if note:
        log(f"impacts: {note}", logging.WARNING)
    out.attrs |= {"draws": len(sample) - 1, "discarded": discarded, "note": note}
    return out


def _drawn(estimate: float, draws: np.ndarray) -> dict[str, float]:
    """An impact's inference from its draws: a standard error, z, p and a 95 % interval.

    The draws' own distribution decides, as in bootstrap inference: near rho's bound it is
    skewed and heavy-tailed (1/(1 - rho) has no variance there, so the draws' standard
    deviation is whatever the draw nearest the bound makes it). ``std_err`` is half the
    width of the central 68.3 % interval (the standard deviation of normal draws), ``z``
    the estimate over it; ``p`` is two-sided (twice the smaller share of draws on one side
    of 0, at least 1/(draws + 1)); ``ci_low`` and ``ci_high`` the 2.5 and 97.5 percentiles.
    """
    if len(draws) < 2 or not np.isfinite(estimate):
        return {"estimate": estimate, "std_err": math.nan, "z": math.nan, "p": math.nan,
                "ci_low": math.nan, "ci_high": math.nan}  # fmt: skip
    low, q16, q84, high = np.percentile(draws, [2.5, 15.865, 84.135, 97.5])
    se = float(q84 - q16) / 2
    side = min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0)))
    return {"estimate": estimate, "std_err": se, "z": estimate / se if se > 0 else math.nan,
            "p": min(1.0, max(2 * side, 1 / (len(draws) + 1))),
            "ci_low": float(low), "ci_high": float(high)}  # fmt: skip


def _draws_within(
    mean: np.ndarray, cov: np.ndarray, bounds: tuple[float, float], *, draws: int, seed: int
) -> tuple[np.ndarray, int]:
    """``draws`` normal draws whose last entry (rho) is inside ``bounds`` (open).

    Rejection sampling in rounds (a truncated normal); stops after 20 rounds' worth of
    draws, returning those found. Also the number discarded.
    """
    lo, hi = bounds
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    found = discarded = 0
    for _ in range(20):
        batch = rng.multivariate_normal(mean, cov, size=draws, method="eigh")
        ok = (batch[:, -1] > lo) & (batch[:, -1] < hi)
        kept.append(batch[ok][: draws - found])
        found += len(kept[-1])
        discarded += int((~ok).sum())
        if found == draws:
            break
    if found < draws:
        said = f"impacts: {found} of {draws} parameter draws inside rho's range"
        log(f"{said} ({lo:.3f}, {hi:.3f}); their standard errors are less sure", logging.WARNING)
    return np.vstack(kept), discarded


# ----------------------------------------------------------------------- the guide


def decide(diagnostics: pd.DataFrame, alpha: float = 0.05) -> str:
    """Which model the LM tests point to, by Anselin's rule (GeoDa workbook, 2005, 23.6).

    Neither LM test significant: keep OLS. One: that model. Both: the robust tests
    decide; both robust ones significant (or neither): the larger robust statistic.
    """
    need = ("lm_lag", "lm_error", "robust_lm_lag", "robust_lm_error")
    if not all(n in diagnostics.index for n in need):
        return "No spatial diagnostics: fit OLS with weights (w=) to get the LM tests."
    p = diagnostics["p"]
    stat = diagnostics["value"]
    lag, err = p["lm_lag"] < alpha, p["lm_error"] < alpha

    def said(name: str) -> str:
        return f"{name.replace('_', '-').replace('lm', 'LM')} {stat[name]:.3f} (p {p[name]:.4f})"

    if not lag and not err:
        return (
            f"Keep OLS: neither {said('lm_lag')} nor {said('lm_error')} is significant at "
            f"{alpha:g}; the residuals show no spatial dependence these tests detect."
        )
    if lag != err:
        name = "lag" if lag else "error"
        other = "error" if lag else "lag"
        return (
            f"Spatial {name} model: {said('lm_' + name)} is significant at {alpha:g}, "
            f"{said('lm_' + other)} is not."
        )
    rlag, rerr = p["robust_lm_lag"] < alpha, p["robust_lm_error"] < alpha
    if rlag != rerr:
        name = "lag" if rlag else "error"
        return (
            f"Spatial {name} model: both LM tests are significant at {alpha:g}, and of the "
            f"robust ones only {said('robust_lm_' + name)} is."
        )
    name = "lag" if stat["robust_lm_lag"] >= stat["robust_lm_error"] else "error"
    both = "both robust tests are significant" if rlag else "neither robust test is significant"
    return (
        f"Spatial {name} model, with care: both LM tests are significant at {alpha:g} and "
        f"{both}; the larger robust statistic is {said('robust_lm_' + name)}"
        + (" (consider a model with both, e.g. spatial Durbin)." if rlag else ".")
    )


# ----------------------------------------------------------------------- GWR and MGWR


def _coords(frame: pd.DataFrame, coords: Any, index: pd.Index) -> tuple[np.ndarray, bool]:
    """The locations of the used rows, and whether they are longitude/latitude."""
    if coords is not None:
        arr = np.asarray(coords, dtype=float)
        if arr.ndim != 2 or arr.shape != (len(frame), 2):
            raise InputError(f"coords: need one (x, y) per row of frame ({len(frame)}, 2), "
                             f"got shape {arr.shape}.")  # fmt: skip
        pos = frame.index.get_indexer(index)
        return arr[pos], False
    geometry = getattr(frame, "geometry", None)
    if geometry is None:
        raise InputError("coords: GWR needs locations; pass a GeoDataFrame or coords=.")
    import shapely

    geo = geometry.loc[index]
    points = shapely.centroid(np.asarray(geo.values))
    xy = np.column_stack([shapely.get_x(points), shapely.get_y(points)])
    geographic = bool(geo.crs is not None and geo.crs.is_geographic)
    return xy, geographic


def _local_fit(frame: pd.DataFrame, formula: str, design: _Design, *, kind: str, coords: Any,
               alpha: float) -> Fit:  # fmt: skip
    """GWR or MGWR (mgwr): bandwidths by AICc, local estimates, corrected significance.

    MGWR runs on standardised variables (mean 0, standard deviation 1), as mgwr's authors
    advise, so its bandwidths compare across terms; GWR on the data as they are. One
    process (``n_jobs=1``): mgwr's default pool took 62 s for a Baltimore GWR fit that one
    process does in 16 s on this 2-core machine.
    """
    from mgwr.gwr import GWR, MGWR
    from mgwr.sel_bw import Sel_BW

    notes = design.notes + _check_rank(design.x, 0)
    xy, spherical = _coords(frame, coords, design.y.index)
    y, x = design.y.to_numpy()[:, None], design.x.to_numpy()
    if kind == "mgwr":
        y = (y - y.mean()) / y.std()
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    try:
        with _quiet():
            selector = Sel_BW(xy, y, x, multi=kind == "mgwr", spherical=spherical, n_jobs=1)
            bw = selector.search(criterion="AICc")
            one = {"spherical": spherical, "n_jobs": 1}
            model = (MGWR(xy, y, x, selector, **one) if kind == "mgwr"
                     else GWR(xy, y, x, float(bw), **one)).fit()  # fmt: skip
    except np.linalg.LinAlgError:  # a regressor constant among some unit's nearest neighbours
        share = design.x.apply(lambda c: c.value_counts(normalize=True).iloc[0])
        msg = (f"formula: {kind.upper()} finds a local regression it cannot solve (a regressor "
               f"constant among some unit's neighbours; most repeated: {share.idxmax()}, "
               f"{share.max():.0%} of units one value); drop it or use kind='ols' or 'lag'.")
        raise InputError(msg) from None
    terms = ["CONSTANT", *(str(c) for c in design.x.columns)]
    with _quiet():  # mgwr's local R² divides by a local total sum of squares of 0
        local = _local_frame(model, terms, design.y.index, alpha)
    bws = np.atleast_1d(np.asarray(bw, float))
    coef = pd.DataFrame({
        "term": terms,
        "bandwidth": bws if len(bws) == len(terms) else np.repeat(bws[0], len(terms)),
        "mean": model.params.mean(axis=0), "min": model.params.min(axis=0),
        "median": np.median(model.params, axis=0), "max": model.params.max(axis=0),
        "share_significant": local[[f"sig_{t}" for t in terms]].mean().to_numpy(),
    }).set_index("term")  # fmt: skip
    diag = {"n": _row(len(y)), "bandwidth": _row(bws[0]), "aicc": _row(model.aicc),
            "aic": _row(model.aic), "r2": _row(model.R2), "adj_r2": _row(model.adj_R2),
            "effective_parameters": _row(model.ENP if kind == "gwr" else model.ENP_j.sum()),
            "sigma2": _row(model.sigma2)}  # fmt: skip
    fitted = pd.DataFrame({"observed": y.ravel(), "fitted": model.predy.ravel(),
                           "residual": model.resid_response.ravel()},
                          index=design.y.index)  # fmt: skip
    diagnostics = pd.DataFrame.from_dict(diag, orient="index").rename_axis("statistic")
    return Fit(kind=kind, method="aicc", formula=formula, y=str(design.y.name),
               coefficients=coef, diagnostics=diagnostics, fitted=fitted, local=local,
               notes=notes, model=model)  # fmt: skip


def _local_frame(model: Any, terms: list[str], index: pd.Index, alpha: float) -> pd.DataFrame:
    """Local estimates, t-values, and significance at mgwr's corrected level (filter_tvals)."""
    # mgwr corrects 0.05 for the effective number of tests (adj_alpha: alpha * k / ENP,
    # per term for MGWR); the same correction applied to the study's alpha
    adjusted = model.adj_alpha_j[:, 1] if hasattr(model, "adj_alpha_j") else model.adj_alpha[1]
    critical = model.critical_tval(alpha * np.asarray(adjusted) / 0.05)
    filtered = model.filter_tvals(critical_t=critical)
    cols: dict[str, np.ndarray] = {}
    for j, term in enumerate(terms):
        cols[f"est_{term}"] = model.params[:, j]
        cols[f"t_{term}"] = model.tvalues[:, j]
        cols[f"sig_{term}"] = filtered[:, j] != 0
    if type(model).__name__ == "GWRResults":  # MGWR has no local R² (mgwr 2.2)
        cols["local_r2"] = np.asarray(model.localR2).ravel()
    out = pd.DataFrame(cols, index=index)
    out.attrs["critical_t"] = np.atleast_1d(critical).tolist()
    return out


# ----------------------------------------------------------------------- panels


def _balanced(frame: pd.DataFrame, design: _Design, id_col: str,
              year_col: str) -> tuple[pd.Index, pd.DataFrame]:  # fmt: skip
    """The units present in every year (a balanced panel), and every row left out, with why.

    A row with a missing value is left out, and so is every row of a unit that then lacks
    a year: spreg's panel models take a balanced panel only.
    """
    used = frame.loc[design.y.index, [id_col, year_col]]
    if used.duplicated().any():
        first = used[used.duplicated()].iloc[0]
        msg = (f"id_col: unit {short(str(first[id_col]))} appears twice in year "
               f"{short(str(first[year_col]))}; keep one row per unit and year.")  # fmt: skip
        raise InputError(msg)
    all_years = sorted(used[year_col].unique())
    counts = used.groupby(id_col)[year_col].nunique()
    keep = counts.index[counts == len(all_years)]
    if len(all_years) < 2 or len(keep) < 3:
        msg = (f"year_col: a panel needs two years or more and units in every year; got "
               f"{len(all_years)} year(s), {len(keep)} unit(s) in all of them.")  # fmt: skip
        raise InputError(msg)
    missing = frame.loc[frame.index.difference(design.y.index), [id_col, year_col]]
    short_units = used[~used[id_col].isin(keep)]
    years_of = short_units[id_col].map(counts)
    dropped = pd.concat([
        missing.assign(reason="a missing value"),
        short_units.assign(reason=[f"unit in {n} of {len(all_years)} years" for n in years_of]),
    ])  # fmt: skip
    return pd.Index(keep), dropped.sort_values([id_col, year_col])


def _dropped_note(dropped: pd.DataFrame, id_col: str) -> list[str]:
    """The rows left out to balance the panel, in a sentence (the table is ``Fit.dropped``)."""
    units = [str(u) for u in dict.fromkeys(dropped[id_col])]
    if not units:
        return []
    shown = ", ".join(units[:8]) + (" ..." if len(units) > 8 else "")
    note = (f"{len(units)} unit(s) not in every year left out: {shown} "
            f"({len(dropped)} row(s), listed with the reason in the dropped rows' table).")
    log(note, logging.WARNING)
    return [note]


def panel(
    frame: pd.DataFrame, formula: str, w: Any = None, *, id_col: str, year_col: str,
    kind: str = "fe_lag", alpha: float = 0.05,
) -> Fit:  # fmt: skip
    """A panel model of ``formula`` on long rows (one per unit and year).

    ``pooled``: OLS with year dummies and White's standard errors; ``fe_*``/``re_*``:
    spreg's spatial fixed- and random-effects models with the Hausman test
    (``panel_Hausman``; NaN and a note when RE has no estimate). With weights, spreg's
    panel LM tests and the ``guide``. Rows left out to balance the panel are in
    ``dropped``. ``fitted`` is on (unit, year): ``value`` as given; ``observed``,
    ``fitted``, ``residual`` on spreg's scale (demeaned for FE, quasi-demeaned for RE lag).
    """
    if kind not in PANEL_KINDS:
        raise InputError(f"kind={short(repr(kind))} is not one of {listing(PANEL_KINDS)}.")
    for name, col in (("id_col", id_col), ("year_col", year_col)):
        if col not in frame.columns:
            raise InputError(f"{name}={short(repr(col))} is not a column of frame.")
    if kind != "pooled" and w is None:
        raise InputError(f"w: kind={kind!r} needs spatial weights over the units.")
    design = _design(frame, formula)
    keep, dropped = _balanced(frame, design, id_col, year_col)
    notes = design.notes + _dropped_note(dropped, id_col)
    rows = frame.loc[design.y.index, [id_col, year_col]]
    rows = rows[rows[id_col].isin(keep)]
    lw = None
    if w is not None:  # spreg's long form: by year, then the units in the weights' order
        ids = as_weights(w).ids  # (spreg's RE error model is sensitive to that order)
        keep = ids[ids.isin(keep)].append(keep.difference(ids))
        lw, more = _libpysal_w(w, keep, "lag")
        notes += more
        order = {u: i for i, u in enumerate(keep)}
        rows = rows.assign(_pos=rows[id_col].map(order)).sort_values([year_col, "_pos"])
    result = _panel_model(kind, formula, design, rows[year_col], lw=lw, notes=notes)
    result.fitted.index = pd.MultiIndex.from_frame(rows[[id_col, year_col]])
    if lw is not None and len(rows) <= _PANEL_LM_ROWS:
        lm = _panel_lm(design.y.loc[rows.index], design.x.loc[rows.index], lw)
        result.diagnostics = pd.concat([result.diagnostics, lm])
        result.guide = _panel_guide(result, alpha)
    elif lw is not None:
        gb = len(rows) ** 2 * 8 / 1e9
        result.notes.append(f"panel LM tests left out: spreg's build a dense {len(rows)} x "
                            f"{len(rows)} matrix ({gb:.1f} GB) for these rows.")  # fmt: skip
    result.dropped = dropped
    return result


def _panel_model(kind: str, formula: str, design: _Design, years: pd.Series, *, lw: Any,
                 notes: list[str]) -> Fit:  # fmt: skip
    """The panel model itself on the balanced rows (in ``years``' order), as a :class:`Fit`."""
    import spreg

    x, y = design.x.loc[years.index], design.y.loc[years.index]
    if kind == "pooled":
        effects = pd.get_dummies(years, prefix=str(years.name), drop_first=True, dtype=float)
        x = pd.concat([x, effects], axis=1)
    notes += _check_rank(x, 0 if kind == "pooled" else 1, warn=kind == "pooled")
    names = {"name_y": str(y.name), "name_x": [str(c) for c in x.columns]}
    hausman = (math.nan, math.nan, math.nan)
    with _quiet():
        if kind == "pooled":
            model = spreg.OLS(y.to_numpy()[:, None], x.to_numpy(), robust="white", **names)
            notes.append("pooled OLS: White's heteroskedasticity-robust standard errors, "
                         "year effects as dummies (not clustered by unit).")  # fmt: skip
        else:
            model, hausman = _panel_spatial(kind, y.to_numpy()[:, None], x.to_numpy(), lw,
                                            names)  # fmt: skip
            if not math.isfinite(hausman[0]):
                notes.append("Hausman test not available: spreg's random-effects model "
                             "found no estimate (a singular variance).")  # fmt: skip
    fit = _tidy(model, "ols" if kind == "pooled" else "lag", "ml", formula, _Design(y, x, notes))
    fit.kind, fit.notes = kind, notes
    if kind != "pooled":  # observed - fitted = residual on spreg's (quasi-)demeaned scale
        fit.fitted.insert(0, "value", fit.fitted["observed"])
        fit.fitted["observed"] = np.asarray(model.y, float).ravel()
    if kind == "pooled":
        fit.method = "white"
    else:
        h = pd.DataFrame([_row(hausman[0], hausman[2], p=hausman[1])], index=["hausman"])
        fit.diagnostics = pd.concat([fit.diagnostics, h.rename_axis("statistic")])
    if kind.endswith("_error"):
        fit.coefficients = fit.coefficients.rename(index={"rho": "lambda"})
    return fit


def _panel_spatial(kind: str, y: np.ndarray, x: np.ndarray, lw: Any,
                   names: dict[str, Any]) -> tuple[Any, tuple[float, float, float]]:  # fmt: skip
    """The fixed- or random-effects model of spreg; the Hausman test of FE against RE (or NaN).

    The test's degrees of freedom are spreg's: the random-effects model's ``k``.
    """
    import spreg

    effects, what = kind.split("_")
    fe_model, re_model = ((spreg.Panel_FE_Lag, spreg.Panel_RE_Lag) if what == "lag"
                          else (spreg.Panel_FE_Error, spreg.Panel_RE_Error))  # fmt: skip
    fe = fe_model(y, x, lw, **names)
    try:
        re_ = re_model(y, x, lw, **names)
    except np.linalg.LinAlgError:  # the random-effects model has no estimate here
        if effects == "re":
            msg = (f"kind={kind!r}: spreg's random-effects model finds no estimate on these "
                   f"data (a singular variance); use kind='fe_{what}'.")  # fmt: skip
            raise InputError(msg) from None
        return fe, (math.nan, math.nan, math.nan)
    try:
        stat, p = spreg.panel_Hausman(fe, re_, sp_lag=what == "lag")
    except np.linalg.LinAlgError:
        stat, p = math.nan, math.nan
    return (fe if effects == "fe" else re_), (float(stat), float(p), float(re_.k))


#: Rows above which the panel LM tests are left out (spreg's dense nT x nT matrix: 0.3 GB).
_PANEL_LM_ROWS = 6000


def _panel_lm(y: pd.Series, x: pd.DataFrame, lw: Any) -> pd.DataFrame:
    """The panel LM tests of lag and error dependence (spreg's, on the pooled OLS residuals).

    Anselin, Le Gallo and Jayet (2008) and Elhorst (2010): the same rule as a
    cross-section's (:func:`decide`) picks the model from them.
    """
    from spreg import diagnostics_panel as dp

    yy, xx = y.to_numpy(float)[:, None], x.to_numpy(float)
    rows = {}
    with _quiet():
        for name, test in (("lm_lag", dp.panel_LMlag), ("lm_error", dp.panel_LMerror),
                           ("robust_lm_lag", dp.panel_rLMlag),
                           ("robust_lm_error", dp.panel_rLMerror)):  # fmt: skip
            stat, p = test(yy, xx, lw)
            rows[name] = _row(stat, 1, p=p)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("statistic")


def _panel_guide(fit: Fit, alpha: float) -> str:
    """The LM tests' choice (Anselin's rule) and, with a spatial model, the Hausman test's."""
    text = decide(fit.diagnostics, alpha)
    stat, p = fit.value("hausman"), _num(fit.diagnostics["p"].get("hausman", math.nan))
    if math.isfinite(stat):
        effects = ("fixed effects: the Hausman test rejects random effects"
                   if p < alpha else "random effects: the Hausman test does not reject them")
        text += f" Of the panel models, {effects} ({stat:.3f}, p {p:.4f}) at {alpha:g}."
    return text


# ----------------------------------------------------------------------- tables


_STARS = ((0.01, "***"), (0.05, "**"), (0.1, "*"))
#: Diagnostics shown below the coefficients, in order, and how they are labelled.
_BELOW = (("n", "N"), ("r2", "R²"), ("adj_r2", "Adj. R²"), ("pseudo_r2", "Pseudo R²"),
          ("log_likelihood", "Log-likelihood"), ("aic", "AIC"), ("schwarz", "Schwarz"),
          ("aicc", "AICc"), ("bandwidth", "Bandwidth"), ("moran_i_residuals", "Moran's I (resid.)"),
          ("likelihood_ratio", "LR test (ρ or λ = 0)"), ("lm_lag", "LM-lag"),
          ("lm_error", "LM-error"), ("robust_lm_lag", "Robust LM-lag"),
          ("robust_lm_error", "Robust LM-error"))  # fmt: skip


def _stars(p: float) -> str:
    return next((s for cut, s in _STARS if p < cut), "") if math.isfinite(p) else ""


def table_frame(fits: Fit | Sequence[Fit], *, stat: str = "se", digits: int = 3) -> pd.DataFrame:
    """The regression table as a frame: a column per model, two rows per term, diagnostics.

    The first row names each model's dependent variable (a referee's first question). Each
    term has its estimate with stars (``***`` p < 0.01, ``**`` 0.05, ``*`` 0.1) and,
    below it, its standard error (``stat="se"``) or t/z (``"t"``) in parentheses.
    """
    fits = [fits] if isinstance(fits, Fit) else list(fits)
    if not fits or stat not in ("se", "t"):
        raise InputError("fits: pass one or more Fit; stat= is 'se' or 't'.")
    shown = {id(f): _labelled(f.coefficients) for f in fits}
    terms: list[str] = []
    for c in shown.values():
        terms += [t for t in c.index if t not in terms]
    columns = {f"({i + 1}) {f.label}": f for i, f in enumerate(fits)}
    rows: dict[tuple[str, str], dict[str, str]] = {
        ("dependent variable", ""): {name: f.y for name, f in columns.items()},
    }
    for term in terms:
        for name, f in columns.items():
            c = shown[id(f)]
            if term not in c.index:
                continue
            top, below = _cells(pd.Series(c.loc[term]), f.kind, stat, digits)
            rows.setdefault((term, "estimate"), {})[name] = top
            rows.setdefault((term, stat), {})[name] = below
    for key, label in _BELOW:
        for name, f in columns.items():
            value = f.value(key)
            if math.isfinite(value):
                text = f"{value:.0f}" if key == "n" else f"{value:.{digits}f}"
                p = _num(f.diagnostics.at[key, "p"])
                rows.setdefault((label, ""), {})[name] = text + _stars(p)
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(columns))
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["term", "row"])
    return frame.fillna("")


def _cells(row: pd.Series, kind: str, stat: str, digits: int) -> tuple[str, str]:
    """A term's two cells: estimate with stars, (se) or (t) below; GWR: mean, [min, max]."""
    if "estimate" not in row:  # GWR, MGWR: the local estimates' mean, their range below
        bw = f"; bw {_num(row['bandwidth']):g}" if kind == "mgwr" else ""
        lo, hi = _num(row["min"]), _num(row["max"])
        return f"{_num(row['mean']):.{digits}f}", f"[{lo:.{digits}f}, {hi:.{digits}f}{bw}]"
    est, se, z, p = (_num(row[k]) for k in ("estimate", "std_err", "statistic", "p"))
    return f"{est:.{digits}f}{_stars(p)}", f"({(se if stat == 'se' else z):.{digits}f})"


def _labelled(coefficients: pd.DataFrame) -> pd.DataFrame:
    """Coefficients by the label a table shows (``regime: term``); GWR's local summary."""
    if "estimate" not in coefficients and "mean" not in coefficients:
        return coefficients.iloc[:0]
    if "regime" not in coefficients:
        return coefficients
    labels = [f"{r}: {t}" for r, t in zip(coefficients["regime"], coefficients.index,
                                            strict=True)]  # fmt: skip
    return coefficients.set_axis(labels)


def table_cells(fits: Fit | Sequence[Fit], *, stat: str = "se", digits: int = 3) -> dict[str, Any]:
    """The regression table's ``header``, ``rows`` of cells and ``note`` (as :func:`table`)."""
    frame = table_frame(fits, stat=stat, digits=digits)
    what = "standard errors" if stat == "se" else "t / z statistics"
    cells = [[t if r in ("estimate", "") else "" for t, r in frame.index], *frame.T.to_numpy()]
    note = f"{what} in parentheses; *** p<0.01, ** p<0.05, * p<0.1"
    fits = [fits] if isinstance(fits, Fit) else list(fits)
    if any(f.kind in ("gwr", "mgwr") for f in fits):
        note += ("; GWR/MGWR: the mean of the local estimates, their [min, max] below "
                 "(MGWR: with each term's bandwidth)")  # fmt: skip
    return {"header": ["", *map(str, frame.columns)],
            "rows": [[str(c) for c in row] for row in zip(*cells, strict=True)],
            "note": note}  # fmt: skip


def table(fits: Fit | Sequence[Fit], fmt: str = "markdown", *, stat: str = "se",
          digits: int = 3) -> str:  # fmt: skip
    """A regression table as economists paste it: ``csv``, ``markdown``, ``html`` or ``latex``.

    Coefficients with standard errors (or t/z, ``stat="t"``) in parentheses and stars,
    the diagnostics below; the note under it says what the stars and parentheses mean.
    """
    cells = table_cells(fits, stat=stat, digits=digits)
    return _render(cells["header"], cells["rows"], cells["note"], fmt)


def impacts_table(fits: Fit | Sequence[Fit], fmt: str = "markdown", *, digits: int = 3) -> str:
    """The direct, indirect (spillover) and total impacts of lag and Durbin fits, for a paper.

    A column per model and effect; each term's impact with stars, its 95 % interval (from
    the parameter draws, skewed near rho's bound) in brackets below; ``fmt`` as
    :func:`table`. Fits without impacts (OLS, error, GWR ...) are left out; none with
    impacts: an :class:`InputError`.
    """
    fits = [fits] if isinstance(fits, Fit) else list(fits)
    with_impacts = [f for f in fits if f.impacts is not None]
    if not with_impacts:
        raise InputError("fits: none has impacts; fit kind='lag' or 'durbin'.")
    head: list[str] = [""]
    rows: dict[str, dict[str, tuple[str, str]]] = {}
    for i, f in enumerate(fits):  # numbered as in :func:`table` of the same fits
        imp = f.impacts
        if imp is None:
            continue
        for effect in ("direct", "indirect", "total"):
            head.append(f"({i + 1}) {f.label}: {effect}")
            for term, r in imp[imp["effect"] == effect].iterrows():
                top, _ = _cells(r.rename({"z": "statistic"}), f.kind, "se", digits)
                below = (f"[{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"
                         if np.isfinite(r["ci_low"]) else "")  # fmt: skip
                rows.setdefault(str(term), {})[head[-1]] = (top, below)
    body = []
    for term, cells in rows.items():
        body.append([term, *(cells.get(h, ("", ""))[0] for h in head[1:])])
        body.append(["", *(cells.get(h, ("", ""))[1] for h in head[1:])])
    attrs = with_impacts[0].impacts.attrs  # type: ignore[union-attr]
    within = " with rho inside its range" if attrs.get("discarded") else ""
    note = (f"95 % intervals of {attrs.get('draws', '')} draws of the coefficients{within} "
            "in brackets; p from the draws: *** p<0.01, ** p<0.05, * p<0.1")  # fmt: skip
    return _render(head, body, note, fmt)


def _render(head: list[str], body: list[list[str]], note: str, fmt: str) -> str:
    """A table's header, rows and note as ``csv``, ``markdown``, ``html`` or ``latex``."""
    if fmt == "csv":
        return pd.DataFrame(body, columns=head).to_csv(index=False) + f"# {note}\n"
    if fmt == "markdown":
        lines = ["| " + " | ".join(_md(h) for h in head) + " |",
                 "|" + "---|" * len(head)]  # fmt: skip
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
        return "\n".join([*lines, "", f"*{note}*", ""])
    if fmt == "html":
        e = html.escape
        rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                       for row in body)  # fmt: skip
        header = "".join(f"<th>{e(str(h))}</th>" for h in head)
        return (
            f'<table class="regression"><thead><tr>{header}</tr></thead><tbody>{rows}'
            f"</tbody></table>\n<p><small>{e(note)}</small></p>\n"
        )
    if fmt == "latex":
        spec = "l" + "c" * (len(head) - 1)
        lines = [rf"\begin{{tabular}}{{{spec}}}", r"\hline",
                 " & ".join(_tex(h) for h in head) + r" \\", r"\hline"]  # fmt: skip
        lines += [" & ".join(_tex(c) for c in row) + r" \\" for row in body]
        lines += [r"\hline", rf"\multicolumn{{{len(head)}}}{{l}}{{\footnotesize {_tex(note)}}} \\",
                  r"\end{tabular}", ""]  # fmt: skip
        return "\n".join(lines)
    raise InputError(f"fmt={short(repr(fmt))} is not one of 'csv', 'markdown', 'html', 'latex'.")


def _md(text: object) -> str:
    """A Markdown table cell: no line breaks; pipes and HTML's ``<``, ``>``, ``&`` escaped.

    A renderer passes raw HTML through: a term named ``<img onerror=...>`` stays text.
    """
    text = str(text).replace("\\", "\\\\").replace("\n", " ")
    return re.sub(r"([|<>&])", r"\\\1", text)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "²": r"$^2$", "ρ": r"$\rho$", "λ": r"$\lambda$"}  # fmt: skip


def _tex(text: object) -> str:
    """A LaTeX cell: the special characters escaped (a user's column names are text)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))
