"""Work done in a forked process while the first goes on: a run's figures and pages.

:func:`prepare` forks a child that imports its libraries (``warm``) while the parent
computes the statistics, then receives its arguments through a pipe (:meth:`Prepared.submit`,
sent from a thread so the parent never waits for a child still importing): both cores are
busy. A forked child has the parent's memory (the work may close over anything; only the
arguments and the result are pickled), never runs a numba kernel (OpenMP refuses after a
fork), and dies with its parent (``PR_SET_PDEATHSIG``). Where forking is unsafe (Windows,
macOS) or ``settings.background`` is off, the work runs in this process at ``submit``,
with the same results (``tests/test_caches_background.py`` compares runs both ways).
"""

from __future__ import annotations

import contextlib
import ctypes
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

__all__ = ["Pending", "Prepared", "prepare", "start"]

T = TypeVar("T")


def _die_with(parent: int) -> None:
    """In a forked child: be killed when ``parent`` dies (Linux), or leave if it has."""
    with contextlib.suppress(OSError, AttributeError):  # elsewhere the pipe's EOF ends waits
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


class Pending(Generic[T]):
    """The result of :func:`start`'s work, to be had with :meth:`result`."""

    def __init__(
        self,
        value: T | None = None,
        error: BaseException | None = None,
        *,
        wait: Callable[[], tuple[bool, object]] | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self._value, self._error = value, error
        self._wait = wait  # (ok, value or exception) from the process, once
        self._stop = stop  # ends the process unheard

    def cancel(self) -> None:
        """Stop the work if it is still running (the caller failed before needing it)."""
        stop, self._stop, self._wait = self._stop, None, None
        if stop is not None:
            stop()

    def result(self) -> T:
        """The work's return value (waiting for the process); its exception is raised here."""
        if self._wait is not None:
            ok, payload = self._wait()
            self._wait = self._stop = None
            if ok:
                self._value = payload  # type: ignore[assignment]
            else:
                self._error = payload  # type: ignore[assignment]
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def forking() -> bool:
    """Whether :func:`start` and :func:`prepare` run work in a forked process here."""
    return bool(settings.background) and sys.platform.startswith("linux")


class Prepared(Generic[T]):
    """Work waiting for its arguments (see :func:`prepare`); :meth:`submit` gives them."""

    def __init__(
        self, work: Callable[..., T], *, send: Any = None, pending: Pending[T] | None = None
    ) -> None:
        self._work = work
        self._send = send  # the pipe to the waiting child; None: run in this process
        self._pending = pending
        self._submitted = False

    def submit(self, *args: Any, **kwargs: Any) -> Pending[T]:
        """Start the work with these arguments (they must pickle), once; ``.result()`` waits."""
        if self._submitted:
            raise RuntimeError("work already submitted, or cancelled")
        self._submitted = True
        if self._send is None:
            try:
                return Pending(value=self._work(*args, **kwargs))
            except Exception as exc:
                return Pending(error=exc)
        assert self._pending is not None
        data = ForkingPickler.dumps((args, kwargs))  # an unpicklable argument fails here
        send, self._send = self._send, None

        def deliver() -> None:  # a pipe holds 64 kB: the child may still be importing
            try:
                send.send_bytes(data)
            except OSError:  # the child was stopped; cancel() or result() reports it
                pass
            finally:
                send.close()

        threading.Thread(target=deliver, daemon=True, name="geotool-deliver").start()
        return self._pending

    def cancel(self) -> None:
        """Stop the waiting or running child (the caller failed before needing it)."""
        self._submitted = True  # no submit after a cancel
        if self._pending is not None:
            self._pending.cancel()
        if self._send is not None:
            self._send.close()
            self._send = None


def _child(work: Callable[..., Any], warm: Callable[[], object] | None, pipes: Any) -> None:
    """The forked process: warm up, wait for the arguments, send back the outcome."""
    parent, receive, send, args_in, args_out = pipes
    _die_with(parent)
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
    except EOFError:  # the parent cancelled before submitting
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
    except Exception as exc:  # an unpicklable result or exception
        send.send((False, GeotoolError(f"background work failed: {type(exc).__name__}")))
    send.close()


def prepare(work: Callable[..., T], *, warm: Callable[[], object] | None = None) -> Prepared[T]:
    """Fork now a process that runs ``warm()`` and waits for ``work``'s arguments.

    ``work``'s return value and exceptions must pickle; it may close over anything (the
    child has the parent's memory as at this call). ``warm`` (importing ``work``'s
    libraries, say) is not called when the work runs in this process.
    """
    if not forking():
        return Prepared(work)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)  # the result, child to parent
    args_in, args_out = ctx.Pipe(duplex=False)  # the arguments, parent to child
    pipes = (os.getpid(), receive, send, args_in, args_out)
    process = ctx.Process(
        target=_child, args=(work, warm, pipes), daemon=True, name="geotool-background"
    )
    process.start()
    send.close()
    args_in.close()

    def wait() -> tuple[bool, object]:
        try:
            return receive.recv()
        except EOFError:
            process.join()
            return False, GeotoolError(
                f"the background process rendering figures ended without a result (exit "
                f"code {process.exitcode}); run with GEOTOOL_BACKGROUND=0 to render in one "
                "process."
            )
        finally:
            receive.close()
            process.join()

    def stop() -> None:
        if process.is_alive():
            process.terminate()
        process.join()
        receive.close()

    return Prepared(work, send=args_out, pending=Pending(wait=wait, stop=stop))


def start(work: Callable[[], T]) -> Pending[T]:
    """Run ``work()`` (no arguments; result and errors must pickle) in a forked process.

    Or at once, where :func:`forking` is false; ``.result()`` of the returned
    :class:`Pending` waits for the value.
    """
    return prepare(work).submit()
