"""Work done in another process while the first goes on: a run's figures and pages.

A plain ``geotool run`` is a chain of short stages on one core. Its Moran scatter plots
(matplotlib, about 1.5 s with its import) need only the local statistics, and its map
pages (folium, about 1.5 s) only the statistics, the tiers' shapes and the cached
cluster layers; :func:`start` forks a process for each, and the main process counts
the city clusters meanwhile, so a two-core machine is busy on both cores.

A forked child starts with the parent's memory (no pickling of the inputs, no
re-import); only its result travels back, pickled through a pipe. The child never runs
a numba kernel (the parent's worker threads do not survive a fork) and exits when done.
Where forking is not safe or not possible (Windows; macOS, where system frameworks are
not fork-safe) or ``settings.background`` is off, the work runs in the calling process
at once, with the same results: nothing the work computes depends on where it runs
(``tests/test_caches_background.py`` compares every file of a run both ways).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

from geotool import settings
from geotool._errors import GeotoolError

__all__ = ["Pending", "start"]

T = TypeVar("T")


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
    """Whether :func:`start` runs work in a forked process here."""
    return bool(settings.background) and sys.platform.startswith("linux")


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
    if not forking():
        try:
            return Pending(value=work())
        except Exception as exc:
            return Pending(error=exc)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        receive.close()
        try:
            payload: tuple[bool, object] = (True, work())
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

    return Pending(wait=wait, stop=stop)
