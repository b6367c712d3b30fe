"""The main job (``geotool run``): every analysis on the bundled data, written to ``outputs/``.

Files are written atomically (a temporary file in the same folder, then a rename), so
an interrupted run never leaves a half-written file, and a run only ever writes the
files it names: it deletes nothing.

The analyses that exist so far: the report check and the rankings joined to the
boundaries. Later stages (autocorrelation, tiers, clusters, maps) add their outputs
here as they land.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from geotool import __version__, boundaries, rankings
from geotool._log import log
from geotool.report import check_report

__all__ = ["run", "write_atomic"]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8-sig")


def run(out_dir: Path | str = "outputs", *, seed: int, permutations: int) -> dict[str, Any]:
    """Run the main job and write ``out_dir``; return the summary written as ``summary.json``."""
    out = Path(out_dir)
    files: list[str] = []

    log("checking the report's figures ...")
    checks = check_report()
    write_atomic(out / "tables" / "check_report.csv", _csv(checks))
    files.append("tables/check_report.csv")

    log("joining the rankings to the boundaries ...")
    units = boundaries.units()
    table = rankings.load()
    joined = table.merge(
        units[
            ["name", "unit_type", "prefecture", "province", "area_km2", "rep_lon", "rep_lat"]
        ].add_prefix("unit_"),
        left_on="adcode",
        right_index=True,
        how="left",
        validate="many_to_one",
    )
    write_atomic(out / "tables" / "rankings.csv", _csv(joined))
    files.append("tables/rankings.csv")

    status = checks["status"].value_counts().to_dict()
    summary: dict[str, Any] = {
        "geotool_version": __version__,
        "boundaries": {k: boundaries.metadata()[k] for k in ("source", "datum", "counts")},
        "seed": seed,
        "permutations": permutations,
        "check_report": {"ok": status.get("mismatch", 0) == 0, "status_counts": status},
        "match": {
            name: table.loc[table["ranking"] == name, "match_method"].value_counts().to_dict()
            for name in rankings.RANKINGS
        },
        "universe_sizes": {name: len(rankings.universe(name)) for name in rankings.RANKINGS},
    }
    files.append("summary.json")
    summary["files"] = files
    write_atomic(out / "summary.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    log(f"wrote {len(files)} files to {out}")
    return summary
