"""The validators of geotool._validate: a clean value or an InputError naming the parameter."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotool import _validate as v
from geotool._errors import InputError

FAST = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

# Anything a user or a config file might pass.
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**5000), max_value=10**5000),
    st.floats(),
    st.text(max_size=50),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.float32, st.floats(width=32)),
)


def _refused(call, match: str) -> str:
    with pytest.raises(InputError, match=match) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    return message


# --- permutations ----------------------------------------------------------------


def test_permutations_accepts_zero_and_99_up():
    assert v.permutations(0, n_units=10) == 0
    assert v.permutations(99, n_units=10) == 99
    assert v.permutations(999.0, n_units=10) == 999
    assert v.permutations(np.int32(9999), n_units=2875) == 9999


def test_permutations_refusals():
    _refused(lambda: v.permutations(-1, n_units=10), r"^permutations=-1: must not be negative")
    message = _refused(lambda: v.permutations(1, n_units=10), r"^permutations=1: fewer than 99")
    assert "p <= 0.01; use 0 for analytical only or >= 99" in message
    _refused(lambda: v.permutations(98, n_units=10), "fewer than 99")
    _refused(lambda: v.permutations(100_000, n_units=10), r"more than the cap of 99,999")
    _refused(lambda: v.permutations(99.5, n_units=10), r"permutations=99.5 \(float\): pass a whole")
    _refused(lambda: v.permutations("999", n_units=10), r"permutations='999' \(str\)")
    _refused(lambda: v.permutations(True, n_units=10), r"not a boolean")
    _refused(lambda: v.permutations(math.nan, n_units=10), r"pass a whole number")
    _refused(lambda: v.permutations(10**5000, n_units=10), r"-bit number\): more than the cap")
    _refused(lambda: v.permutations(5, n_units=10, name="n_perm"), r"^n_perm=5")


def test_permutations_memory_estimate():
    # 2,875 units x 99,999 permutations x 8 bytes = 2.1 GiB
    assert v.permutations(99_999, n_units=2875) == 99_999
    message = _refused(
        lambda: v.permutations(99_999, n_units=20_000),
        r"about 14.9 GiB \(20,000 x 99,999 x 8 bytes\), more than the limit of 4.0 GiB",
    )
    assert message.startswith("permutations=99,999: over 20,000 units")
    assert v.permutations(99_999, n_units=20_000, block=1000) == 99_999
    _refused(lambda: v.permutations(999, n_units=10**6, memory_limit=2**30), r"GiB")


# --- seed, alpha, share ------------------------------------------------------------


def test_seed():
    assert v.seed(0) == 0
    assert v.seed(2**32 - 1) == 2**32 - 1
    assert v.seed(np.uint32(7)) == 7
    _refused(lambda: v.seed(-1), r"^seed=-1: use a whole number from 0 to 4,294,967,295")
    _refused(lambda: v.seed(2**32), r"^seed=4,294,967,296")
    _refused(lambda: v.seed(1.5), r"^seed=1.5 \(float\): pass a whole number")
    _refused(lambda: v.seed("1"), r"^seed='1' \(str\)")


def test_alpha_and_share():
    assert v.alpha(0.05) == 0.05
    for bad, pattern in [
        (0, r"^alpha=0: a significance level is between 0 and 1"),
        (1, r"^alpha=1:"),
        (-0.1, r"^alpha=-0.1:"),
        (math.nan, r"^alpha=nan: pass a finite number"),
        (math.inf, r"^alpha=inf: pass a finite number"),
        ("0.05", r"^alpha='0.05' \(str\): pass a number"),
        (True, r"^alpha=True \(bool\)"),
        (10**400, r"too large"),
    ]:
        _refused(lambda bad=bad: v.alpha(bad), pattern)
    assert v.share(0, "max_unmatched") == 0.0
    assert v.share(1, "max_unmatched") == 1.0
    _refused(lambda: v.share(math.nan, "max_unmatched"), r"^max_unmatched=nan")
    _refused(lambda: v.share(1.5, "max_unmatched"), r"^max_unmatched=1.5: a share is from 0 to 1")


# --- classes ---------------------------------------------------


def test_classes_messages_make_sense():
    assert v.classes(4, n_distinct=100) == 4
    assert v.classes(1, n_distinct=1, minimum=1) == 1
    assert _refused(lambda: v.classes(0, n_distinct=100), "k=0") == "k=0: need at least 2 classes."
    _refused(lambda: v.classes(-3, n_distinct=100), r"^k=-3: need at least 2 classes")
    message = _refused(lambda: v.classes(7, n_distinct=4), r"only 4 distinct values, so at most 4")
    assert "at least 0" not in message
    _refused(lambda: v.classes(2, n_distinct=1), r"^k=2: the data have 1 distinct value\(s\)")
    _refused(lambda: v.classes(0, n_distinct=0, name="n_classes"), r"^n_classes=0: need at least 2")


def test_finite_values_accepts_numbers_and_numeric_text():
    out = v.finite_values(pd.Series([1, 2.5, -3], index=list("abc")), "value_col")
    assert out.dtype == "float64" and out.tolist() == [1.0, 2.5, -3.0]
    out = v.finite_values(pd.Series([" 1 ", "2e3"], index=["x", "y"]), "value_col")
    assert out.tolist() == [1.0, 2000.0]
    assert v.finite_values(pd.Series([True, False]), "member").tolist() == [1.0, 0.0]


def test_finite_values_refusals_name_up_to_five_labels():
    labels = [f"u{i}" for i in range(8)]
    missing = pd.Series([np.nan] * 7 + [1.0], index=labels)
    message = _refused(
        lambda: v.finite_values(missing, "value_col='score'"),
        r"^value_col='score': 7 value\(s\) are missing at u0, u1, u2, u3, u4 and 2 more",
    )
    assert "u5" not in message
    inf = pd.Series([1.0, np.inf, -np.inf], index=["a", "b", "c"])
    _refused(lambda: v.finite_values(inf, "value_col"), r"2 value\(s\) are infinite at b, c")
    huge = pd.Series([1.0, 1e200], index=["a", "b"])
    _refused(lambda: v.finite_values(huge, "value_col"), r"as large as 1e\+200 at b .*rescale")
    text = pd.Series(["1", "abc", "x" * 10_000], index=["a", "b", "c"])
    message = _refused(
        lambda: v.finite_values(text, "value_col"), r"2 value\(s\) are not numbers \(e.g. 'abc'"
    )
    assert len(message) < 300
    _refused(lambda: v.finite_values(pd.Series([], dtype=float), "value_col"), "no values")
    _refused(lambda: v.finite_values(pd.Series([1j]), "value_col"), r"type complex128")
    _refused(lambda: v.finite_values(pd.Series(pd.to_datetime(["2020"])), "v"), r"datetime64")
    _refused(lambda: v.finite_values([1, 2], "value_col"), r"expected a pandas Series")


def test_finite_values_missing_text_cells():
    _refused(lambda: v.finite_values(pd.Series(["1", None, ""]), "v"), r"2 value\(s\) are missing")


# --- years -----------------------------------------------------------------------


def test_year_labels_normalise_and_reject_with_reasons():
    cells = pd.Series(
        ["2020", "2020年", 2020.0, " 2020 ", "２０２０", "二〇二〇年", 2019, None, "", "FY2020",
         "2020.5", 20, "2019-2020", np.nan, True, "\u3000２０２１年\u3000"],
        index=[f"r{i}" for i in range(16)],
    )  # fmt: skip
    years, rejected = v.year_labels(cells, "年份")
    assert years.dtype == "int64"
    assert years.to_dict() == {
        "r0": 2020, "r1": 2020, "r2": 2020, "r3": 2020, "r4": 2020, "r5": 2020, "r6": 2019,
        "r15": 2021,
    }  # fmt: skip
    assert rejected.columns.tolist() == ["年份", "reason"]
    assert rejected["reason"].to_dict() == {
        "r7": "empty", "r8": "empty", "r9": "not a year: 'FY2020'",
        "r10": "not a year: '2020.5'", "r11": "not a four-digit year: 20",
        "r12": "not a year: '2019-2020'", "r13": "empty", "r14": "not a year: True",
    }  # fmt: skip
    assert len(years) + len(rejected) == len(cells)


def test_year_labels_keep_duplicate_index_labels_apart():
    years, rejected = v.year_labels(pd.Series(["2020", "x"], index=[0, 0]), "reason")
    assert years.tolist() == [2020]
    assert rejected.columns.tolist() == ["value", "reason"]


# --- output paths ------------------------------------------------------------------


def test_output_file(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    out = v.output_file(tmp_path / "new" / "result.csv", inputs=[data, None])
    assert out == (tmp_path / "new" / "result.csv").resolve()
    assert not (tmp_path / "new").exists()  # nothing is created
    message = _refused(
        lambda: v.output_file(tmp_path / "." / "data.csv", inputs=[data]),
        r"is the input file .*data.csv; writing there would overwrite your data",
    )
    assert message.startswith("out=")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    _refused(lambda: v.output_file(link, inputs=[str(data)]), "overwrite your data")
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    _refused(lambda: v.output_file(hard, inputs=[data]), "overwrite your data")
    _refused(lambda: v.output_file(tmp_path, inputs=[data]), r"is an existing folder; give a file")
    _refused(lambda: v.output_file(data / "x.csv"), r"data.csv on its path is a file")
    _refused(lambda: v.output_file(""), r"^out='': pass a path")
    _refused(lambda: v.output_file(None, name="report_path"), r"^report_path=None")


def test_output_dir(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    assert v.output_dir(tmp_path / "out") == (tmp_path / "out").resolve()
    assert v.output_dir(tmp_path) == tmp_path.resolve()
    _refused(lambda: v.output_dir(data, inputs=[data]), "overwrite your data")
    _refused(lambda: v.output_dir(data), r"is an existing file; give a folder path")
    assert not list(tmp_path.glob(".geotool-probe-*"))  # the probe cleans up


def test_read_only_location_is_found_by_a_real_probe(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    _refused(lambda: v.output_dir(tmp_path / "out"), r"is not writable \(Permission denied\)")
    _refused(lambda: v.output_file(tmp_path / "x.csv"), r"is not writable")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    _refused(lambda: v.output_dir(locked / "out"), r"not writable")


# --- file names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x/../../../ESCAPED", "x_._._._ESCAPED"),
        ("..", "unnamed"),
        ("", "unnamed"),
        ("...hidden", "hidden"),
        ("a\\b:c*d?e", "a_b_c_d_e"),
        ("创新 指数", "创新 指数"),
        ("CON", "_CON"),
        ("nul.csv", "_nul.csv"),
        ("a\x00b\nc\u202ed", "a_b_c_d"),
        ("name. ", "name"),
    ],
)
def test_safe_filename(text, expected):
    assert v.safe_filename(text) == expected


def test_safe_filename_caps_bytes_and_keeps_long_names_apart():
    one, two = v.safe_filename("名" * 200 + "1"), v.safe_filename("名" * 200 + "2")
    assert one != two
    assert len(one.encode("utf-8")) <= 120 and len(two.encode("utf-8")) <= 120


# --- properties ------------------------------------------------------------------


def _clean_or_input_error(call):
    try:
        return call()
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400, str(exc)
        return None


@FAST
@given(value=ANYTHING, n_units=st.integers(1, 10**6))
def test_numeric_validators_give_a_clean_value_or_an_input_error(value, n_units):
    got = _clean_or_input_error(lambda: v.permutations(value, n_units=n_units))
    assert got is None or (type(got) is int and (got == 0 or 99 <= got <= v.MAX_PERMUTATIONS))
    got = _clean_or_input_error(lambda: v.seed(value))
    assert got is None or (type(got) is int and 0 <= got < 2**32)
    got = _clean_or_input_error(lambda: v.alpha(value))
    assert got is None or (type(got) is float and 0 < got < 1)
    got = _clean_or_input_error(lambda: v.share(value, "max_unmatched"))
    assert got is None or (type(got) is float and 0 <= got <= 1)
    got = _clean_or_input_error(lambda: v.classes(value, n_distinct=n_units % 20))
    assert got is None or (type(got) is int and 2 <= got <= n_units % 20)


@FAST
@given(st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=12), st.none())))
def test_finite_values_gives_finite_floats_or_an_input_error(cells):
    series = pd.Series(cells, dtype=object)
    got = _clean_or_input_error(lambda: v.finite_values(series, "value_col"))
    if got is not None:
        assert got.dtype == "float64" and len(got) == len(cells)
        assert np.isfinite(got).all() and (got.abs() <= v.MAX_VALUE).all()


@FAST
@given(st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=8), st.none())))
def test_year_labels_never_lose_a_row(cells):
    series = pd.Series(cells, dtype=object)
    years, rejected = v.year_labels(series, "year")
    assert len(years) + len(rejected) == len(cells)
    assert ((years >= 1000) & (years <= 9999)).all()
    assert rejected["reason"].map(lambda r: isinstance(r, str) and r != "").all()


@FAST
@given(st.text(max_size=300))
def test_safe_filename_is_one_safe_component(text):
    name = v.safe_filename(text)
    assert name and name not in (".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name and ".." not in name
    assert all(ord(c) >= 32 for c in name)
    assert len(name.encode("utf-8")) <= 120
    root = Path("/out")
    assert (root / name).resolve().parent == root.resolve()


def test_excel_thousands_separators_are_read_and_other_commas_refused():
    got = v.finite_values(pd.Series(["12", " 1,234", "-2,345,678.5", 7]), "value_col='GDP'")
    assert got.tolist() == [12.0, 1234.0, -2345678.5, 7.0]
    for guess in ("1,5", "1.234,5", "12,34", "1,2345", ",123"):  # never a guessed number
        with pytest.raises(InputError, match="fix or remove them"):
            v.finite_values(pd.Series(["12", guess]), "value_col='GDP'")
    with pytest.raises(InputError, match="fix or remove them"):  # not a grouped number
        v.finite_values(pd.Series(["12", "1,5"]), "value_col='GDP'")


def test_a_mount_point_is_never_an_output_folder(tmp_path):
    for root in ("/", "/proc"):
        with pytest.raises(InputError, match=r"is a mount point .* give a new folder inside it"):
            v.output_dir(root, name="out")
    assert v.output_dir(tmp_path / "new", name="out") == (tmp_path / "new").resolve()


def test_an_output_file_that_is_a_symbolic_link_is_refused_and_its_target_kept(tmp_path):
    """Another user's link in a shared folder would make the write replace any file of yours."""
    victim = tmp_path / "victim.html"
    victim.write_text("yours", encoding="utf-8")
    link = tmp_path / "map.html"
    link.symlink_to(victim)
    with pytest.raises(InputError, match=r"^out=.*map\.html is a symbolic link"):
        v.output_file(link)
    with pytest.raises(InputError, match="symbolic link"):
        v.output_file(str(link), name="out")
    assert victim.read_text(encoding="utf-8") == "yours"
    assert v.output_file(tmp_path / "new.html") == (tmp_path / "new.html").resolve()


