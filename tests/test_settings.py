"""``geotool.settings`` values are read at call time: caches follow a changed folder."""

from __future__ import annotations

import shutil

import pandas as pd

from geotool import match, settings
from geotool.report import rankings


def test_caches_follow_a_changed_data_dir(tmp_path, monkeypatch):
    original = rankings.load("industrial_counties").loc[0, "name"]
    assert original == "江阴市"
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    table = (copy / "rankings_2020.csv").read_text(encoding="utf-8")
    (copy / "rankings_2020.csv").write_text(table.replace("江阴市", "江阴县"), encoding="utf-8")
    monkeypatch.setattr(settings, "data_dir", copy)
    assert rankings.load("industrial_counties").loc[0, "name"] == "江阴县"
    assert len(match.resolve(pd.DataFrame({"县": ["江阴市"]}))) == 1
    monkeypatch.undo()
    assert rankings.load("industrial_counties").loc[0, "name"] == original
