"""read_table on hostile input: every failure an InputError, one line, naming the fix."""

from __future__ import annotations

import csv
import io as _io
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotool._errors import InputError
from geotool._text import short
from geotool.io import _delimiter, read_table

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _refused(path: Path, match: str, **kwargs: object) -> str:
    with pytest.raises(InputError, match=match) as info:
        read_table(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 500
    return message


def _workbook(path: Path, sheets: dict[str, pd.DataFrame], header: bool = True) -> Path:
    with pd.ExcelWriter(path) as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, header=header)
    return path


# --- CSV structure --------------------------------------------------------------


def test_extra_field_names_the_line_and_the_fix(tmp_path):
    path = _write(tmp_path, "t.csv", "县,值\n江阴市,1\n昆山市,2,3\n")
    message = _refused(path, r"line 3: 3 fields where the header has 2")
    assert "double quotes" in message


def test_extra_field_line_counts_lines_of_quoted_values(tmp_path):
    path = _write(tmp_path, "t.csv", 'a,b\n"x\ny",1\n3,4,5\n')
    _refused(path, r"line 4: 3 fields")


def test_unclosed_quote_names_its_line(tmp_path):
    path = _write(tmp_path, "t.csv", 'a,b\n1,2\n3,"4\n5,6\n')
    _refused(path, r"line 3: a double quote \(\"\) opens a value that is never closed")


def test_semicolon_and_tab_files(tmp_path):
    semi = _write(tmp_path, "s.csv", "名称;值\n江阴市;1,5\n昆山市;2\n")
    assert read_table(semi).to_numpy().tolist() == [["江阴市", "1,5"], ["昆山市", "2"]]
    tsv = _write(tmp_path, "t.tsv", "a\tb\n1,2\t3\n")
    assert read_table(tsv).to_numpy().tolist() == [["1,2", "3"]]


def test_rows_are_kept_blank_lines_skipped_line_endings_unified(tmp_path):
    path = _write(tmp_path, "t.csv", "a,b\r\n1,2\r\n\r\n,\r3,4\r\n")
    table = read_table(path)
    assert len(table) == 3
    assert table.iloc[2].tolist() == ["3", "4"]


# --- encodings ---------------------------------------------------------------


def test_bogus_and_non_text_encodings(tmp_path):
    path = _write(tmp_path, "t.csv", "a,b\n1,2\n")
    _refused(path, r"encoding='bogus' is not a known text encoding", encoding="bogus")
    _refused(path, r"encoding='base64' is not a text encoding", encoding="base64")
    _refused(path, r"encoding=5 is not an encoding name", encoding=5)
    _refused(path, r"encoding='' is not an encoding name", encoding="")


def test_latin1_on_junk_is_refused_as_binary(tmp_path):
    junk = bytes(range(256)) * 8
    path = _write(tmp_path, "t.csv", junk)
    _refused(path, r"does not look like text in iso8859-1", encoding="latin-1")
    _refused(path, r"NUL bytes \(first on line 1\)")


def test_forced_encoding_that_does_not_decode_names_the_byte_and_line(tmp_path):
    path = _write(tmp_path, "t.csv", "县,值\n江阴市,1\n".encode("gbk"))
    message = _refused(path, r"is not valid utf-8 text: byte 0x\w\w on line 1", encoding="utf-8")
    assert message.endswith(
        "it reads as 'gb18030' (GBK): pass encoding='gb18030' (GBK), or leave encoding out."
    )


def test_undetectable_encoding(tmp_path):
    path = _write(tmp_path, "t.csv", b"a,b\n\x80\xff,1\n")
    _refused(path, r"neither UTF-8 nor GB18030 \(GBK\) text \(byte 0x80 on line 2")


