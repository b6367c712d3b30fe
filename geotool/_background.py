"""Work done in another process while the first goes on: a run's figures and pages.

A plain ``geotool run`` is a chain of short stages on one core. Its Moran scatter plots
(matplotlib, about 1.3 s with its import) need only the local statistics, and its map
pages (folium, about 1.2 s) only the statistics, the tiers' shapes and the cached
cluster layers; :func:`prepare` forks a process for each before the statistics, the
children import their libraries (``warm``) while the parent computes, and the parent
sends them the statistics when it has them (:meth:`Prepared.submit`) and counts the
city clusters while they draw: a two-core machine is busy on both cores.

A forked child starts with the parent's memory (no re-import, and whatever the work
closes over, such as a study with its functions, need not pickle). Only the arguments
given to ``submit`` and the result travel, pickled through pipes; the arguments are
sent from a thread, so the parent does not wait for a child still importing. In a
plain run the children fork before any numba kernel has run, so no numba worker
thread exists yet (forking a threaded process is unsafe, and Python 3.12 warns of
it). A child never runs a numba kernel (GNU OpenMP refuses to work after a fork),
exits when done, and dies with its parent (``PR_SET_PDEATHSIG``: a run killed with
SIGKILL leaves no renderer behind).

Where forking is not safe or not possible (Windows; macOS, where system frameworks are
not fork-safe) or ``settings.background`` is off, the work runs in the calling process
at ``submit``, with the same results: nothing the work computes depends on where it
runs (``tests/test_caches_background.py`` compares every file of a run both ways).
"""

from __future__ import annotations

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

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """In a forked child: be killed by the kernel when ``parent`` dies (Linux).

    A ``geotool run`` killed with SIGKILL cannot stop its children itself; without
    this a child went on rendering for seconds. The request is checked against a
    parent that died before it was made (the child is then an orphan: it leaves).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux's libc: the pipe's EOF still ends waits
        pass
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
        self._value = value
        self._error = error
        self._wait = wait  # (ok, value or exception) from the process, once
        self._stop = stop  # ends the process unheard

    def cancel(self) -> None:
        """Stop the work if it is still running (the caller failed before needing it)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()
        self._wait = None

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
        self,
        work: Callable[..., T],
        *,
        send: Any = None,
        pending: Pending[T] | None = None,
    ) -> None:
        self._work = work
        self._send = send  # the pipe to the waiting child; None: run in this process
        self._pending = pending
        self._submitted = False

    def submit(self, *args: Any, **kwargs: Any) -> Pending[T]:
        """Start the work with these arguments (they must pickle); once only.

        Returns
        -------
        Pending
            ``.result()`` waits for the value.

        """
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


def prepare(work: Callable[..., T], *, warm: Callable[[], object] | None = None) -> Prepared[T]:
    """Fork now a process that runs ``warm()`` and waits for ``work``'s arguments.

    Parameters
    ----------
    work : callable
        Called as ``work(*args, **kwargs)`` with :meth:`Prepared.submit`'s arguments;
        its return value and any exception it raises must pickle. It may close over
        anything (the child has the parent's memory as it was at this call).
    warm : callable, optional
        What the child does while it waits, such as importing ``work``'s libraries.
        Not called when the work runs in this process (at ``submit``).

    Returns
    -------
    Prepared

    """
    if not forking():
        return Prepared(work)
    ctx = multiprocessing.get_context("fork")
    parent = os.getpid()
    receive, send = ctx.Pipe(duplex=False)  # the result, child to parent
    args_in, args_out = ctx.Pipe(duplex=False)  # the arguments, parent to child

    def child() -> None:
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

    process = ctx.Process(target=child, daemon=True, name="geotool-background")
    process.start()
    send.close()
    args_in.close()

    def wait() -> tuple[bool, object]:
        try:
            return receive.recv()
        except EOFError:
            process.join()
            msg = (
                f"the background process rendering figures ended without a result (exit "
                f"code {process.exitcode}); run with GEOTOOL_BACKGROUND=0 to render in one "
                "process."
            )
            return False, GeotoolError(msg)
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
    """Run ``work()`` in a forked process (or at once, see the module docstring).

    Parameters
    ----------
    work : callable
        Takes no arguments; its return value and any exception it raises must pickle.

    Returns
    -------
    Pending
        ``.result()`` waits for the value.

    """
    return prepare(work).submit()
