"""``--permutations 0`` means analytical only, and fewer than 99 is refused, in every command."""

from __future__ import annotations

import json

import pytest

from geotool.cli import main

COMMANDS = {
    "autocorr": ["autocorr", "--json"],
    "tiers": ["tiers", "--json"],
    "clusters": ["clusters", "--json"],
    "map": ["map", "lisa"],
    "run": ["run"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_fewer_than_99_permutations_are_refused(command, tmp_path, capsys):
    args = [*COMMANDS[command], "--permutations", "50"]
    args += ["--out", str(tmp_path / ("m.html" if command == "map" else "out"))]
    if command == "clusters":
        args = args[:-2]  # clusters writes nothing
    assert main(["--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "fewer than 99 permutations" in err[0] and "--permutations 50" in err[0]
    )
    assert not (tmp_path / "out" / "summary.json").exists()


def test_zero_permutations_autocorr_gives_no_permutation_p(tmp_path, capsys):
    assert (
        main(["--quiet", "autocorr", "--json", "--permutations", "0", "--out", str(tmp_path)]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    moran = next(r for r in payload["global"] if r["statistic"] == "moran_i")
    assert moran["p_sim"] is None and moran["p_norm"] < 1e-100
    assert payload["lisa_counts"]["Not significant"] == 1861  # no permutation, no class


def test_zero_permutations_tiers_and_clusters(capsys):
    assert main(["--quiet", "tiers", "--json", "--permutations", "0"]) == 0
    tiers = json.loads(capsys.readouterr().out)
    assert all(r["spearman_p"] is None for r in tiers["gradient"])
    assert "not tested" in tiers["verdict"]
    assert main(["--quiet", "clusters", "--json", "--permutations", "0"]) == 0
    clusters = json.loads(capsys.readouterr().out)
    assert all(r["spearman_p"] is None for r in clusters["radiation"])


def test_zero_permutations_run(tmp_path):
    out = tmp_path / "out"
    assert main(["--quiet", "run", "--permutations", "0", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    mi = summary["autocorrelation"]["industrial_counties"]["moran_i"]["queen"]
    assert mi["p_sim"] is None  # missing (JSON null), not 1
    assert "NaN" not in (out / "summary.json").read_text(encoding="utf-8")
    assert mi["p_norm"] < 1e-100
    assert "–" in (out / "index.html").read_text(encoding="utf-8")  # shown as missing