def test_utf8_forced_on_bom_file_and_gbk_alias(tmp_path):
    bom = _write(tmp_path, "bom.csv", "县,值\n江阴市,1\n".encode("utf-8-sig"))
    assert read_table(bom, encoding="UTF-8").columns.tolist() == ["县", "值"]
    rare = _write(tmp_path, "gbk.csv", "区县,值\n埇桥区,1\n".encode("gb18030"))
    assert read_table(rare, encoding="gbk").iloc[0, 0] == "埇桥区"


def test_utf16_unicode_text(tmp_path):
    path = _write(tmp_path, "t.txt", "名称\t值\n江阴市\t1\n".encode("utf-16"))
    table = read_table(path)
    assert table.attrs["encoding"] == "utf-16"
    assert table.to_numpy().tolist() == [["江阴市", "1"]]


# --- what the file really is -------------------------------------------------------


def test_csv_renamed_xlsx_is_called_text(tmp_path):
    path = _write(tmp_path, "t.xlsx", "县,值\n江阴市,1\n")
    message = _refused(path, r"is not an Excel workbook .*looks like text/CSV; rename it to .csv")
    assert "sheet" not in message


def test_binary_renamed_xlsx(tmp_path):
    path = _write(tmp_path, "t.xlsx", bytes(range(256)))
    _refused(path, r"not an Excel workbook .* nor text")


def test_old_excel(tmp_path):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)
    _refused(
        _write(tmp_path, "t.xls", ole), r"old-format Excel workbook \(.xls\).*save it as .xlsx"
    )
    _refused(_write(tmp_path, "u.xlsx", ole), r"old-format one .*password")
    _refused(_write(tmp_path, "v.csv", ole), r"old-format Excel workbook \(.xls\), not text")
    _refused(_write(tmp_path, "w.xls", "a,b\n1,2\n"), r"named .xls but .* looks like text/CSV")


def test_xlsx_named_csv_or_xls(tmp_path):
    book = _workbook(tmp_path / "b.xlsx", {"S": pd.DataFrame({"a": ["1"]})})
    _refused(
        _write(tmp_path, "b.csv", book.read_bytes()), r"is an Excel workbook .*rename it to .xlsx"
    )
    assert read_table(_write(tmp_path, "b.xls", book.read_bytes())).columns.tolist() == ["a"]


def test_corrupt_zip_named_xlsx(tmp_path):
    path = _write(tmp_path, "t.xlsx", b"PK\x03\x04" + bytes(range(256)) * 4)
    _refused(path, r"cannot be opened as an Excel workbook \(\w+")


def test_unsupported_suffix(tmp_path):
    _refused(_write(tmp_path, "t.json", "{}"), r"unsupported file type '.json'")


# --- sheets --------------------------------------------------------------------


@pytest.fixture
def two_sheets(tmp_path):
    return _workbook(
        tmp_path / "two.xlsx",
        {"甲": pd.DataFrame({"x": ["1"]}), "Sheet B": pd.DataFrame({"y": ["2"]})},
    )


def test_sheet_given_as_a_string_of_digits_is_a_position(two_sheets):
    assert read_table(two_sheets, sheet="1").columns.tolist() == ["y"]
    assert read_table(two_sheets, sheet=1).columns.tolist() == ["y"]
    assert read_table(two_sheets, sheet=" 0 ").columns.tolist() == ["x"]
    assert read_table(two_sheets, sheet="sheet b").columns.tolist() == ["y"]
    assert read_table(two_sheets).columns.tolist() == ["x"]


def test_a_sheet_named_with_digits_wins_over_the_position(tmp_path):
    path = _workbook(
        tmp_path / "t.xlsx", {"A": pd.DataFrame({"a": ["1"]}), "0": pd.DataFrame({"b": ["2"]})}
    )
    assert read_table(path, sheet="0").columns.tolist() == ["b"]


def test_unknown_sheet_lists_the_sheets(two_sheets):
    _refused(
        two_sheets, r"sheet='Z': .* has no such sheet; its sheets are '甲', 'Sheet B'", sheet="Z"
    )
    _refused(two_sheets, r"sheet='7': .*only 2 sheet\(s\).*position from 0 to 1", sheet="7")
    _refused(two_sheets, r"sheet=5: .* has 2 sheet\(s\)", sheet=5)
    _refused(two_sheets, r"sheet=True \(bool\): pass a sheet name", sheet=True)
    _refused(two_sheets, r"sheet='-1': .* no such sheet", sheet="-1")


