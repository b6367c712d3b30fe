import networkx as nx
import pandas as pd
import pytest

from geotool import boundaries, clusters
from geotool._errors import InputError
from geotool.report import rankings

from .test_cli import run_main


@pytest.fixture(scope="module")
def top():
    return rankings.load("industrial_counties")


REPORT = {
    "yangtze_delta": 40,
    "west_strait": 11,
    "central_plains": 10,
    "middle_yangtze": 10,
    "shandong_peninsula": 9,
    "hohhot_baotou_ordos_yulin": 6,
    "jingjinji": 2,
    "central_south_liaoning": 1,
    "huaihai": 7,
    "outside": 4,
}


def test_report2020_reproduces_the_reports_counts_county_by_county(top):
    counts = clusters.ranking_counts("report2020", top).set_index("cluster_id")
    assert counts["count"].to_dict() == REPORT
    assert sorted(counts.loc["outside", "units"].split(";")) == [
        "仁怀市",
        "库尔勒市",
        "灵武市",
        "邹平市",
    ]
    ms = clusters.membership("report2020")
    # the priorities the report implies
    assert ms.loc["320981", "clusters"] == "yangtze_delta;huaihai"  # 东台市
    assert ms.loc["320981", "primary_cluster"] == "yangtze_delta"
    assert ms.loc["130481", "primary_cluster"] == "jingjinji"  # 武安市, also in 中原
    assert "central_plains" in ms.loc["130481", "clusters"]


@pytest.mark.parametrize("spec", ["report2020", "plans"])
def test_every_definition_validates_against_the_boundaries(spec):
    checked = clusters.check_geometry(spec)
    assert len(checked) == len(clusters.SETS[spec])
    units = boundaries.units().index
    for d in clusters.SETS[spec]:
        m = clusters.members(d)
        assert m["adcode"].isin(units).all() and m["adcode"].is_unique and len(m) > 0


def test_members_follow_the_rules():
    # 莱芜市 (merged into 济南 in 2019) resolves to 莱芜区 + 钢城区
    sd = set(clusters.members("shandong_peninsula_2017")["adcode"])
    assert {"370116", "370117"} <= sd
    # include lists: 商洛 only 4 of its 7 units in 关中平原
    gz = clusters.members("guanzhong_plain_2018")
    assert (gz["prefecture_listed"] == "商洛市").sum() == 4
    assert "610403" in set(gz["adcode"])  # 杨凌示范区 -> 杨陵区
    # exclude lists: 绵阳 without 北川 and 平武
    cy = clusters.members("chengdu_chongqing_2016")
    mianyang = set(boundaries.units().query("prefecture == '绵阳市'").index)
    assert mianyang - set(cy["adcode"]) == {"510726", "510727"}
    # unverified partial rows invent no members: 抚州, 吉安 in 长江中游
    my = clusters.members("middle_yangtze_2015")
    assert not (my["prefecture_listed"].isin(["抚州市", "吉安市"])).any()
    # the Greater Bay Area includes Hong Kong and Macau
    gba = set(clusters.members("greater_bay_area_2019")["adcode"])
    assert any(c.startswith("81") for c in gba) and any(c.startswith("82") for c in gba)


def test_plans_differ_from_report2020_where_expected(top):
    changes = clusters.set_changes("report2020", "plans", top).set_index("name")
    assert changes.loc["仁怀市", "cluster_plans"] == "central_guizhou"
    assert changes.loc["灵武市", "cluster_plans"] == "ningxia_yellow_river"
    assert changes.loc["邹平市", "cluster_plans"] == "shandong_peninsula"
    assert "库尔勒市" not in changes.index  # 天山北坡 (customary) does not reach 巴州


def test_network_belts_radiation_and_overlaps(top):
    units = boundaries.units()
    w = clusters.county_contiguity()
    g = clusters.network(
        w,
        positions=units[["rep_lon", "rep_lat"]].set_axis(["x", "y"], axis=1),
        attributes=units[["name", "province"]],
        crs="EPSG:4326",
    )
    assert g.graph["crs"] == "EPSG:4326"
    assert g.number_of_nodes() == 2875 and g.number_of_edges() == 8205
    assert g.nodes["320281"]["name"] == "江阴市" and 119 < g.nodes["320281"]["x"] < 121
    belts = clusters.belts(
        pd.Series(True, index=top["adcode"]),
        w,
        order=top.set_index("adcode")["rank"],
        labels=units["name"],
        groups=clusters.membership("report2020")["primary_zh"],
    )
    assert belts["size"].sum() == 100
    largest = belts.iloc[0]
    assert largest["size"] == 17 and largest["best_rank"] == 1
    assert "江阴市" in largest["members"]
    dist = clusters.core_distances("report2020").set_index("adcode")
    assert dist.loc["310101", "hops"] == 0 and dist.loc["310101", "km"] < 1
    assert dist.loc["320583", "hops"] == 1  # 昆山 borders 上海
    rad = clusters.radiation("report2020", top, permutations=199, seed=3).set_index("cluster_id")
    assert rad.loc["all", "n"] == 96
    assert rad.loc["yangtze_delta", "spearman_rho"] > 0.3
    assert rad.loc["yangtze_delta", "spearman_p"] < 0.05
    og, table = clusters.overlaps("plans")
    assert isinstance(og, nx.Graph)
    pair = table[(table["a"] == "jingjinji_2015") & (table["b"] == "central_plains_2016")]
    assert pair["shared"].iloc[0] > 0


