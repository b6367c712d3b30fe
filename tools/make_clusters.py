"""Rebuild geotool/data/clusters.csv from ../shared/reference/city_clusters.csv.

The reference gives one row per (definition, prefecture). Rows whose scope is
``partial`` carry their county lists in free text; this script turns each into an
explicit ``include`` or ``exclude`` list (semicolon-separated names as printed) and
sets ``rule``:

* ``whole``: every county-level unit of the prefecture;
* ``include``: only the listed units;
* ``exclude``: the prefecture without the listed units;
* ``unverified``: the plan names only "part of the counties" and no list was checked,
  so no member is invented (抚州, 吉安 in 长江中游; 博尔塔拉 in the wider 天山北坡 only);
* ``contested``: kept out of the definition (丹东; 吐鲁番, 哈密).

Usage: python tools/make_clusters.py ../shared/reference/city_clusters.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RULES: dict[tuple[str, str], tuple[str, str]] = {
    ("middle_yangtze_2015", "抚州市"): ("unverified", ""),
    ("middle_yangtze_2015", "吉安市"): ("unverified", ""),
    ("chengdu_chongqing_2016", "重庆市"): (
        "include",
        "渝中区;万州区;黔江区;涪陵区;大渡口区;江北区;沙坪坝区;九龙坡区;南岸区;北碚区;綦江区;"
        "大足区;渝北区;巴南区;长寿区;江津区;合川区;永川区;南川区;潼南区;铜梁区;荣昌区;璧山区;"
        "梁平区;丰都县;垫江县;忠县",
    ),
    ("chengdu_chongqing_2016", "绵阳市"): ("exclude", "北川县;平武县"),
    ("chengdu_chongqing_2016", "达州市"): ("exclude", "万源市"),
    ("chengdu_chongqing_2016", "雅安市"): ("exclude", "天全县;宝兴县"),
    ("guanzhong_plain_2018", "商洛市"): ("include", "商州区;洛南县;丹凤县;柞水县"),
    ("guanzhong_plain_2018", "运城市"): ("exclude", "平陆县;垣曲县"),
    ("guanzhong_plain_2018", "临汾市"): (
        "include",
        "尧都区;侯马市;襄汾县;霍州市;曲沃县;翼城县;洪洞县;浮山县",
    ),
    ("guanzhong_plain_2018", "平凉市"): ("include", "崆峒区;华亭县;泾川县;崇信县;灵台县"),
    ("guanzhong_plain_2018", "庆阳市"): ("include", "西峰区"),
    ("central_guizhou_2017", "遵义市"): ("include", "红花岗区;汇川区;播州区;绥阳县;仁怀市"),
    ("central_guizhou_2017", "安顺市"): ("include", "西秀区;平坝区;普定县;镇宁县"),
    ("central_guizhou_2017", "毕节市"): ("include", "七星关区;大方县;黔西县;金沙县;织金县"),
    ("central_guizhou_2017", "黔东南苗族侗族自治州"): ("include", "凯里市;麻江县"),
    ("central_guizhou_2017", "黔南布依族苗族自治州"): (
        "include",
        "都匀市;福泉市;贵定县;瓮安县;长顺县;龙里县;惠水县",
    ),
    ("central_yunnan_2020", "红河哈尼族彝族自治州"): (
        "include",
        "蒙自市;个旧市;开远市;建水县;弥勒市;泸西县;石屏县",
    ),
    ("lanzhou_xining_2018", "白银市"): ("include", "白银区;平川区;靖远县;景泰县"),
    ("lanzhou_xining_2018", "定西市"): ("include", "安定区;陇西县;渭源县;临洮县"),
    ("lanzhou_xining_2018", "临夏回族自治州"): ("include", "临夏市;东乡族自治县;永靖县;积石山县"),
    ("lanzhou_xining_2018", "海北藏族自治州"): ("include", "海晏县"),
    ("lanzhou_xining_2018", "海南藏族自治州"): ("include", "共和县;贵德县;贵南县"),
    ("lanzhou_xining_2018", "黄南藏族自治州"): ("include", "同仁县;尖扎县"),
    ("ningxia_yellow_river_customary", "吴忠市"): ("include", "利通区;青铜峡市"),
    ("ningxia_yellow_river_customary", "中卫市"): ("include", "沙坡头区;中宁县"),
    ("tianshan_north_slope_customary", "昌吉回族自治州"): (
        "include",
        "昌吉市;阜康市;呼图壁县;玛纳斯县",
    ),
    ("tianshan_north_slope_customary", "塔城地区"): ("include", "乌苏市;沙湾县"),
    ("tianshan_north_slope_customary", "伊犁哈萨克自治州"): ("include", "奎屯市"),
    ("tianshan_north_slope_customary", "博尔塔拉蒙古自治州"): ("unverified", ""),
    ("central_south_liaoning_wide", "丹东市"): ("contested", ""),
    ("tianshan_north_slope_customary", "吐鲁番市"): ("contested", ""),
    ("tianshan_north_slope_customary", "哈密市"): ("contested", ""),
}


def main(reference: str) -> None:
    """Write geotool/data/clusters.csv from the reference table at ``reference``."""
    ref = pd.read_csv(reference, dtype=str)
    rules = [
        RULES.get((d, p), ("whole", ""))
        for d, p in zip(ref["definition"], ref["prefecture"], strict=True)
    ]
    ref["rule"] = [r for r, _ in rules]
    ref["units"] = [u for _, u in rules]
    partial = ref[ref["scope"] != "whole"]
    missing = partial[partial["rule"] == "whole"]
    if len(missing):
        where = missing[["definition", "prefecture"]].to_numpy().tolist()
        msg = f"partial/contested rows without a rule: {where}"
        raise SystemExit(msg)
    out = Path(__file__).resolve().parents[1] / "geotool" / "data" / "clusters.csv"
    ref.to_csv(out, index=False)
    print(f"wrote {out}: {len(ref)} rows, rules {ref['rule'].value_counts().to_dict()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/city_clusters.csv")
