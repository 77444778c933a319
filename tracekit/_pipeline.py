"""The export pipeline: bounded queue, one exporter thread, batches, counters.

The traced call only ever appends to a ``deque`` (atomic under the GIL) and
reads a few counters; it never takes a lock the exporter holds, never waits
on a backend, the disk or the network. When the queue is full (by count or by
bytes) the new span is dropped and counted.

The exporter thread wakes on a full batch or every ``interval`` seconds,
turns spans into records (``to_record`` + processors), and hands each batch to
every backend. It runs with tracing suppressed, so a backend's own calls are
never traced. A backend that raises is logged once per reason and counted; one
that hangs only holds this thread: ``flush(timeout)`` still returns on time
and the queue caps still bound memory. If the thread dies it is restarted on
the next span or flush, and counted.
"""

from __future__ import annotations

import collections
import operator
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from tracekit import _guard, _processors
from tracekit._context import CURRENT
from tracekit._lifecycle import payload_size
from tracekit._record import started_record, to_record
from tracekit._runner import OK, STUCK, TIMEOUT, BackendRunner
from tracekit._span import ABANDONED, NON_RECORDING, Span, set_end_reason
from tracekit._state import open_spans, runtime
from tracekit.backends._errors import BatchDropped, StorageFull
from tracekit.backends._protocol import Abilities, ForkAware, abilities_of

if TYPE_CHECKING:
    from tracekit._options import Options
    from tracekit.backends import Backend

DROP_REASONS = (
    "queue_full",
    "backend_error",
    "timeout",
    "storage_full",
    "oversize",
    "after_shutdown",
    "abandoned",
    "filtered",
    "processor_error",
    # remote backends (BatchDropped): the receiver refused the batch, could not be
    # reached, stayed unavailable (429/503) past the retries, or the spool was full
    "rejected",
    "unreachable",
    "unavailable",
    "spool_full",
)


_SIZE = operator.attrgetter("_size")


