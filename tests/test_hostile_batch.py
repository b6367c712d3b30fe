"""Hostile input to ``geotool batch``: schedulers that are not, workers and batches too big.

Every peer here is a loopback server of this test (127.0.0.1, a thread, stopped when its
block ends): a closed port, a service that accepts and says nothing, HTTP answers whose
first eight bytes dask would read as a length of exbibytes, a trickle, a proxy that
waits for a request. Each must end within its timeout with exit status 2 and one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geotool import _scheduler, batch, boundaries
from geotool._errors import InputError
from geotool.cli import main

Behaviour = Callable[[socket.socket], None]


def _hold(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)


def _http_200(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    stop.wait(30)


def _huge_prefix(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(struct.pack("<Q", 2**62) + b"\x00" * 64)  # 4 EiB, says the prefix
    stop.wait(30)


def _promise(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(struct.pack("<Q", 60) + b"\x01" + b"\x00" * 7)  # a plausible start, then
    stop.wait(30)  # nothing: a slow peer must not hold the probe past its deadline


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    with contextlib.suppress(OSError):
        while not stop.wait(0.2):
            conn.sendall(b"\x10")


def _close(conn: socket.socket, stop: threading.Event) -> None:
    conn.close()


def _proxy(conn: socket.socket, stop: threading.Event) -> None:
    """An HTTP proxy: silent until a request, then an error page (HTTP/1.1 first)."""
    conn.settimeout(30)
    with contextlib.suppress(OSError):
        if conn.recv(1024):
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
    stop.wait(30)


def _fake_dask(conn: socket.socket, stop: threading.Event) -> None:
    """Frames of the right shape, but not dask's handshake (no pickle-protocol)."""
    body = struct.pack("<QQ", 1, 8) + b"\x81\xa1a\x01" + b"\x00" * 4
    conn.sendall(struct.pack("<Q", len(body)) + body)
    stop.wait(30)


