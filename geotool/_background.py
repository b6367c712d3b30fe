"""Work done in a forked process while the first goes on: a run's figures and pages.

:func:`prepare` forks a child that imports its libraries (``warm``) while the parent
computes the statistics; :meth:`Prepared.submit` then sends the arguments from a thread (a
child still importing never holds the parent up). The child has the parent's memory (only
arguments and result are pickled), never runs a numba kernel (OpenMP refuses after a fork)
and dies with its parent. Where forking is unsafe (Windows, macOS) or
``settings.background`` is off, the work runs in this process at ``submit``, with the same
results. ``concurrent.futures`` does not fit: it pickles the work (no closures), forks
only at the first submit (no warming) and cannot stop a running task.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any, Generic, TypeVar

from geotool import settings
from geotool._errors import GeotoolError

__all__ = ["Prepared", "forking", "prepare", "start"]

T = TypeVar("T")


def forking() -> bool:
    """Whether :func:`start` and :func:`prepare` run work in a forked process here."""
    return bool(settings.background) and sys.platform.startswith("linux")


class Prepared(Generic[T]):
    """Work waiting for its arguments (:meth:`submit`), then for its :meth:`result`."""

    def __init__(self, work: Callable[..., T], process: Any = None, pipes: Any = None) -> None:
        self._work, self._process = work, process
        self._receive: Any
        self._send: Any
        self._receive, self._send = pipes or (None, None)
        self._submitted = False
        self._outcome: tuple[bool, Any] | None = None

    def submit(self, *args: Any, **kwargs: Any) -> Prepared[T]:
        """Start the work with these arguments (they must pickle), once."""
        if self._submitted:
            raise RuntimeError("work already submitted, or cancelled")
        self._submitted = True
        if self._process is None:
            try:
                self._outcome = (True, self._work(*args, **kwargs))
            except Exception as exc:
                self._outcome = (False, exc)
            return self
        data = ForkingPickler.dumps((args, kwargs))  # an unpicklable argument fails here
        send, self._send = self._send, None
        threading.Thread(target=_deliver, args=(send, data), daemon=True).start()
        return self

    def result(self) -> T:
        """The work's return value (waiting for the child); its exception is raised here."""
        if self._outcome is None:
            try:
                self._outcome = self._receive.recv()
            except EOFError:
                self._process.join()
                self._outcome = (False, _ended(self._process.exitcode))
            finally:
                self._receive.close()
                self._process.join()
        ok, payload = self._outcome
        if not ok:
            raise payload
        return payload  # type: ignore[return-value]

    def cancel(self) -> None:
        """Stop the waiting or running child (the caller failed before needing it)."""
        self._submitted = True  # no submit after a cancel
        if self._send is not None:
            self._send.close()
            self._send = None
        if self._outcome is None:
            self._outcome = (True, None)
            if self._process is not None:
                if self._process.is_alive():
                    self._process.terminate()
                self._process.join()
                self._receive.close()


def _ended(code: int | None) -> GeotoolError:
    return GeotoolError(
        f"the background process rendering figures ended without a result (exit code "
        f"{code}); run with GEOTOOL_BACKGROUND=0 to render in one process."
    )


def _deliver(send: Any, data: bytes) -> None:
    """Send the arguments (a pipe holds 64 kB: the child may still be importing)."""
    with contextlib.suppress(OSError):  # the child was stopped: result() reports it
        send.send_bytes(data)
    send.close()


def _child(work: Callable[..., Any], warm: Callable[[], object] | None, pipes: Any) -> None:
    """The forked process: warm up, wait for the arguments, send back the outcome."""
    parent, receive, send, args_in, args_out = pipes
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the parent
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)
    receive.close()
    args_out.close()
    warm_error: BaseException | None = None
    try:
        if warm is not None:
            warm()
    except BaseException as exc:
        warm_error = exc
    try:
        args, kwargs = ForkingPickler.loads(args_in.recv_bytes())
    except (EOFError, OSError):  # the parent cancelled before submitting, or is gone
        return
    args_in.close()
    try:
        if warm_error is not None:
            raise warm_error
        payload: tuple[bool, object] = (True, work(*args, **kwargs))
    except BaseException as exc:  # everything goes back to the parent
        payload = (False, exc)
    try:
        send.send(payload)
    except OSError:  # the parent is gone (stopped, interrupted): no one to tell
        return
    except Exception as exc:  # an unpicklable result or exception
        with contextlib.suppress(OSError):
            send.send((False, GeotoolError(f"background work failed: {type(exc).__name__}")))
    send.close()


def prepare(
    work: Callable[..., T], *, warm: Callable[[], object] | None = None, forks: bool = False
) -> Prepared[T]:
    """Fork now a process that runs ``warm()`` and waits for ``work``'s arguments.

    ``work``'s return value and exceptions must pickle; it may close over anything.
    ``warm`` (importing ``work``'s libraries, say) is skipped when not forking. ``forks``:
    ``work`` may :func:`start` work of its own (multiprocessing lets only a non-daemon
    process have children; this one still dies with its parent, and a run cancels it).
    """
    if not forking():
        return Prepared(work)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)  # the result, child to parent
    args_in, args_out = ctx.Pipe(duplex=False)  # the arguments, parent to child
    pipes = (os.getpid(), receive, send, args_in, args_out)
    process = ctx.Process(
        target=_child, args=(work, warm, pipes), daemon=not forks, name="geotool-background"
    )
    gc.freeze()  # the child's collections leave the parent's objects (and pages) alone
    try:
        process.start()
    finally:
        gc.unfreeze()
    send.close()
    args_in.close()
    return Prepared(work, process, (receive, args_out))


def start(work: Callable[[], T]) -> Prepared[T]:
    """Run ``work()`` (result and errors must pickle) in a forked process, or at once."""
    return prepare(work).submit()