def test_excel_empty_and_header_only_sheets(tmp_path):
    path = _workbook(
        tmp_path / "t.xlsx",
        {"full": pd.DataFrame({"a": ["1"]}), "head": pd.DataFrame({"a": []})},
    )
    from openpyxl import load_workbook

    book = load_workbook(path)
    book.create_sheet("empty")
    book.save(path)
    _refused(path, r"sheet 'empty' is empty", sheet="empty")
    _refused(path, r"has a header but no data rows", sheet="head")


def test_a_title_above_the_header_is_skipped_and_said(tmp_path, caplog):
    """Excel sheets saved as CSV start with their title: read the header below it."""
    import logging

    text = (
        "2020年江苏省部分县市工业产值,,\n\n县市,工业产值（亿元）,人口\n"
        '江阴市,"4,000",165\n昆山市,3900,166\n'
    )
    with caplog.at_level(logging.INFO, logger="geotool"):
        table = read_table(_write(tmp_path, "t.csv", text.encode("gbk")))
    assert table.columns.tolist() == ["县市", "工业产值（亿元）", "人口"]
    assert table.index.tolist() == [4, 5] and table.iloc[0, 1] == "4,000"
    said = caplog.text
    assert "line 1 above the header is the table's title ('2020年江苏省部分县市工业产值')" in said
    assert "the header is line 3" in said
    years = read_table(_write(tmp_path, "y.csv", "江苏各市工业产值（亿元）,,单位：亿元\n"
                              "城市,2019,2020年\n南京市,1,2\n无锡市,3,4\n"))  # fmt: skip
    assert years.columns.tolist() == ["城市", "2019", "2020年"] and years.index.tolist() == [3, 4]
    tabbed = "各县GDP\n\t\t\n县\tGDP\t年份\n江阴市\t1\t2020\n昆山市\t2\t2020\n"
    assert read_table(_write(tmp_path, "t.tsv", tabbed)).columns.tolist() == ["县", "GDP", "年份"]
    frame = pd.DataFrame([["表1 2020年各县工业", None, None], [None, None, None],
                          ["县", "产值", "增速"], ["江阴市", "1", "2%"]])  # fmt: skip
    book = _workbook(tmp_path / "t.xlsx", {"S": frame}, header=False)
    sheet = read_table(book)
    assert sheet.columns.tolist() == ["县", "产值", "增速"] and sheet.index.tolist() == [4]


def test_a_header_is_never_taken_for_a_title(tmp_path):
    """One named column over data (numbers) is a header with unnamed columns, not a title;
    a one-column table has no title; a table of two rows has no room for one."""
    _refused(_write(tmp_path, "a.csv", "县,,\n江阴市,1,2\n昆山市,3,4\n"), r"no name in the header")
    assert read_table(_write(tmp_path, "b.csv", "县\n江阴市\n昆山市\n")).columns.tolist() == ["县"]
    _refused(_write(tmp_path, "c.csv", "标题\n县,值\n"), r"2 fields under a first line of one")
    # a header word over rows of text is a one-column header, not a title (no data row)
    header_word = _write(tmp_path, "d.csv", "地区\n江阴市,苏南,县级市\n")
    _refused(header_word, r"first line of one \('地区'\)")
    _refused(_write(tmp_path, "e.csv", "江苏各市产值\n南京市,1,2\n"),
             r"if that is the table's title, write the header")


def test_excel_header_problems(tmp_path):
    frame = pd.DataFrame([["县", "值", "值"], ["江阴市", "1", "2"]])
    path = _workbook(tmp_path / "dup.xlsx", {"S": frame}, header=False)
    _refused(path, r"repeats column names: '值' \(columns 2, 3\)")
    frame = pd.DataFrame([["县", None], ["江阴市", "1"]])
    path = _workbook(tmp_path / "blank.xlsx", {"S": frame}, header=False)
    _refused(path, r"column\(s\) 2 hold values .* no name in the header row")


