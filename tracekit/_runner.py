"""BackendRunner: how the exporter calls one backend, with a time bound for remote ones.

Python cannot interrupt a call that hangs. A backend that talks to the network
(``remote = True``: OTLP, W&B) therefore gets a runner thread of its own: the
exporter hands it each call and waits at most ``timeout`` seconds. A call that
overruns is reported as a timeout; until it returns, later calls to that
backend are refused at once ("stuck"), so one hung backend costs the others
nothing and the exporter keeps its pace. The runner thread runs with tracing
suppressed.

Local backends (memory, console, jsonl, and any backend that does not say
``remote = True``) are called directly on the exporter thread: handing a call
to another thread costs two GIL hand-offs, up to 5 ms each while a traced
thread is busy, which capped a busy process at a few batches per second
(measured: 78% of spans dropped in a tight loop, against 2% when called
directly). A hung local backend holds only the exporter thread: the queue
caps still bound memory and ``flush()`` still returns on time. Its
``shutdown()`` runs on the exporter thread too, which ``Pipeline.shutdown``
waits for at most its timeout: every call into a backend at shutdown is
bounded, local or remote (D100).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from tracekit._context import CURRENT
from tracekit._span import NON_RECORDING
from tracekit.backends._protocol import Abilities

OK = "ok"
TIMEOUT = "timeout"  # the call did not return in time (it may still be running)
STUCK = "stuck"  # an earlier call has not returned yet: this one was not made


class _Call:
    __slots__ = ("args", "done", "error", "method")

    def __init__(self, method: str, args: tuple[Any, ...]) -> None:
        self.method = method
        self.args = args
        self.done = threading.Event()
        self.error: BaseException | None = None


class BackendRunner:
    """Runs ``export``/``flush``/``shutdown`` of one backend with a time bound."""

    def __init__(self, backend: Any, abilities: Abilities, timeout: float) -> None:
        self.backend = backend
        self.abilities = abilities
        self.timeout = timeout
        self.name = type(backend).__name__
        self.threaded = abilities.remote
        if self.threaded and abilities.takes_timeout:
            # A remote backend that declares it learns its bound, to finish (spool,
            # count by reason) before the runner gives up on the call.
            try:
                backend.export_timeout = timeout
            except Exception:
                pass
        self._fresh()

    def _fresh(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._busy = False

    def call(self, method: str, *args: Any, timeout: float | None = None) -> str | BaseException:
        """Call ``backend.method(*args)`` and wait for it.

        Returns:
            ``OK``, ``TIMEOUT``, ``STUCK``, or the exception the backend raised.
        """
        if not self.threaded:
            # Also called from shutdown() on the application's thread: never traced.
            token = CURRENT.set(NON_RECORDING)
            try:
                getattr(self.backend, method)(*args)
            except BaseException as exc:  # handed back: the exporter decides
                return exc
            finally:
                CURRENT.reset(token)
            return OK
        if self._busy:
            return STUCK
        if self._thread is None or not self._thread.is_alive():
            thread = threading.Thread(
                target=self._run, name=f"tracekit-backend-{self.name}", daemon=True
            )
            try:
                thread.start()
            except Exception as exc:  # RuntimeError: no new thread at interpreter exit (3.12)
                return exc
            self._thread = thread
        job = _Call(method, args)
        self._busy = True
        self._calls.put(job)
        if not job.done.wait(self.timeout if timeout is None else max(0.0, timeout)):
            return TIMEOUT
        return OK if job.error is None else job.error

    def _run(self) -> None:
        CURRENT.set(NON_RECORDING)  # a backend's own calls (HTTP, DB) are never traced
        while True:
            job = self._calls.get()
            if job is None:
                return
            try:
                getattr(self.backend, job.method)(*job.args)
            except BaseException as exc:  # handed back: the exporter decides
                job.error = exc
            finally:
                self._busy = False
                job.done.set()

    @property
    def thread(self) -> threading.Thread | None:
        """The runner thread, if one was started."""
        return self._thread

    def stop(self) -> None:
        """Let the runner thread end once it is idle."""
        if self._thread is not None:
            self._calls.put(None)

    def after_fork_in_child(self) -> None:
        """The child has no runner thread: start over."""
        self._fresh()
