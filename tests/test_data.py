import pandas as pd

from geotool import boundaries, settings


def test_crosswalk_codes_against_the_boundaries():
    cw = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
    units = boundaries.units()
    assert cw["new_code"].isin(units.index).all()
    assert not cw["old_code"].isin(units.index).any()  # retired codes
    names = units.loc[cw["new_code"], "name"].to_numpy()
    assert (names == cw["new_name"].to_numpy()).all()
    assert set(cw["extent"]) <= {"same", "merged"}
    assert pd.to_datetime(cw["effective"]).notna().all()


def test_provinces_table_matches_the_boundaries():
    prov = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    assert prov["province_code"].is_unique and len(prov) == 34
    layer = boundaries.load("province")
    assert set(prov["province_code"]) == set(layer.index)
    assert (layer.loc[prov["province_code"], "province"].to_numpy() == prov["province"]).all()
    assert prov.groupby("region").size().to_dict() == {
        "central": 6,
        "east": 10,
        "none": 3,
        "northeast": 3,
        "west": 12,
    }