# --- empty, header only, not a file ------------------------------------------------


@pytest.mark.parametrize("content", ["", "   \n\n", "\ufeff", "\ufeff\n \n"])
def test_empty_files(tmp_path, content):
    _refused(_write(tmp_path, "t.csv", content), r"is empty|has no rows")


def test_header_only(tmp_path):
    _refused(_write(tmp_path, "t.csv", "县,值\n"), r"has a header but no data rows")
    _refused(_write(tmp_path, "u.csv", "县,值\n\n\n"), r"has a header but no data rows")


def test_binary_junk(tmp_path):
    _refused(_write(tmp_path, "t.csv", os.urandom(2000) + b"\x00"), r"NUL bytes|not .*text")


def test_folder_missing_and_odd_paths(tmp_path):
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    _refused(folder, r"is a folder; pass the path of a .csv or .xlsx file")
    _refused(tmp_path / "missing.csv", r"No file at")
    _write(tmp_path, "file.csv", "a\n1\n")
    _refused(tmp_path / "file.csv" / "below.csv", r"No file at")
    message = _refused(tmp_path / ("x" * 5000 + ".csv"), r"not a usable path")
    assert "(5,0" in message  # the length, not the name


def test_unreadable_file(tmp_path, monkeypatch):
    path = _write(tmp_path, "t.csv", "a,b\n1,2\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    _refused(path, r"cannot be read: permission denied; make it readable")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_for_real(tmp_path):
    path = _write(tmp_path, "t.csv", "a,b\n1,2\n")
    path.chmod(0)
    _refused(path, r"permission denied")


# --- header names ------------------------------------------------------------------


def test_duplicate_header_names_are_listed(tmp_path):
    path = _write(tmp_path, "t.csv", "县, 值,值 ,省,省\n江阴市,1,2,江苏,江苏\n")
    _refused(path, r"repeats column names: '值' \(columns 2, 3\); '省' \(columns 4, 5\)")


def test_blank_header_with_values_is_refused_empty_trailing_columns_dropped(tmp_path):
    _refused(_write(tmp_path, "t.csv", "a,,c\n1,x,3\n"), r"column\(s\) 2 hold values \(e.g. 'x'")
    table = read_table(_write(tmp_path, "u.csv", "a,b,,\n1,2,,\n3,4\n"))
    assert table.columns.tolist() == ["a", "b"]
    assert len(table) == 2
    _refused(_write(tmp_path, "v.csv", ",\n,\n"), r"no named columns")


def test_huge_cells_are_never_echoed_whole(tmp_path):
    huge = "名" * 100_000
    path = _write(tmp_path, "t.csv", f"{huge},{huge}\n1,2\n")
    message = _refused(path, r"repeats column names")
    assert "100,000 characters" in message
    path = _write(tmp_path, "u.csv", f"a,\n1,{huge}\n")
    assert "100,000 characters" in _refused(path, r"no name in the header")
    path = _write(tmp_path, "v.json", "{}")
    assert len(_refused(path.with_suffix("." + "j" * 5000), r"No file|usable")) < 500


def test_short():
    assert short("江阴市") == "江阴市"
    assert short("a\x1b[2J\u202eb") == "a\\x1b[2J\\u202eb"
    assert short("x" * 100, limit=10) == "xxxxxxxxx… (100 characters)"
    assert len(short("\x00" * 1000)) < 80


# --- properties ------------------------------------------------------------------


@FAST
@given(
    raw=st.binary(max_size=400),
    name=st.sampled_from(["t.csv", "t.xlsx", "t.xls", "t.tsv", "t"]),
    encoding=st.sampled_from([None, "latin-1", "utf-8", "gbk", "utf-16"]),
)
def test_arbitrary_bytes_give_a_table_or_an_input_error(tmp_path_factory, raw, name, encoding):
    path = _write(tmp_path_factory.mktemp("b"), name, raw)
    try:
        read_table(path, encoding=encoding)
    except InputError as exc:
        assert "\n" not in str(exc)
        assert len(str(exc)) < 600


@FAST
@given(st.binary(max_size=300))
def test_zip_like_bytes_named_xlsx(tmp_path_factory, tail):
    path = _write(tmp_path_factory.mktemp("z"), "t.xlsx", b"PK\x03\x04" + tail)
    with pytest.raises(InputError):
        read_table(path)


_SPECIAL = st.sampled_from(list(",;\t\"\n\r '=年0a"))


def _blank_line(record: list[str]) -> bool:
    """What pandas skips: an empty line, or one of spaces and tabs."""
    return not record or (len(record) == 1 and bool(record[0]) and set(record[0]) <= {" ", "\t"})


def _with_content(rows: list[list[str]]) -> list[list[str]]:
    return [r for r in rows if any(c.strip() for c in r)]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(exclude_categories=("Cs",)) | _SPECIAL, max_size=200))
