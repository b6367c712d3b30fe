"""The 2020 report as a recipe on geotool's public core.

* :mod:`geotool.report.rankings`: tables 1-3 of the report as data, their universes,
  tiers and the variables derived from them;
* :mod:`geotool.report.check`: every figure the report states, recomputed
  (``geotool check-report``);
* :mod:`geotool.report.figures`: the report's four maps and the landing page;
* :mod:`geotool.report.study`: the report as one study (``geotool run``): its
  variables, tiers and the ``check-report`` stage, on :mod:`geotool.pipeline`; and the
  one-table commands on its rankings (``geotool autocorr``, ``tiers``, ``clusters``, ``map``).
"""

from __future__ import annotations

from geotool.report import check, rankings
from geotool.report.check import check_report

__all__ = ["check", "check_report", "rankings"]