def test_numbers_typed_full_width_are_read():
    import math

    import pandas as pd

    from geotool._validate import text_numbers

    cells = pd.Series(["３０３０．２", "１，４３５．６", "－５", "　７　", "１２ａ", "1,5"])
    got = text_numbers(cells).tolist()
    assert got[:4] == [3030.2, 1435.6, -5.0, 7.0]
    assert all(math.isnan(v) for v in got[4:])  # not numbers, never guessed


def test_cells_marked_missing_are_missing_and_numbers_as_tables_write_them_are_read(caplog):
    """Yearbooks write a missing value as —, … or 缺 (not "not a number"); 8.5%, 1 200,
    −35.2 (U+2212) and ３,０００ are numbers. Anything else is still refused, the accepted
    forms listed."""
    import logging

    from geotool._validate import _as_numbers

    cells = pd.Series(["—", "缺", "…", "n/a", "8.5%", "1 200", "−35.2", "３,０００", "12"])
    with caplog.at_level(logging.INFO):
        got = _as_numbers(cells, "value_col='产值'")
    assert got.isna().tolist() == [True] * 4 + [False] * 5
    assert got.dropna().tolist() == [8.5, 1200.0, -35.2, 3000.0, 12.0]
    assert "4 cell(s) marked as missing ('—', '缺', '…') read as missing at 0, 1, 2" in caplog.text
    with pytest.raises(InputError, match=r"not numbers \(e.g. '1.2万'.*missing: a blank, — or 缺"):
        _as_numbers(pd.Series(["1", "1.2万"]), "value_col='产值'")