def test_arbitrary_text_keeps_every_row_with_data(tmp_path_factory, text):
    path = _write(tmp_path_factory.mktemp("t"), "t.csv", text)
    try:
        table = read_table(path)
    except InputError:
        return
    norm = _unix(text.removeprefix("\ufeff"))
    reader = csv.reader(_io.StringIO(norm, newline=""), delimiter=_delimiter(norm, ".csv"))
    records = [r for r in reader if not _blank_line(r)]
    records = records[_titles(records) :]
    names = [c.strip() for c in records[0]]
    keep = [i for i, n in enumerate(names) if n]
    assert table.columns.tolist() == [names[i] for i in keep]
    expected = [[(r + [""] * len(names))[i] for i in keep] for r in records[1:]]
    got = [[v if isinstance(v, str) else "" for v in r] for r in table.astype(object).to_numpy()]
    assert _with_content(got) == _with_content(expected)


def _titles(records: list[list[str]]) -> int:
    """Rows the reader takes for a title (io._title_rows; its cases are tested above)."""
    from geotool.io import _title_rows

    return _title_rows([[c or None for c in r] for r in records])


def _unix(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CELL = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufeff")
    | st.sampled_from(list('\n\r\t",; ')),
    max_size=8,
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_tables_written_by_csv_writer_round_trip(tmp_path_factory, data):
    width = data.draw(st.integers(2, 4))
    names = st.lists(  # unique as read back: CR LF and CR become LF
        _CELL.map(str.strip).filter(bool), min_size=width, max_size=width, unique_by=_unix
    )
    header = data.draw(names)
    rows = data.draw(
        st.lists(st.lists(_CELL, min_size=width, max_size=width), min_size=1, max_size=6)
    )
    buffer = _io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    path = _write(tmp_path_factory.mktemp("r"), "t.csv", buffer.getvalue().encode(encoding))
    table = read_table(path)
    assert table.columns.tolist() == [_unix(c) for c in header]
    got = [[v if isinstance(v, str) else "" for v in r] for r in table.astype(object).to_numpy()]
    assert got == [[_unix(c) for c in r] for r in rows]


def test_a_table_of_a_million_columns_is_refused_at_once(tmp_path):
    """Every numeric column is examined: a 10^6-column line ran for hours, in gigabytes."""
    import time

    from geotool.io import MAX_COLUMNS

    path = tmp_path / "wide.csv"
    header = ",".join(["name", *(f"c{i}" for i in range(1_000_000))])
    path.write_text(header + "\n" + ",".join(["江阴市", *["1"] * 1_000_000]) + "\n")
    started = time.monotonic()
    with pytest.raises(InputError, match=rf"1,000,001 columns, over the {MAX_COLUMNS:,}"):
        read_table(path)
    assert time.monotonic() - started < 20