def test_user_sets_from_yaml_and_csv(tmp_path, top):
    yml = tmp_path / "mine.yaml"
    yml.write_text(
        "name: mine\ndefinitions:\n  - huaihai_wider_20\n  - yangtze_delta_2016\n", encoding="utf-8"
    )
    counts = clusters.ranking_counts(yml, top).set_index("cluster_id")["count"]
    assert counts["huaihai"] == 8  # 东台 now counts for 淮海
    csv = tmp_path / "mine.csv"
    pd.DataFrame({"definition": ["jingjinji_2015"]}).to_csv(csv, index=False)
    assert clusters.load_set(csv) == ("mine", ["jingjinji_2015"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("definitions: [nowhere_2030]\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown definitions"):
        clusters.load_set(bad)
    with pytest.raises(InputError, match="Unknown definition set"):
        clusters.load_set("everything")


def test_clusters_cli(tmp_path):
    proc = run_main("clusters", "--permutations", "99")
    assert proc.returncode == 0, proc.stderr
    assert "code and geometry membership agree" in proc.stdout
    proc = run_main("clusters", "--set", str(tmp_path / "none.yaml"))
    assert proc.returncode == 2 and "Unknown definition set" in proc.stderr
    assert rankings.load("industrial_counties")["adcode"].is_unique


def test_a_run_counts_under_the_users_set_first_and_the_official_ones_beside(tmp_path):
    """``--set FILE`` reaches the clusters stage: its tables, and the index's section."""
    import json
    from pathlib import Path

    own = tmp_path / "mine.yaml"
    own.write_text("name: 我的城市群\ndefinitions: [yangtze_delta_2016]\n", encoding="utf-8")
    table = Path(__file__).parents[1] / "examples" / "innovation_scores_gbk.csv"
    out = tmp_path / "o"
    proc = run_main("run", str(table), "--set", str(own), "--permutations", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    found = json.loads((out / "summary.json").read_text(encoding="utf-8"))["clusters"]
    assert list(found)[2:5] == ["own", "report2020", "plans"]
    assert found["own"]["name"] == "我的城市群"
    counts = pd.read_csv(out / "tables" / "clusters_counts_own.csv")
    assert counts["cluster_id"].tolist()[0] == "yangtze_delta"
    assert "(我的城市群)</small>" in (out / "index.html").read_text(encoding="utf-8")


def test_a_definition_set_file_is_bounded_and_takes_no_yaml_aliases(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    lines = ['l0: &l0 "lol"'] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]"
                                 for i in range(1, 9)]  # fmt: skip
    bomb.write_text("\n".join([*lines, "name: *l8", "definitions: [yangtze_delta_2016]"]) + "\n",
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError, match="anchors or aliases"):
        clusters.load_set(bomb)
    big = tmp_path / "big.csv"
    big.write_text("definition\n" + "yangtze_delta_2016\n" * 60_000, encoding="utf-8")
    with pytest.raises(InputError, match="is over 1,000 kB"):
        clusters.load_set(big)
    odd = tmp_path / "odd.yaml"
    odd.write_text("name: [1, 2]\ndefinitions: [yangtze_delta_2016]\n", encoding="utf-8")
    with pytest.raises(InputError, match="`name` must be a short text"):
        clusters.load_set(odd)
    ok = tmp_path / "mine.yaml"
    ok.write_text("name: 我的城市群\ndefinitions: [yangtze_delta_2016]\n", encoding="utf-8")
    assert clusters.load_set(ok) == ("我的城市群", ["yangtze_delta_2016"])


def test_a_deeply_nested_yaml_set_is_refused_in_one_line(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\ndefinitions: " + "[" * 20_000 + "]" * 20_000 + "\n",
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError, match="nests its YAML too deeply"):
        clusters.load_set(deep)
