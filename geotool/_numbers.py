"""Numbers as people read them on maps: legends, tooltips, tables on pages.

Significant digits come from the data (enough to tell class breaks apart, never more
decimals than the data have); English groups thousands (12,345), Chinese writes large
values in 万 / 亿 (4.48万, 1.2亿) unless the variable's unit already carries a magnitude
(``GDP(亿元)``). The unit is read from the label's last bracket (``income (USD)`` -> USD).
Plain f-strings and :mod:`locale` do neither 万/亿 nor data-driven digits; babel would
add a dependency for the separators alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Formatter", "for_breaks", "for_values", "has_cjk", "language", "resolution", "unit_of"
]  # fmt: skip

#: The most decimals a value is shown with (a float's noise starts past ~15 digits).
MAX_DECIMALS = 6
#: Significant digits tried for class breaks, fewest first.
BREAK_DIGITS = (3, 4, 5, 6)
#: Significant digits of a value in a tooltip (its integer part is never rounded).
TOOLTIP_DIGITS = 4
#: A unit holding one of these is already scaled or a share: no 万/亿 on top of it.
_SCALED = re.compile(r"[万亿千百兆%‰]|per ?cent|percent|thousand|million|billion", re.I)
_BRACKET = re.compile(r"[(（\[]([^()（）\[\]]+)[)）\]]\s*$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def unit_of(label: str) -> str:
    """The unit in a label's last bracket: ``"GDP(亿元)"`` -> ``"亿元"``, else ``""``."""
    match = _BRACKET.search(str(label).strip())
    return match.group(1).strip() if match else ""


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a Chinese character."""
    return bool(_CJK.search(str(text)))


def resolution(values: Iterable[float]) -> int:
    """Decimals the finite values are given to (0 for whole numbers, at most 6)."""
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    v = v[np.isfinite(v)]
    for d in range(MAX_DECIMALS + 1):
        slack = np.maximum(1e-9 * np.abs(v), 0.5 * 10.0 ** -(d + 3))
        if (np.abs(v - np.round(v, d)) <= slack).all():
            return d
    return MAX_DECIMALS


@dataclass(frozen=True)
class Formatter:
    """Formats numbers: ``digits`` significant, at most ``decimals``, in ``lang``.

    ``whole`` keeps a value's integer part unrounded (tooltips); ``wan`` allows 万/亿 in
    Chinese (the unit carries no magnitude of its own).
    """

    digits: int = TOOLTIP_DIGITS
    decimals: int = MAX_DECIMALS
    lang: str = "en"
    wan: bool = True
    whole: bool = False

    def __call__(self, value: float) -> str:
        """``value`` as text; ``""`` when missing."""
        if value is None or not math.isfinite(float(value)):
            return ""
        v = float(value)
        if self.lang == "zh" and self.wan and abs(v) >= 1e4:
            big = abs(v) >= 1e8
            scaled = v / (1e8 if big else 1e4)
            digits = max(self.digits, self._int_digits(v) - (8 if big else 4)) if self.whole \
                else self.digits  # fmt: skip
            extra = 8 if big else 4
            return self._plain(scaled, digits, self.decimals + extra, sep=False) + (
                "亿" if big else "万"
            )
        digits = max(self.digits, self._int_digits(v)) if self.whole else self.digits
        return self._plain(v, digits, self.decimals, sep=self.lang != "zh" or abs(v) >= 1e4)

    @staticmethod
    def _int_digits(v: float) -> int:
        return len(str(int(abs(v)))) if abs(v) >= 1 else 1

    @staticmethod
    def _plain(v: float, digits: int, decimals: int, *, sep: bool) -> str:
        """``v`` to ``digits`` significant digits and at most ``decimals``, zeros stripped."""
        if v == 0:
            return "0"
        exponent = math.floor(math.log10(abs(v)))
        places = min(digits - 1 - exponent, decimals)
        step = 10.0**places  # half away from zero: 2.5 -> 3, as people round
        rounded = math.copysign(math.floor(abs(v) * step + 0.5) / step, v)
        shown = max(places, 0)
        text = f"{rounded:,.{shown}f}" if sep else f"{rounded:.{shown}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text


def language(lang: str | None, label: str) -> str:
    """The language numbers are written in: given, else Chinese when the unit is."""
    if lang in ("zh", "en"):
        return str(lang)
    return "zh" if has_cjk(unit_of(label)) else "en"


def for_values(values: Iterable[float], *, label: str = "", lang: str | None = None) -> Formatter:
    """A tooltip's formatter of a column: 4 significant digits, whole integer part."""
    unit = unit_of(label)
    return Formatter(TOOLTIP_DIGITS, resolution(values), language(lang, label),
                     not _SCALED.search(unit), whole=True)  # fmt: skip


def for_breaks(
    values: Iterable[float], breaks: Iterable[float], *, label: str = "", lang: str | None = None
) -> Formatter:
    """A legend's formatter: the fewest significant digits that tell the bounds apart.

    ``breaks`` are the class bounds shown (with the minimum); digits never pass the
    data's resolution, so bounds the data cannot tell apart stay alike.
    """
    unit = unit_of(label)
    base = Formatter(BREAK_DIGITS[0], resolution(values), language(lang, label),
                     not _SCALED.search(unit))  # fmt: skip
    bounds = [float(b) for b in breaks]
    for digits in BREAK_DIGITS:
        fmt = Formatter(digits, base.decimals, base.lang, base.wan)
        if len({fmt(b) for b in bounds}) == len(set(bounds)):
            return fmt
    return Formatter(BREAK_DIGITS[-1], base.decimals, base.lang, base.wan)
