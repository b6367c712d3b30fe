"""The 2020 report as a recipe on geotool's public core.

Its rankings as data (:mod:`~geotool.report.rankings`), every figure it states recomputed
(:mod:`~geotool.report.check`), its maps (:mod:`~geotool.report.figures`) and the report as
one study with the one-table commands on its rankings (:mod:`~geotool.report.study`).
"""

from __future__ import annotations

from geotool.report import check, rankings
from geotool.report.check import check_report

__all__ = ["check", "check_report", "rankings"]