@contextlib.contextmanager
def _server(behaviour: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A loopback TCP server doing ``behaviour`` with each connection; its address."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=behaviour, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in conns:
            conn.close()


def _closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def provinces(tmp_path_factory) -> Path:
    """A province table by Chinese name (北京市 ...): two variables."""
    layer = boundaries.load("province")
    rng = np.random.default_rng(22)
    table = pd.DataFrame({
        "省份": layer["province"].to_numpy(),
        "gdp": layer.geometry.representative_point().y.to_numpy() * 2.0,
        "jobs": rng.gamma(2.0, size=len(layer)),
    })  # fmt: skip
    path = tmp_path_factory.mktemp("hostile") / "provinces.csv"
    table.to_csv(path, index=False, encoding="utf-8")
    return path


def _batch(capsys, path: Path, out: Path, *flags: str) -> tuple[int, list[str], float]:
    start = time.monotonic()
    code = main([
        "--quiet", "batch", str(path), "--level", "province", "--id-col", "省份",
        "--permutations", "99", "--out", str(out), *flags,
    ])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines, time.monotonic() - start


PEERS = {
    "silent": (_hold, "accepted the connection but sent no dask handshake"),
    "http 200": (_http_200, "it answered 'HTTP/1.1'"),
    "huge length prefix": (_huge_prefix, "it answered '\\x00\\x00\\x00\\x00"),
    "a promise, then nothing": (_promise, "sent no dask handshake"),
    "trickle": (_trickle, "is not dask"),
    "closes at once": (_close, "closed the connection without a word"),
    "http proxy": (_proxy, "sent no dask handshake"),
    "dask-shaped, not dask": (_fake_dask, "is not dask"),
}


@pytest.mark.parametrize("peer", list(PEERS))
def test_a_service_that_is_no_dask_scheduler_is_refused_in_bounded_time(
    peer, provinces, tmp_path, capsys
):
    behaviour, reason = PEERS[peer]
    with _server(behaviour) as address:
        code, lines, took = _batch(
            capsys, provinces, tmp_path / "out", "--scheduler", address, "--connect-timeout", "2"
        )
    assert code == 2, lines
    assert len(lines) == 1, lines
    host_port = address.removeprefix("tcp://")
    assert lines[0].startswith(f"geotool: error: --scheduler '{address}': no dask scheduler")
    assert f"answered at {host_port} within 2 s" in lines[0]
    assert reason in lines[0]
    assert "`dask scheduler` or omit --scheduler" in lines[0]
    assert "permutations" not in lines[0] and "memory" not in lines[0]
    assert took < 15, took  # a 2 s timeout; a probe without one waits on a silent peer forever
    assert not (tmp_path / "out").exists()


@pytest.mark.slow(reason="waits the 10 s default; the 2 s bound is covered by default above")
def test_the_default_timeout_bounds_a_silent_service(provinces, tmp_path, capsys):
    with _server(_hold) as address:
        code, lines, took = _batch(capsys, provinces, tmp_path / "out", "--scheduler", address)
    assert code == 2 and len(lines) == 1, lines
    assert f"within {_scheduler.CONNECT_TIMEOUT:g} s" in lines[0]
    assert _scheduler.CONNECT_TIMEOUT <= took < 15, took


def test_a_closed_port_says_nothing_listens(provinces, tmp_path, capsys):
    address = _closed_port()
    for given in (address, address.removeprefix("tcp://")):  # HOST:PORT is tcp://
        code, lines, took = _batch(capsys, provinces, tmp_path / "out", "--scheduler", given)
        assert code == 2 and len(lines) == 1, lines
        assert f"nothing listens at {address.removeprefix('tcp://')}" in lines[0]
        assert "check the path" not in lines[0]
        assert took < 5


@pytest.mark.parametrize(
    "given",
    ["foo://x:1", "http://127.0.0.1:8786", "https://h:443", "", "   ", "inproc://x", "ucx://h:1",
     "tcp://h", "tcp://:8786", "tcp://h:0", "tcp://h:99999", "tcp://h:8786/path?q=1",
     "tcp://user:pw@h:8786", "h:port", "no-such-file.json", "tcp://h\n:8786", "x" * 5000],
)  # fmt: skip
def test_a_bad_address_is_refused_before_any_connection(given, provinces, tmp_path, capsys):
    code, lines, took = _batch(capsys, provinces, tmp_path / "out", "--scheduler", given)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("geotool: error: --scheduler ")
    assert "give tcp://HOST:PORT (or HOST:PORT; also tls://, ws://, wss://)" in lines[0]
    assert "or a scheduler file" in lines[0]
    assert "internal error" not in lines[0] and len(lines[0]) < 400
    assert took < 5


def test_scheduler_files_are_read_bounded_and_checked(tmp_path):
    closed = _closed_port()
    good = tmp_path / "scheduler.json"
    good.write_text(json.dumps({"type": "Scheduler", "address": closed}), encoding="utf-8")
    assert _scheduler.address(str(good)) == closed
    assert _scheduler.address(good) == closed
    with pytest.raises(InputError, match=r"nothing listens at 127\.0\.0\.1"):
        _scheduler.probe(_scheduler.address(good), timeout=2)
    cases = {
        "not json": b"address: tcp://h:1",
        "no address": json.dumps({"type": "Scheduler"}).encode(),
        "a list": b"[1, 2]",
        "http address": json.dumps({"address": "http://h:1"}).encode(),
        "huge": b"{" + b" " * (2 * 2**20) + b"}",
        "binary": bytes(range(256)),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content)
        with pytest.raises(InputError, match=r"^scheduler='") as info:
            _scheduler.address(str(path))
        assert "give tcp://HOST:PORT" in str(info.value), name


def test_addresses_are_normalised():
    assert _scheduler.address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert _scheduler.address(" TCP://Scheduler.Example:8786/ ") == "tcp://scheduler.example:8786"
    assert _scheduler.address("tls://h:1") == "tls://h:1"
    assert _scheduler.address("ws://[::1]:8786") == "ws://[::1]:8786"
    with pytest.raises(InputError, match="not an address"):
        _scheduler.address(8786)


def test_tls_without_dask_tls_settings_is_refused_by_name():
    with (
        _server(_http_200) as address,
        pytest.raises(InputError, match=r"tls:// needs dask's TLS settings"),
    ):
        _scheduler.probe(address.replace("tcp://", "tls://"), timeout=2)


def test_a_websocket_address_on_an_http_server_is_refused(provinces, tmp_path, capsys):
    with _server(_http_200) as address:
        code, lines, took = _batch(
            capsys, provinces, tmp_path / "out", "--scheduler",
            address.replace("tcp://", "ws://"), "--connect-timeout", "2",
        )  # fmt: skip
    assert code == 2 and len(lines) == 1, lines
    assert "no dask scheduler answered" in lines[0]
    assert took < 8


def test_a_real_scheduler_passes_the_probe_and_one_without_workers_is_refused(provinces):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    table = pd.read_csv(provinces)
    with LocalCluster(
        n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
        dashboard_address=":0", silence_logs=logging.ERROR,
    ) as empty:  # fmt: skip
        address = empty.scheduler_address
        _scheduler.probe(address, timeout=5)  # a dask handshake: passes
        start = time.monotonic()
        with (
            pytest.raises(InputError, match=r"the scheduler has no workers .*`dask worker "),
            batch.cluster(scheduler=address, connect_timeout=1),
        ):
            pass
        assert time.monotonic() - start < 6
        empty.scale(1)  # one in-process worker: the batch runs on it
        with batch.cluster(scheduler=address, connect_timeout=10) as client:
            result = batch.run(
                table, "province", id_col="省份", statistics=("moran",), permutations=99,
                client=client,
            )  # fmt: skip
    assert result["status"].eq("ok").all()
    assert set(result["variable"]) == {"gdp", "jobs"}
    assert result.loc[result["variable"] == "gdp", "value"].iloc[0] > 0.3  # latitude clusters


class _StartedError(Exception):
    """What the fake LocalCluster raises once it has seen its arguments."""


@pytest.fixture
def fake_cluster(monkeypatch):
    """``distributed.LocalCluster`` recording its arguments instead of starting processes."""
    distributed = pytest.importorskip("distributed")
    seen: dict[str, object] = {}

    def record(**kwargs: object) -> None:
        seen.update(kwargs)
        raise _StartedError

    monkeypatch.setattr(distributed, "LocalCluster", record)
    return seen


def test_workers_are_capped_at_two_per_usable_cpu(fake_cluster, caplog):
    cpus = _scheduler.usable_cpus()
    if hasattr(os, "sched_getaffinity"):
        assert cpus == len(os.sched_getaffinity(0))
    with (
        caplog.at_level(logging.WARNING, logger="geotool"),
        pytest.raises(_StartedError),
        batch.cluster(1000),
    ):
        pass
    assert fake_cluster["n_workers"] == 2 * cpus
    assert f"1,000 workers asked for, but this process may use {cpus} CPUs" in caplog.text
    assert f"starting {2 * cpus}" in caplog.text
    for asked, started in ((None, cpus), (1, 1), (2 * cpus, 2 * cpus)):
        with pytest.raises(_StartedError), batch.cluster(asked):
            pass
        assert fake_cluster["n_workers"] == started
    for bad in (0, -3, 2.5, True, "4"):
        with pytest.raises(InputError, match="workers="), batch.cluster(bad):  # type: ignore[arg-type]
            pass


def test_cli_workers_cap_is_a_warning(fake_cluster, provinces, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="geotool"):
        code = main(["batch", str(provinces), "--level", "province", "--id-col", "省份",
                     "--workers", "1000", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 1  # the fake cluster's exception: an internal error, after the warning
    assert f"starting {2 * _scheduler.usable_cpus()} (at most 2 per CPU" in caplog.text
    assert fake_cluster["n_workers"] == 2 * _scheduler.usable_cpus()


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Every county with 200 numeric columns (a wide statistical yearbook extract)."""
    counties = boundaries.load("county")
    rng = np.random.default_rng(5)
    values = rng.normal(100, 15, size=(len(counties), 200)).round(2)
    table = pd.DataFrame(values, columns=[f"指标{i:03d}" for i in range(200)])
    table.insert(0, "adcode", counties.index.to_numpy())
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    table.to_csv(path, index=False)
    return path, table


def test_a_batch_over_the_output_limit_is_refused_before_any_work(
    wide, fake_cluster, tmp_path, capsys
):
    path, table = wide
    est = batch.estimate(table, "county")  # every numeric column, moran and lisa
    assert (est.variables, est.years, est.weights, est.statistics) == (200, 1, 1, 2)
    assert est.tasks == 400 and est.local_tables == 200 and est.units == len(table)
    assert 200 * len(table) * 100 < est.output_bytes < 200 * len(table) * 300
    out = tmp_path / "out"
    start = time.monotonic()
    code = main(["--quiet", "batch", str(path), "--max-output-gb", "0.05", "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert (
        "A batch of 400 tasks (200 variables x 1 year x 1 weights spec x 2 statistics)"
        in (lines[0])
    )
    assert "more than the limit of 0.05 GB" in lines[0]
    for flag in ("--variables", "--years", "--weights", "--statistics", "--max-output-gb"):
        assert flag in lines[0]
    assert not out.exists()
    assert time.monotonic() - start < 30


def test_the_cross_product_of_many_weights_is_refused(wide, fake_cluster, tmp_path, capsys):
    path, _ = wide
    specs = ",".join(f"knn:{k}" for k in range(1, 301))
    chosen = ",".join(f"指标{i:03d}" for i in range(10))
    code = main(["--quiet", "batch", str(path), "--variables", chosen,
                 "--weights", specs, "--statistics", "moran,lisa,gi_star",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "9,000 tasks (10 variables x 1 year x 300 weights specs x 3 statistics)" in lines[0]
    assert "more than the limit of 2 GB" in lines[0]
    many = ",".join(f"knn:{k}" for k in range(1, 201))
    code = main(["--quiet", "batch", str(path), "--weights", many, "--statistics",
                 "moran,geary,getis_ord_g", "--out", str(tmp_path / "out")])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "120,000 tasks" in lines[0] and "more than the limit of 50,000 tasks" in lines[0]
    assert "--max-tasks" in lines[0]


def test_the_estimate_bounds_what_a_batch_writes(provinces, tmp_path):
    table = pd.read_csv(provinces)
    options: dict[str, Any] = {"id_col": "省份", "statistics": ("moran", "lisa", "gi_star")}
    est = batch.estimate(table, "province", permutations=99, **options)
    out = tmp_path / "out"
    batch.run(table, "province", permutations=99, out=out, **options)
    written = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    assert est.local_tables == len(list((out / "local").glob("*.csv"))) == 4
    assert written <= est.output_bytes <= 3 * written
    with pytest.raises(InputError, match=r"more than the limit of 1 tasks.*max_tasks="):
        batch.run(table, "province", max_tasks=1, **options)
    for bad in ({"max_tasks": 0}, {"max_tasks": 2.5}, {"max_output_gb": float("nan")},
                {"max_output_gb": -1}, {"max_output_gb": True}):  # fmt: skip
        with pytest.raises(InputError, match=next(iter(bad))):
            est.check(**bad)


@pytest.mark.parametrize(
    "case", [("--statistics", "moran,lisa,moran", "moran"), ("--variables", "gdp,jobs,gdp", "gdp")]
)
def test_a_list_naming_something_twice_is_refused(case, provinces, tmp_path, capsys):
    flag, value, twice = case
    code, lines, _ = _batch(capsys, provinces, tmp_path / "out", flag, value, "--workers", "0")
    assert code == 2 and len(lines) == 1, lines
    assert f"{flag} names {twice} twice" in lines[0]


def test_run_all_numeric_on_a_wide_table_is_refused_with_an_estimate(tmp_path, capsys):
    layer = boundaries.load("province")
    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        rng.gamma(2.0, size=(len(layer), 60)), columns=[f"x{i}" for i in range(60)]
    )
    table.insert(0, "省份", layer["province"].to_numpy())
    path = tmp_path / "wide.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "report"
    code = main(["--quiet", "run", "--data", str(path), "--all-numeric", "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "--all-numeric chose 60 columns" in lines[0]
    assert "at most 50" in lines[0] and "--value-col" in lines[0]
    assert "`geotool batch`" in lines[0]
    assert not out.exists()


def test_map_classes_and_tiers_are_bounded(counties):
    from geotool import tiers
    from geotool._classify import MAX_CLASSES, classify

    lat = counties["rep_lat"].rename("纬度")  # 2,875 distinct values: -k could ask for all
    assert lat.nunique() > 1000
    for scheme in ("quantiles", "fisherjenks", "equalinterval"):
        with pytest.raises(InputError, match=rf"^k=2000: at most {MAX_CLASSES} classes"):
            classify(lat, scheme=scheme, k=2000)
    colours, legend = classify(lat, scheme="quantiles", k=MAX_CLASSES)
    assert len(legend) == MAX_CLASSES and colours.index.equals(lat.index)
    with pytest.raises(InputError, match=rf"k=500: at most {MAX_CLASSES} classes"):
        tiers.assign(lat, method="jenks", k=500)
    assert tiers.assign(lat, method="ward", k=MAX_CLASSES).nunique() == MAX_CLASSES


def test_blank_total_and_note_rows_are_set_aside_not_a_crash(provinces, tmp_path, caplog):
    """A yearbook's rows that are no unit (a blank name, 合计, 注：…) were an internal error
    (a blank) or refused as unmatched (合计); ``run`` sets them aside, and so does batch."""
    table = pd.read_csv(provinces)
    extra = pd.DataFrame({"省份": [None, "合计", "注：资料来源于统计年鉴", "  "],
                          "gdp": [1.0, 2.0, None, 3.0], "jobs": [1.0, 2.0, None, 3.0]})  # fmt: skip
    table = pd.concat([table, extra], ignore_index=True)
    with caplog.at_level(logging.INFO):
        result = batch.run(table, "province", id_col="省份", statistics=("moran",),
                           permutations=99, out=tmp_path / "out")  # fmt: skip
    assert (result["status"] == "ok").all()
    assert "4 blank, total or note row(s) set aside" in caplog.text
    aside = pd.read_csv(tmp_path / "out" / "set_aside.csv", encoding="utf-8-sig")
    assert aside["row"].tolist() == list(range(len(table) - 4, len(table)))
    assert aside["省份"].tolist()[1:3] == ["合计", "注：资料来源于统计年鉴"]
