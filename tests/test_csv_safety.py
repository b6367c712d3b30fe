"""to_csv_bytes: formula cells neutralised (OWASP CSV Injection), everything else round-trips."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotool._csv import _PLAIN_NUMBER, FORMULA_PREFIXES, neutralise, to_csv_bytes

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formula_cells_get_a_quote_numbers_do_not():
    frame = pd.DataFrame(
        {
            "name": ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "江阴市", "'=x", "-1.5"],
            "value": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            "count": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )
    rows = _rows(to_csv_bytes(frame))
    assert rows[0] == ["name", "value", "count"]
    assert [r[0] for r in rows[1:]] == [
        "'=1+1", "+1", "'-1+1", "'@SUM(A1)", "'\t=1", "'\r=1", "江阴市", "'=x", "-1.5",
    ]  # fmt: skip
    assert rows[1][1:] == ["-1.5", "-1"]


def test_headers_index_and_index_label_are_neutralised():
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["a"], "ok": ["-2"]})
    frame.index = pd.Index(["@x"], name="+row")
    assert _rows(to_csv_bytes(frame))[0] == ["'=cmd|' /C calc'!A0", "ok"]
    rows = _rows(to_csv_bytes(frame, index=True))
    assert rows == [["'+row", "'=cmd|' /C calc'!A0", "ok"], ["'@x", "a", "-2"]]
    rows = _rows(to_csv_bytes(frame, index_label="-row"))  # index_label implies index=True
    assert rows[0][0] == "'-row"
    multi = frame.set_index("ok", append=True)
    assert _rows(to_csv_bytes(multi, index=True))[1][:2] == ["'@x", "-2"]
    assert _rows(to_csv_bytes(frame, header=["=a", "b"]))[0] == ["'=a", "b"]


def test_quotes_separators_and_newlines_inside_cells_survive():
    frame = pd.DataFrame({"a": ['=HYPERLINK("http://x","y")', 'a,"b"\nc'], "b": [1, 2]})
    rows = _rows(to_csv_bytes(frame))
    assert rows[1][0] == '\'=HYPERLINK("http://x","y")'
    assert rows[2][0] == 'a,"b"\nc'


def test_other_dtypes_and_the_input_frame_is_not_changed():
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["=x", "y"]),
            "string": pd.array(["-x", None], dtype="string"),
            "flag": [True, False],
            "when": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "mixed": ["@a", -4],
        }
    )
    before = frame.copy()
    rows = _rows(to_csv_bytes(frame))
    assert rows[1] == ["'=x", "'-x", "True", "2020-01-01", "'@a"]
    assert rows[2] == ["y", "", "False", "2021-01-01", "-4"]
    pd.testing.assert_frame_equal(frame, before)


def test_neutralise_leaves_non_strings_alone():
    assert neutralise(-1) == -1
    assert neutralise(np.float64(-2.5)) == -2.5
    assert neutralise(None) is None
    assert neutralise("") == ""
    assert neutralise("-") == "-" and neutralise("+") == "+"  # a sign column's signs


def test_a_regression_tables_starred_numbers_stay_numbers_and_formulas_do_not():
    """``-1.597***`` (a coefficient with its stars) was written as ``'-1.597***``."""
    for cell in ("-1.597***", "+0.5*", "-2e-3**", "-0.274"):
        assert neutralise(cell) == cell
    for cell in ("-1.5****", "-1*A1", "-1.5*cmd", "+1*2", "-*", "--1", "-1.5 ***"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("\x00x") == "'\x00x"


def test_matches_what_pipeline_writes_for_safe_tables_but_with_crlf():
    frame = pd.DataFrame({"县": ["江阴市"], "值": [1.5]})
    expected = frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    assert to_csv_bytes(frame) == expected


def test_a_lone_carriage_return_cannot_start_a_new_row():
    frame = pd.DataFrame({"a": ["x\r=cmd|' /C calc'!A0", "y\n@SUM(1)"], "b": [1, 2]})
    data = to_csv_bytes(frame)
    assert b'"x\r=cmd' in data and b'"y\n@SUM' in data
    assert [r[0] for r in _rows(data)[1:]] == ["x\r=cmd|' /C calc'!A0", "y\n@SUM(1)"]


_TEXT = st.text(
    st.characters(exclude_categories=("Cs",)) | st.sampled_from(list("=+-@\t\r\n'\",")),
    max_size=20,
)


@FAST
@given(st.lists(st.tuples(_TEXT, st.floats(allow_nan=False), st.integers()), max_size=8))
def test_no_cell_read_back_starts_a_formula_and_the_rest_round_trips(rows):
    frame = pd.DataFrame(rows, columns=["text", "number", "whole"])
    back = _rows(to_csv_bytes(frame))
    assert back[0] == ["text", "number", "whole"]
    assert len(back) == len(rows) + 1
    for (text, number, whole), (cell, number_cell, whole_cell) in zip(rows, back[1:], strict=True):
        if text.startswith(FORMULA_PREFIXES) and neutralise(text) != text:
            assert cell == "'" + text
        else:
            assert cell == text
        assert float(number_cell) == number
        assert int(whole_cell) == whole
    read = pd.read_csv(
        io.BytesIO(to_csv_bytes(frame)), encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    assert len(read) == len(rows)
    for cell in read["text"]:
        assert not cell.startswith(FORMULA_PREFIXES) or _PLAIN_NUMBER.fullmatch(cell)


@FAST
@given(st.lists(_TEXT, min_size=1, max_size=5, unique=True))
def test_headers_read_back_never_start_a_formula(names):
    frame = pd.DataFrame([range(len(names))], columns=names)
    header = _rows(to_csv_bytes(frame))[0]
    assert header == [neutralise(n) for n in names]
    for cell in header:
        assert not cell.startswith(FORMULA_PREFIXES) or cell == neutralise(cell)