class Pipeline:
    """Queue + exporter thread feeding one or more backends."""

    def __init__(
        self,
        backends: Sequence[Backend],
        options: Options,
        abilities: Sequence[Abilities] | None = None,
    ) -> None:
        self.backends = list(backends)
        # Each backend's optional abilities, read once (init() reads them before
        # anything changes, so a bad one fails there).
        self.abilities = (
            list(abilities) if abilities is not None else [abilities_of(b) for b in self.backends]
        )
        self.runners = [
            BackendRunner(b, a, options.export_timeout)
            for b, a in zip(self.backends, self.abilities, strict=True)
        ]
        # Backends that want spans still in progress (a store showing running work).
        self.started_runners = [r for r in self.runners if r.abilities.live]
        self.options = options
        self.failures = 0  # failed exports and flushes: flush() reports them
        self.exported = 0
        self._max_spans = options.queue_max_spans
        self._max_bytes = options.queue_max_bytes
        self._batch_size = options.batch_size
        self.worker_restarts = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        intervals = [a.interval for a in self.abilities if a.interval]
        self.interval = options.export_interval or min(intervals or [1.0])
        self._fresh_state()
        if self.started_runners:
            # A store shows work in progress: its scan must run even before any
            # span has ended (an agent whose first span is still open).
            self._start_worker()

    def _fresh_state(self) -> None:
        self._queue: collections.deque[Span] = collections.deque()
        self._seq_in = 0
        self._seq_out = 0
        self._bytes_in = 0
        self._bytes_out = 0
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.Lock())
        self._flush_asked = 0
        self._flush_done = 0
        self._thread: threading.Thread | None = None
        self._inflight = 0  # spans of the batch the exporter is handing to backends
        self._inflight_counted = False  # shutdown counted them already
        self._announced: set[int] = set()  # ids of open spans sent as started records
        self._announce_all = False  # at shutdown: every open span, whatever its age
        self._alive = False
        self._stopping = False
        self.closed = False

    # -- hot path ------------------------------------------------------------------

    def submit(self, span: Span) -> None:
        """Enqueue a finished span (called from the traced call; never blocks)."""
        if self.closed:
            self._drop("after_shutdown", 1, "span ended after tracekit.shutdown(); dropped")
            return
        queue = self._queue
        size = span._size
        if (
            len(queue) >= self._max_spans
            or self._bytes_in - self._bytes_out + size > self._max_bytes
        ):
            self._drop("queue_full", 1, "export queue full; spans are being dropped")
            return
        queue.append(span)
        self._bytes_in += size
        self._seq_in += 1
        if len(queue) >= self._batch_size:
            self._wake.set()
        if not self._alive:
            self._start_worker()

    def _start_worker_if_needed(self) -> None:
        if not self._alive:
            self._start_worker()

    def _drop(self, reason: str, count: int, message: str) -> None:
        self.dropped[reason] += count
        _guard.log_once(f"drop:{reason}", "tracekit: %s (see tracekit.stats())", message)

    # -- worker --------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._cond:
            if self._alive or self._stopping:
                return
            if self._thread is not None:
                self.worker_restarts += 1
            self._alive = True
            thread = threading.Thread(target=self._run, name="tracekit-exporter", daemon=True)
            self._thread = thread
        thread.start()

    def _run(self) -> None:
        CURRENT.set(NON_RECORDING)  # the exporter's own work is never traced
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                self._abandon_stale()
                if self.started_runners:
                    self._announce_started()
                self._drain()
                self._finish_flush()
                if self._stopping and not self._queue:
                    break
        except BaseException as exc:
            # Only a backend raising SystemExit & co. gets here. End this thread
            # quietly; the next span or flush starts a new one (worker_restarts).
            _guard.log_once(
                f"worker:{type(exc).__name__}",
                "tracekit exporter thread stopped by %s; it restarts on the next span",
                type(exc).__name__,
            )
        finally:
            self._alive = False
            with self._cond:
                self._cond.notify_all()

    def _drain(self) -> None:
        queue = self._queue
        batch_size = self.options.batch_size
        while queue:
            # Only this thread takes from the queue, so len() can only grow
            # meanwhile, except when shutdown clears it at its deadline.
            pop = queue.popleft
            try:
                batch: list[Span] = [pop() for _ in range(min(len(queue), batch_size))]
            except IndexError:
                return
            self._inflight = len(batch)
            self._inflight_counted = False
            try:
                self._export(batch)
            except BaseException:
                # Only a BaseException from a backend gets here; it ends this
                # thread (restarted on the next span or flush). Count the batch.
                self.dropped["backend_error"] += len(batch)
                raise
            finally:
                self._inflight = 0
                self._bytes_out += sum(map(_SIZE, batch))
                self._seq_out += len(batch)
                with self._cond:
                    self._cond.notify_all()

    def _export(self, batch: list[Span]) -> None:
        records = self._records(batch)
        if not records:
            return
        lost_by: dict[str, int] = {}  # reason -> spans, summed over the backends
        whole = len(records)
        for runner in self.runners:
            outcome = runner.call("export", records)
            if outcome == OK:
                continue
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                self.failures += 1
                raise outcome  # SystemExit & co.: end the exporter thread (restarted)
            if outcome in (TIMEOUT, STUCK):
                losses = {"timeout": whole}
            elif isinstance(outcome, StorageFull):
                losses = {"storage_full": whole}
            elif isinstance(outcome, BatchDropped):
                # a backend may drop part of a batch, for one reason or several
                losses = outcome.counts or {
                    outcome.reason: whole if outcome.count is None else outcome.count
                }
            else:
                losses = {"backend_error": whole}
            for reason, count in losses.items():
                lost_by[reason] = lost_by.get(reason, 0) + max(0, min(count, whole))
            self._log_backend_failure(runner, "export", outcome)
        if not lost_by:
            self.exported += whole
            return
        self.failures += 1
        if self._inflight_counted:  # shutdown already counted this batch as timed out
            return
        if sum(lost_by.values()) > whole:
            # Several backends lost spans and they overlap: the whole batch counts
            # once, under the one reason they share, else as backend_error.
            reasons = [r for r, n in lost_by.items() if n]
            lost_by = {reasons[0] if len(reasons) == 1 else "backend_error": whole}
        for reason, count in lost_by.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + count
        self.exported += whole - sum(lost_by.values())

    def _records(self, batch: list[Span]) -> list[dict[str, Any]]:
        """Spans -> records through the processors (a record per span, or a count)."""
        records = []
        opts = self.options
        half_cap = opts.limits.max_record_bytes // 2
        for span in batch:
            try:
                record: dict[str, Any] | None = to_record(span, opts.project, opts)
            except Exception as exc:
                _guard.internal_error(exc, "pipeline.to_record", reraise=False)
                self._drop("backend_error", 1, "a span could not be converted to a record")
                continue
            try:
                for processor in opts.processors:
                    if record is None:
                        break
                    record = processor(record)
            except Exception as exc:
                self._drop(
                    "processor_error",
                    1,
                    f"a processor raised {type(exc).__name__}; its records are dropped",
                )
                continue
            if record is None:
                self._drop("filtered", 1, "a processor dropped spans")
                continue
            if span._size > half_cap and _processors.enforce_record_size(record, opts.limits):
                self._drop("oversize", 1, "span payload over the record size cap was cut")
            records.append(record)
        return records

    def _log_backend_failure(self, runner: BackendRunner, verb: str, outcome: Any) -> None:
        what = outcome if isinstance(outcome, str) else type(outcome).__name__
        if outcome in (TIMEOUT, STUCK):
            detail = f"did not return within {runner.timeout:g} s"
        elif isinstance(outcome, BatchDropped):
            # once per reason, with the backend's explanation (status, endpoint)
            what = f"{what}({outcome.reason})"
            detail = f"raised {what}: {outcome}"
        else:
            detail = f"raised {what}"
        consequence = (
            "spans dropped and counted (tracekit.stats())" if verb == "export" else "ignored"
        )
        _guard.log_once(
            f"backend:{runner.name}:{verb}:{what}",
            "tracekit backend %s %s during %s; %s",
            runner.name,
            detail,
            verb,
            consequence,
        )

    def _finish_flush(self) -> None:
        asked = self._flush_asked
        if asked == self._flush_done:
            return
        for runner in self.runners:
            outcome = runner.call("flush")
            if outcome != OK:
                self.failures += 1
                self._log_backend_failure(runner, "flush", outcome)
        with self._cond:
            self._flush_done = asked
            self._cond.notify_all()

    def _announce_started(self) -> None:
        """Send spans open longer than one interval to the backends that show work in progress."""
        cutoff = runtime.clock() - int(self.interval * 1e9)
        everything = self._announce_all
        announced = self._announced
        try:
            fresh = [
                s
                for sid, s in list(open_spans.items())
                if sid not in announced and (everything or s.start_ns <= cutoff)
            ]
        except RuntimeError:  # changed under us by a traced call; next round
            return
        announced.intersection_update(open_spans)  # forget spans that have ended
        records = []
        for span in fresh:
            record = started_record(span, self.options)
            if record is not None:
                records.append(record)
                announced.add(span._span_id)
        for runner in self.started_runners if records else ():
            outcome = runner.call("export_started", records)
            if outcome != OK:
                self._log_backend_failure(runner, "export_started", outcome)

    def _abandon_stale(self) -> None:
        """End spans left open past the caps (count or age) as abandoned."""
        opts = self.options
        oldest_allowed = runtime.clock() - int(opts.max_span_age_s * 1e9)
        while open_spans:
            try:
                span_id = next(iter(open_spans))
                span = open_spans[span_id]
            except (StopIteration, RuntimeError, KeyError):
                return  # changed under us by a traced call; next round
            if len(open_spans) <= opts.max_open_spans and span.start_ns >= oldest_allowed:
                return
            open_spans.pop(span_id, None)
            if span.end_ns:
                continue
            span._flags |= ABANDONED
            span._status = "ERROR"
            span._error = {
                "type": "Abandoned",
                "message": "span still open past the open-span caps; exported unfinished",
                "stack": "",
            }
            set_end_reason(span, "abandoned")
            self._drop("abandoned", 1, "spans left open past the caps were exported as abandoned")
            span.end_ns = runtime.clock()
            span._size = 256 + span._extra_size + payload_size(span._inputs)
            self.submit(span)

    # -- control -------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Export everything enqueued so far and flush the backends.

        Returns:
            True if that finished within ``timeout`` seconds with no backend
            failing; False otherwise (the failures are counted in ``stats()``).
        """
        me = threading.current_thread()
        if me is self._thread or any(me is r.thread for r in self.runners):
            return False  # called from a backend: waiting on ourselves would deadlock
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._seq_in
            self._flush_asked += 1
            ticket = self._flush_asked
            failures = self.failures
        self._wake.set()
        while True:
            with self._cond:
                if self._seq_out >= target and self._flush_done >= ticket:
                    # Delivered: True unless a backend failed meanwhile (counted in stats).
                    return self.failures == failures
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._alive:
                    # The worker notifies after each batch; the bound is a safety net.
                    self._cond.wait(min(remaining, 0.25))
                    continue
                if self._stopping:
                    return False
            self._start_worker()  # never started, or died: (re)start it
            self._wake.set()

    def shutdown(self, timeout: float) -> bool:
        """Stop accepting spans, export what is queued, close the backends.

        Returns:
            True if everything was exported and closed within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        self.closed = True
        ok = True
        if self.started_runners and open_spans:
            # Spans still open at exit (a hung thread): stored as started, so a
            # store shows them as unfinished rather than losing them.
            self._announce_all = True
            self._start_worker_if_needed()
        if self._thread is not None or self._queue:
            ok = self.flush(timeout)
            self._stopping = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    ok = False
        pending = len(self._queue)
        if self._thread is not None and self._thread.is_alive():
            pending += self._inflight  # held by a backend that did not return in time
        if pending:
            self._inflight_counted = True  # the exporter must not count them again
            self._queue.clear()
            self._drop(
                "timeout", pending, "spans not exported by the shutdown deadline were dropped"
            )
        if self._thread is None or not self._thread.is_alive():
            for runner in self.runners:
                remaining = max(0.0, deadline - time.monotonic())
                outcome = runner.call("shutdown", timeout=remaining)
                if outcome != OK:
                    ok = False
                    self._log_backend_failure(runner, "shutdown", outcome)
                runner.stop()
        return ok

    def after_fork_in_child(self) -> None:
        """A forked child starts fresh: the parent's queue is the parent's to export."""
        self._fresh_state()
        self.exported = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.worker_restarts = 0
        for runner in self.runners:
            runner.after_fork_in_child()
            if runner.abilities.fork_aware:
                try:
                    cast("ForkAware", runner.backend).after_fork()
                except Exception as exc:
                    _guard.internal_error(exc, "pipeline.after_fork", reraise=False)

    def stats(self) -> dict[str, Any]:
        """Counters for ``tracekit.stats()``."""
        dropped_at_submit = self.dropped["queue_full"] + self.dropped["after_shutdown"]
        dropped = dict(self.dropped)
        for runner in self.runners:
            # Spans a backend accepted and lost later (a spooled batch the receiver
            # refused): a value that changes, so read now (ReportsLateDrops).
            later = getattr(runner.backend, "dropped_later", None)
            try:
                items = list(later.items()) if isinstance(later, Mapping) else []
            except Exception as exc:  # a mapping changing under us: next call
                _guard.internal_error(exc, "pipeline.dropped_later", reraise=False)
                items = []
            for reason, count in items:
                if isinstance(count, int) and not isinstance(count, bool):
                    dropped[str(reason)] = dropped.get(str(reason), 0) + count
        return {
            "created": self._seq_in + dropped_at_submit,
            "exported": self.exported,
            "pending": len(self._queue),
            "open_spans": len(open_spans),
            "worker_restarts": self.worker_restarts,
            "dropped": dropped,
            "pid": os.getpid(),
        }
