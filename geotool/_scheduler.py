"""A dask scheduler's address, checked before dask is given it, and the CPUs to use.

dask's ``Client(address)`` waits for a handshake without a time limit and allocates the
length its first eight bytes announce (``HTTP/1.1`` is 3.5e18 bytes): :func:`probe` reads
the handshake itself, bounded in time and size. distributed's ``parse_address`` is not
used: it accepts ``tcp://[zz]:8786`` and port 99999, and distributed is optional.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from geotool._errors import InputError
from geotool._text import short

__all__ = ["CONNECT_TIMEOUT", "SCHEMES", "address", "probe", "usable_cpus"]

#: Seconds a scheduler has to accept a connection and send its handshake.
CONNECT_TIMEOUT = 10.0
#: Address schemes accepted (dask's comms a batch can reach from another process).
SCHEMES = ("tcp", "tls", "ws", "wss")
#: A dask handshake is a few dozen bytes (compression, Python version, pickle protocol).
_HANDSHAKE_MAX = 64 * 1024
_SCHEDULER_FILE_MAX = 1024 * 1024
_HOST = re.compile(r"^[A-Za-z0-9._-]{1,253}$|^[0-9A-Fa-f:.]{2,45}$")
_FORMS = (
    "give tcp://HOST:PORT (or HOST:PORT; also tls://, ws://, wss://) or a scheduler "
    "file (the JSON `dask scheduler` writes with its scheduler-file option)"
)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _refuse(name: str, value: object, why: str) -> InputError:
    return InputError(f"{name}={short(repr(str(value)), 80)}: {why}; {_FORMS}.")


def _from_file(path: Path, name: str) -> str:
    """The ``address`` of a scheduler file (JSON written by ``dask scheduler``)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_SCHEDULER_FILE_MAX + 1)
    except OSError as exc:
        raise _refuse(name, path, f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > _SCHEDULER_FILE_MAX:
        raise _refuse(name, path, "a file of over 1 MiB is no scheduler file")
    try:
        found = json.loads(raw.decode("utf-8")).get("address")
    except (ValueError, UnicodeDecodeError, AttributeError):
        found = None
    if not isinstance(found, str) or "://" not in found:
        raise _refuse(name, path, "a file, but not a scheduler file (JSON with an 'address')")
    return found


def address(value: object, *, name: str = "scheduler") -> str:
    """``SCHEME://HOST:PORT`` of an address or scheduler file, else :class:`InputError`.

    ``name`` is the parameter's name, for messages.

    >>> address("127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    """
    if not isinstance(value, str | os.PathLike):
        raise _refuse(name, type(value).__name__, "not an address")
    text = os.fspath(value).strip()
    if not text or len(text) > 4096 or not text.isprintable():
        raise _refuse(name, text, "not an address")
    if "://" not in text:
        path = Path(text)
        if path.is_file():
            text = _from_file(path, name)
        elif not re.fullmatch(r"[^/\\\s]+:[0-9]+", text):
            raise _refuse(name, text, "neither an address nor an existing scheduler file")
        else:
            text = "tcp://" + text
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a bracket left open, a bad IPv6 host, a port past 65535
    except ValueError as exc:
        raise _refuse(name, text, f"not an address ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _refuse(name, text, f"{scheme or 'no'}:// is not a dask scheduler's scheme")
    host = parts.hostname or ""
    if not port or not _HOST.match(host) or parts.username or parts.password:
        raise _refuse(name, text, "needs a host and a port from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _refuse(name, text, "an address has no path or query")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _bounded(work: Any, seconds: float, what: str) -> Any:
    """``work()`` in a thread, given up (``TimeoutError``) after ``seconds``."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="geotool-probe")
    try:
        return pool.submit(work).result(timeout=seconds)
    except TimeoutError:  # concurrent.futures' is the built-in one
        raise TimeoutError(what) from None
    finally:
        pool.shutdown(wait=False)


def _read(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Exactly ``n`` bytes (fewer if the peer closes) before ``deadline``."""
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            break
        data += chunk
    return data


def _is_handshake(head: bytes, body: bytes) -> bool:
    """Whether ``head + body`` is a dask handshake: framed msgpack naming its settings."""
    (size,) = struct.unpack("<Q", head)
    if not 16 <= size <= _HANDSHAKE_MAX or len(body) != size:
        return False
    (frames,) = struct.unpack_from("<Q", body)
    if not 1 <= frames <= 16 or 8 + 8 * frames > size:
        return False
    lengths = struct.unpack_from(f"<{frames}Q", body, 8)
    return sum(lengths) == size - 8 - 8 * frames and b"pickle-protocol" in body


def _say(data: bytes) -> str:
    return repr(data[:24])[1:] + ("..." if len(data) > 24 else "")


def _tcp_handshake(host: str, port: int, deadline: float) -> str | None:
    """Connect and read a dask scheduler's handshake; what is wrong, or None."""
    left = max(0.1, deadline - time.monotonic())  # name lookups have no timeout of their own
    connect = functools.partial(socket.create_connection, (host, port), timeout=left)
    with _bounded(connect, left, "connection") as sock:
        try:
            head = _read(sock, 8, deadline)
            if len(head) < 8:
                said = f"after {_say(head)}" if head else "without a word"
                return f"the service there closed the connection {said}"
            (size,) = struct.unpack("<Q", head)
            if not 16 <= size <= _HANDSHAKE_MAX:
                return f"the service there is not dask: it answered {_say(head)}"
            body = _read(sock, size, deadline)
        except TimeoutError:
            return "the service there accepted the connection but sent no dask handshake"
        if not _is_handshake(head, body):
            return f"the service there is not dask: it answered {_say(head + body)}"
        with contextlib.suppress(OSError):  # its own settings back: a handshake completed
            sock.sendall(head + body)
    return None


def _dask_handshake(target: str, deadline: float, name: str) -> None:
    """A handshake through dask's own comm (tls, ws, wss), under the deadline."""
    from distributed.comm import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")
    scheme = urlsplit(target).scheme
    if scheme in ("tls", "wss") and args.get("ssl_context") is None:
        raise InputError(
            f"{name}={target!r}: {scheme}:// needs dask's TLS settings "
            "(distributed.comm.tls.ca-file, .client.cert and .client.key in dask's "
            "configuration), and none are set; set them, or use a tcp:// address."
        )

    async def handshake(left: float) -> None:
        (await connect(target, timeout=left, **args)).abort()

    left = max(0.1, deadline - time.monotonic())
    _bounded(lambda: asyncio.run(handshake(left)), left, target)


def probe(target: str, *, timeout: float = CONNECT_TIMEOUT, name: str = "scheduler") -> None:
    """Refuse (:class:`InputError`) ``target`` unless a dask scheduler answers in time.

    ``target`` is an address as :func:`address` returns it; ``timeout`` bounds the name
    lookup, the connection and the handshake (a silent service, HTTP, a proxy fail).
    """
    parts = urlsplit(target)
    host, port = parts.hostname or "", int(parts.port or 0)
    deadline = time.monotonic() + timeout
    fix = f"start one with `dask scheduler` or omit {name}= to run on a local cluster"
    try:
        if parts.scheme == "tcp":
            wrong = _tcp_handshake(host, port, deadline)
        else:
            _dask_handshake(target, deadline, name)
            wrong = None
    except InputError:
        raise
    except ConnectionRefusedError:
        raise InputError(f"{name}={target!r}: nothing listens at {host}:{port}; {fix}.") from None
    except socket.gaierror as exc:
        why = f"no host {host!r} ({exc.strerror}); check the address."
        raise InputError(f"{name}={target!r}: {why}") from None
    except TimeoutError:
        wrong = "no handshake in time"
    except Exception as exc:  # a peer in another protocol: any error of dask's comms
        wrong = f"{type(exc).__name__}: {short(str(exc), 120)}"
    if wrong is not None:
        raise InputError(
            f"{name}={target!r}: no dask scheduler answered at {host}:{port} within "
            f"{timeout:g} s ({wrong}); {fix}."
        )
