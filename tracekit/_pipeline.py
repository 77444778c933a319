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

``shutdown(timeout)`` asks this thread to drain, flush and close the backends,
and waits for it at most ``timeout``: a local backend's ``shutdown()`` runs on
the exporter thread too, so a call that hangs costs the caller (and the exit)
nothing past the bound (D100).

Accounting (D101): every span the pipeline accepted is, at any moment, in
exactly one of: queued, in flight (the batch the exporter holds), exported, or
dropped under one reason. Who owns a span is decided under the condition
lock: the exporter takes a batch under it, and settles the batch's outcome
under it; shutdown takes what is left under it. A batch shutdown gave up on
is counted ``timeout`` meanwhile, and its real outcome replaces that count if
it finishes later. So ``created == exported + lost + pending`` always holds,
where ``lost`` sums every reason but the marks, :data:`MARK_REASONS`.

The whole trace or none (D109): a new trace is refused at its root while the
queue is :data:`ADMIT_FILL` full (``admit``, read by ``_lifecycle.admit_root``),
so the room left goes to the traces already started. A span lost anyway
(queue full, conversion or processor failure) is remembered by trace id, and
after each round the backends that mark traces (``export_losses``) are told
how many spans of which traces they will never receive.
"""

from __future__ import annotations

import collections
import math
import operator
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from tracekit import _guard, _processors
from tracekit._context import CURRENT
from tracekit._lifecycle import span_size
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
    # a record no backend could encode, stored or sent as a placeholder (the tree stays whole)
    "unencodable",
    # remote backends (BatchDropped): the receiver refused the batch, could not be
    # reached, stayed unavailable (429/503) past the retries, or the spool was full
    "rejected",
    "unreachable",
    "unavailable",
    "spool_full",
)

# Reasons that count spans kept but changed: oversize (payload cut) and abandoned
# (exported unfinished). They are not losses: each such span is also exported or
# dropped under another reason, so the accounting identity leaves them out.
MARK_REASONS = ("oversize", "abandoned")


def lost(dropped: Mapping[str, int]) -> int:
    """Spans lost: the sum of ``stats()["dropped"]`` without the marks (oversize, abandoned).

    ``created == exported + lost(dropped) + pending`` (D101).
    """
    return sum(n for reason, n in dropped.items() if reason not in MARK_REASONS)


ADMIT_FILL = 0.9
"""A new trace is refused at its root while the queue holds this share of its caps (D109)."""

LOSS_MEMORY = 100_000
"""Lost spans remembered by trace id until a backend is told; past it they go unmarked."""

TAKE_BATCHES = 16
"""One exporter round takes up to this many ``batch_size`` batches from the queue (D105)."""
# What a remote backend's failed request says of the receiver: stop sending this round.
_STOP_REASONS = frozenset({"unreachable", "unavailable", "spool_full"})


def _reason_of(outcome: Any) -> str:
    """The drop reason a failed export call counts under."""
    if outcome in (TIMEOUT, STUCK):
        return "timeout"
    if isinstance(outcome, StorageFull):
        return "storage_full"
    if isinstance(outcome, BatchDropped):
        return outcome.reason
    return "backend_error"


def _losses_of(outcome: Any, count: int) -> dict[str, int]:
    """The records of a failed export call of ``count`` records lost, by reason.

    A backend may drop part of a call's records, for one reason or several
    (``BatchDropped``'s count or counts); anything else loses all of them.
    """
    if isinstance(outcome, BatchDropped) and (outcome.counts or outcome.count is not None):
        mine = dict(outcome.counts or {}) or {outcome.reason: outcome.count or 0}
    else:
        mine = {_reason_of(outcome): count}
    return {reason: max(0, min(n, count)) for reason, n in mine.items()}


ROUND_BYTES = 8 << 20
"""...and spans of at most this many queued bytes: the round's records, their JSON and the
store's rows are held beside them until it ends, outside the queue's byte cap (D106)."""

# Said through the logger only, not on stderr: the marks (nothing lost) and the
# records the application's own processor chose to drop (D102).
LOGGED_ONLY = (*MARK_REASONS, "filtered")


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
        self._wait_when_full = options.on_full == "wait"
        # What one round takes from the queue: a local backend writes it in one go
        # (one transaction: a store pays per transaction, not per span), a remote
        # one in requests of batch_size spans (D105).
        self._take = options.batch_size * TAKE_BATCHES
        # Root admission (D109): at or past these a new trace is refused whole; never
        # with on_full="wait", whose callers wait for room instead.
        if self._wait_when_full:
            self.admit_spans = self.admit_bytes = sys.maxsize
        else:
            # rounded up: a queue of a few spans refuses a root only when full
            self.admit_spans = math.ceil(self._max_spans * ADMIT_FILL)
            self.admit_bytes = math.ceil(self._max_bytes * ADMIT_FILL)
        self.refused_traces = 0
        self._refused_why = (
            f"the export queue is {ADMIT_FILL:.0%} full ({self._max_spans:,} spans or "
            f"{self._max_bytes >> 20} MiB): new traces are refused whole at their root "
            "until it drains"
        )
        # The backends that mark a trace incomplete, and per backend the losses it
        # has yet to be told (kept when a call fails, offered again next round).
        self._loss_runners = [r for r in self.runners if r.abilities.marks_losses]
        self._untold: list[dict[str, int]] = [{} for _ in self._loss_runners]
        self.unmarked = 0  # spans lost whose trace no backend could be told about
        self.worker_restarts = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self._said: set[str] = set()  # reasons whose first drop was said (D102)
        self._queue_full_why = (
            f"the export queue is full ({self._max_spans:,} spans or "
            f"{self._max_bytes >> 20} MiB): the backends do not keep up"
        )
        intervals = [a.interval for a in self.abilities if a.interval]
        self.interval = options.export_interval or min(intervals or [1.0])
        self._fresh_state()
        if self.started_runners:
            # A store shows work in progress: its scan must run even before any
            # span has ended (an agent whose first span is still open).
            self._start_worker()

    def _fresh_state(self) -> None:
        self._queue: collections.deque[Span] = collections.deque()
        self._seq_in = 0  # spans accepted into the queue (the hot path's counter)
        self._seq_out = 0  # of those, spans settled: exported, dropped, or taken by shutdown
        self._bytes_in = 0
        self._bytes_out = 0
        self._wake = threading.Event()
        self._wake_flag = self._wake.is_set
        self._cond = threading.Condition(threading.Lock())
        self._flush_asked = 0
        self._flush_done = 0
        self._thread: threading.Thread | None = None
        # Under _cond: the spans of the batch the exporter holds, and how many of
        # them shutdown counted as timeout (the outcome replaces that count, D101).
        self._inflight = 0
        self._inflight_claimed = 0
        self._waiting = 0  # callers waiting for room (on_full="wait"), under _cond
        # What the exporter is calling now (runner, verb), for shutdown's log line.
        self._calling: tuple[BackendRunner, str] | None = None
        self._announced: set[int] = set()  # ids of open spans sent as started records
        self._announce_all = False  # at shutdown: every open span, whatever its age
        # Trace ids of spans lost on tracekit's side, one per span, until told (D109):
        # appended by the hot path (atomic), taken by the exporter.
        self._lost_ids: collections.deque[int] = collections.deque()
        self._alive = False
        self._stopping = False  # shutdown: drain, flush, close the backends, end
        self._deadline = 0.0  # shutdown's deadline (monotonic): bounds the remote calls
        self._closed_all = False  # the exporter closed every backend
        self._given_up = False  # shutdown's deadline passed: no more backend calls
        self._no_thread = False  # shutdown could not start the exporter (3.12 at exit)
        self.closed = False

    # -- hot path ------------------------------------------------------------------

    def submit(self, span: Span) -> None:
        """Enqueue a finished span (called from the traced call; never blocks)."""
        if self.closed:
            self._drop("after_shutdown", 1, "a span ended after tracekit.shutdown()")
            if self._loss_runners:  # the backends are closed: its trace cannot be marked
                self.unmarked += 1
            return
        queue = self._queue
        size = span._size
        if (
            len(queue) >= self._max_spans
            or self._bytes_in - self._bytes_out + size > self._max_bytes
        ):
            if not (self._wait_when_full and self._wait_for_room(span)):
                self._drop("queue_full", 1, self._queue_full_why)
                self._mark_lost(span._trace_id)
            return  # dropped, or queued by _wait_for_room when room appeared
        queue.append(span)
        self._bytes_in += size
        self._seq_in += 1
        # Event.set() takes a lock and notifies: once per wake-up, not once per span
        # while the exporter works through a full batch (it clears the flag as it wakes).
        if len(queue) >= self._batch_size and not self._wake_flag():
            self._wake.set()
        if not self._alive:
            self._start_worker()

    def _wait_for_room(self, span: Span) -> bool:
        """``on_full="wait"``: queue ``span`` once it fits, waiting at most flush_timeout.

        Never from the exporter's own threads (a backend's code), nor after
        shutdown: those drop at once. The exporter notifies after it takes a
        round from the queue and after each round it settles; shutdown
        notifies too. The span is appended under the lock, after the last
        check: waiters cannot overshoot the caps together, and none appends
        after shutdown took the queue.

        Returns:
            True when the span was queued; False when it must be dropped.
        """
        if self.closed or self._on_own_thread():
            return False
        size = span._size
        deadline = time.monotonic() + self.options.flush_timeout
        self._start_worker_if_needed()
        self._wake.set()
        with self._cond:
            self._waiting += 1
            try:
                while (
                    len(self._queue) >= self._max_spans
                    or self._bytes_in - self._bytes_out + size > self._max_bytes
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closed or not self._alive:
                        return False
                    self._cond.wait(remaining)
                if self.closed:  # shutdown, set by another thread while this one waited
                    return False  # type: ignore[unreachable]
                self._queue.append(span)
                self._bytes_in += size
                self._seq_in += 1
            finally:
                self._waiting -= 1
        self._wake.set()
        return True

    def refuse_root(self) -> None:
        """Count a new trace refused at its root (``_lifecycle.admit_root``, D109).

        Its root counts as one ``queue_full`` span; the spans under it are never
        created, as in a trace sampled out.
        """
        self.refused_traces += 1
        self._drop("queue_full", 1, self._refused_why)

    def _mark_lost(self, trace_id: int) -> None:
        """Remember that a span of this trace was lost, for the backends that mark traces."""
        if not self._loss_runners:
            return
        if len(self._lost_ids) < LOSS_MEMORY:
            self._lost_ids.append(trace_id)
        else:
            self.unmarked += 1

    def _tell_losses(self) -> None:
        """Tell each backend that marks traces which of them lost spans since it was last told.

        After a round and before a flush (exporter thread). A call that raised
        or was not made (stuck) is offered again next time; one that timed out
        may have been applied, so its counts go unmarked rather than twice.
        """
        if not self._loss_runners:
            return
        ids = self._lost_ids
        fresh: dict[str, int] = {}
        while ids:
            try:
                trace_id = ids.popleft()
            except IndexError:
                break
            key = "%032x" % trace_id  # noqa: UP031 (as _record writes trace ids)
            fresh[key] = fresh.get(key, 0) + 1
        for runner, untold in zip(self._loss_runners, self._untold, strict=True):
            for key, count in fresh.items():
                untold[key] = untold.get(key, 0) + count
            if not untold or self._given_up:
                continue
            outcome = self._call(runner, "export_losses", dict(untold))
            if outcome == OK:
                untold.clear()
                continue
            self._log_backend_failure(runner, "export_losses", outcome)
            if outcome == TIMEOUT:
                self.unmarked += sum(untold.values())
                untold.clear()
            while len(untold) > LOSS_MEMORY:  # bounded: the oldest go unmarked
                self.unmarked += untold.pop(next(iter(untold)))

    def _start_worker_if_needed(self) -> None:
        if not self._alive:
            self._start_worker()

    def _drop(self, reason: str, count: int, why: str) -> None:
        """Count ``count`` spans under ``reason`` now, and say the first (hot path, marks)."""
        self.dropped[reason] += count
        self._notice(reason, count, why)

    def _notice(self, reason: str, count: int, why: str) -> bool:
        """Say the first drop of ``reason``: logged, and on stderr for a loss (D102)."""
        if reason in self._said:  # the hot path's usual case: no lock, nothing formatted
            return False
        self._said.add(reason)
        to_stderr = self.options.drop_notice and reason not in LOGGED_ONLY
        return _guard.drop_notice(reason, count, why, to_stderr=to_stderr)

    # -- worker --------------------------------------------------------------------

    def _start_worker(self, *, for_shutdown: bool = False) -> bool:
        """Start the exporter thread unless it runs; False if it cannot run.

        A thread cannot be started once shutdown gave up, nor by the interpreter
        itself at exit (Python 3.12 forbids it): then False, never an exception.
        """
        with self._cond:
            if self._alive:
                return True
            if self._given_up or (self._stopping and not for_shutdown):
                return False
            previous = self._thread
            self._alive = True
            thread = threading.Thread(target=self._run, name="tracekit-exporter", daemon=True)
            self._thread = thread
        try:
            thread.start()
        except Exception as exc:  # RuntimeError: can't create new thread at interpreter shutdown
            with self._cond:
                self._alive = False
                self._thread = previous
                self._cond.notify_all()
            _guard.log_once(
                f"worker-start:{type(exc).__name__}",
                "tracekit could not start its exporter thread (%s)",
                _guard.one_line(str(exc)) or type(exc).__name__,
            )
            return False
        if previous is not None:
            with self._cond:
                self.worker_restarts += 1
        return True

    def _run(self) -> None:
        CURRENT.set(NON_RECORDING)  # the exporter's own work is never traced
        try:
            while not self._given_up:
                self._wake.wait(self.interval)
                self._wake.clear()
                self._abandon_stale()
                if self.started_runners:
                    self._announce_started()
                self._drain()
                self._tell_losses()  # losses of spans that never reached a round
                self._finish_flush()
                if self._stopping and not self._queue and self._flush_done == self._flush_asked:
                    self._close_backends()
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
            with self._cond:
                self._alive = False
                self._calling = None
                self._cond.notify_all()

    def _call(self, runner: BackendRunner, verb: str, *args: Any) -> str | BaseException:
        """``runner.call`` on the exporter thread, noting what is being called (for shutdown)."""
        self._calling = (runner, verb)
        try:
            if verb == "shutdown":
                # a remote backend's: bounded by what is left of shutdown's time
                remaining = max(0.0, self._deadline - time.monotonic())
                return runner.call(verb, *args, timeout=min(remaining, runner.timeout))
            return runner.call(verb, *args)
        finally:
            self._calling = None

    def _close_backends(self) -> None:
        """Shut every backend down, on this thread (shutdown waits for it, bounded)."""
        for runner in self.runners:
            if self._given_up:
                return  # shutdown stopped waiting: the application may reuse the backends
            outcome = self._call(runner, "shutdown")
            if outcome != OK:
                self.failures += 1
                self._log_backend_failure(runner, "shutdown", outcome)
            runner.stop()
        with self._cond:
            self._closed_all = True
            self._cond.notify_all()

    def _drain(self) -> None:
        queue = self._queue
        batch_size = self._take
        while queue:
            with self._cond:
                # Taken under the lock: shutdown takes what is left under it too,
                # so a span is either in this batch or counted by shutdown, never both.
                if self._given_up:
                    return
                # Only holders of the lock take from the queue: it cannot shrink here.
                pop = queue.popleft
                batch: list[Span] = []
                room = ROUND_BYTES  # what the round's records and rows add is about as much
                for _ in range(min(len(queue), batch_size)):
                    span = pop()
                    batch.append(span)
                    room -= span._size
                    if room <= 0:
                        break
                if not batch:
                    return
                self._inflight = len(batch)
                if self._waiting:  # on_full="wait": there is room in the queue now
                    self._cond.notify_all()
            losses: dict[str, int] = {}  # reason -> spans, settled with the batch
            exported = 0
            try:
                exported = self._export(batch, losses)
            except BaseException:
                # Only a BaseException from a backend gets here; it ends this
                # thread (restarted on the next span or flush). Count the batch.
                rest = len(batch) - sum(losses.values())
                losses["backend_error"] = losses.get("backend_error", 0) + rest
                raise
            finally:
                self._settle(batch, exported, losses)
            self._tell_losses()  # D109: the round's losses, before the next round

    def _settle(self, batch: list[Span], exported: int, losses: Mapping[str, int]) -> None:
        """Count a batch's outcome: each of its spans once, exported or under one reason."""
        size = sum(map(_SIZE, batch))
        with self._cond:
            claimed = self._inflight_claimed
            if claimed:
                # shutdown counted them as timeout meanwhile: the real outcome replaces that
                self.dropped["timeout"] -= claimed
            self.exported += exported
            for reason, count in losses.items():
                if count:
                    self.dropped[reason] = self.dropped.get(reason, 0) + count
            self._inflight = 0
            self._inflight_claimed = 0
            self._bytes_out += size
            self._seq_out += len(batch) - claimed  # shutdown counted the claimed ones
            self._cond.notify_all()

    def _export(self, batch: list[Span], losses: dict[str, int]) -> int:
        """Hand a batch to every backend; add what was lost to ``losses``.

        Returns:
            The spans of the batch every backend took (``exported``).
        """
        records = self._records(batch, losses)
        if not records:
            return 0
        # (runner, outcome, the spans it lost by reason)
        failed: list[tuple[BackendRunner, Any, dict[str, int]]] = []
        whole = len(records)
        for runner in self.runners:
            outcome, mine = self._export_to(runner, records)
            if outcome == OK:
                continue
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                self.failures += 1
                raise outcome  # SystemExit & co.: end the exporter thread (restarted)
            mine = {r: max(0, min(n, whole)) for r, n in mine.items()}
            failed.append((runner, outcome, mine))
        if not failed:
            return whole
        self.failures += 1
        lost_by: dict[str, int] = {}  # reason -> spans, summed over the backends
        for _runner, _outcome, mine in failed:
            for reason, count in mine.items():
                lost_by[reason] = lost_by.get(reason, 0) + count
        if sum(lost_by.values()) > whole:
            # Several backends lost spans and they overlap: the whole batch counts
            # once, under the one reason they share, else as backend_error.
            reasons = [r for r, n in lost_by.items() if n]
            lost_by = {reasons[0] if len(reasons) == 1 else "backend_error": whole}
        for reason, count in lost_by.items():
            losses[reason] = losses.get(reason, 0) + count
        self._report_export_failures(failed, lost_by)
        return whole - sum(lost_by.values())

    def _export_to(
        self, runner: BackendRunner, records: list[dict[str, Any]]
    ) -> tuple[Any, dict[str, int]]:
        """One backend's export of a round: whole, or for a remote one in batch_size requests.

        A remote backend's requests go on after one that lost part of its
        records (``BatchDropped`` for a placeholder, a refusal), and stop at
        one that says the receiver cannot take more now (a timeout, a full
        spool or disk, unreachable, unavailable, an error): the requests not
        sent count under that reason.

        Returns:
            The first failure (``OK`` if none; a ``BaseException`` that is not
            an ``Exception`` at once) and the records lost, by reason.
        """
        size = self._batch_size
        if not runner.abilities.remote or len(records) <= size:
            outcome = self._call(runner, "export", records)
            if outcome == OK or not isinstance(outcome, (Exception, str)):
                return outcome, {}
            return outcome, _losses_of(outcome, len(records))
        first: Any = OK
        lost: dict[str, int] = {}
        for at in range(0, len(records), size):
            part = records[at : at + size]
            outcome = self._call(runner, "export", part)
            if outcome == OK:
                continue
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                return outcome, lost
            if first == OK:
                first = outcome
            for reason, count in _losses_of(outcome, len(part)).items():
                lost[reason] = lost.get(reason, 0) + count
            if isinstance(outcome, BatchDropped) and outcome.reason not in _STOP_REASONS:
                continue  # that request lost part of its records; the receiver takes more
            unsent = len(records) - at - len(part)
            if unsent:
                reason = _reason_of(outcome)
                lost[reason] = lost.get(reason, 0) + unsent
            break
        return first, lost

    def _report_export_failures(
        self,
        failed: list[tuple[BackendRunner, Any, dict[str, int]]],
        lost_by: Mapping[str, int],
    ) -> None:
        """The first drop of a reason names the backend that caused it; others log once."""
        told: set[int] = set()  # runners a drop notice named just now
        for reason, count in lost_by.items():
            if not count:
                continue
            culprit = next((f for f in failed if f[2].get(reason)), failed[0])
            runner, outcome = culprit[0], culprit[1]
            why = f"backend {runner.name} {self._failure_detail(runner, outcome)} during export"
            if self._notice(reason, count, why):
                told.add(id(runner))
                _guard.mark_logged(self._failure_key(runner, "export", outcome))
        for runner, outcome, _mine in failed:
            if id(runner) not in told:
                self._log_backend_failure(runner, "export", outcome)

    def _records(self, batch: list[Span], losses: dict[str, int]) -> list[dict[str, Any]]:
        """Spans -> records through the processors (a record per span, or a loss in ``losses``)."""
        records = []
        opts = self.options
        # A span under this many bytes cannot make a record over the cap: JSON writes
        # a character as at most 12 (an astral one as two \u escapes), a key or value
        # counted in the span's size as at least one.
        may_exceed = opts.limits.max_record_bytes // 12
        for span in batch:
            try:
                record: dict[str, Any] | None = to_record(span, opts.project, opts)
            except Exception as exc:
                _guard.internal_error(exc, "pipeline.to_record", reraise=False)
                self._lose(
                    losses, "backend_error", "a span could not be converted to a record", span
                )
                continue
            try:
                for processor in opts.processors:
                    if record is None:
                        break
                    record = processor(record)
            except Exception as exc:
                self._lose(
                    losses,
                    "processor_error",
                    f"a processor (init(redact=...)) raised {type(exc).__name__}",
                    span,
                )
                continue
            if record is None:
                # the application's own choice: its trace is not marked incomplete (D109)
                self._lose(losses, "filtered", "a processor (init(redact=...)) returned None")
                continue
            if span._size > may_exceed and _processors.enforce_record_size(record, opts.limits):
                # a mark, not a loss: the cut record is exported (D101)
                self._drop("oversize", 1, "a span payload over max_record_bytes was cut")
            records.append(record)
        return records

    def _lose(
        self, losses: dict[str, int], reason: str, why: str, span: Span | None = None
    ) -> None:
        losses[reason] = losses.get(reason, 0) + 1
        self._notice(reason, 1, why)
        if span is not None:
            self._mark_lost(span._trace_id)

    @staticmethod
    def _failure_detail(runner: BackendRunner, outcome: Any) -> str:
        if outcome in (TIMEOUT, STUCK):
            return f"did not return within {runner.timeout:g} s"
        what = outcome if isinstance(outcome, str) else type(outcome).__name__
        if isinstance(outcome, BatchDropped):
            # with the backend's explanation (status, endpoint)
            return f"raised {what}({outcome.reason}): {outcome}"
        return f"raised {what}"

    @staticmethod
    def _failure_key(runner: BackendRunner, verb: str, outcome: Any) -> str:
        what = outcome if isinstance(outcome, str) else type(outcome).__name__
        if isinstance(outcome, BatchDropped):
            what = f"{what}({outcome.reason})"  # once per reason
        return f"backend:{runner.name}:{verb}:{what}"

    def _log_backend_failure(self, runner: BackendRunner, verb: str, outcome: Any) -> None:
        consequence = (
            "spans dropped and counted (tracekit.stats())" if verb == "export" else "ignored"
        )
        _guard.log_once(
            self._failure_key(runner, verb, outcome),
            "tracekit backend %s %s during %s; %s",
            runner.name,
            self._failure_detail(runner, outcome),
            verb,
            consequence,
        )

    def _finish_flush(self) -> None:
        asked = self._flush_asked
        if asked == self._flush_done:
            return
        for runner in self.runners:
            if self._given_up:
                return
            outcome = self._call(runner, "flush")
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
            if self._given_up:
                return
            outcome = self._call(runner, "export_started", records)
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
            # a mark, not a loss: the span is exported (or dropped) like any other (D101)
            self._drop(
                "abandoned",
                1,
                f"a span still open past the caps ({opts.max_open_spans:,} open spans, "
                f"{opts.max_span_age_s:g} s) was ended and exported unfinished",
            )
            span.end_ns = runtime.clock()
            span._size = span_size(span)
            self.submit(span)

    # -- control -------------------------------------------------------------------

    def _on_own_thread(self) -> bool:
        """Called from inside a backend (the exporter or a runner thread)."""
        me = threading.current_thread()
        return me is self._thread or any(me is r.thread for r in self.runners)

    def flush(self, timeout: float) -> bool:
        """Export everything enqueued so far and flush the backends.

        Returns:
            True if that finished within ``timeout`` seconds with no backend
            failing; False otherwise (the failures are counted in ``stats()``).
        """
        if self._on_own_thread():
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
            if not self._start_worker():  # never started, or died: (re)start it
                return False
            self._wake.set()

    def shutdown(self, timeout: float) -> bool:
        """Stop accepting spans, export what is queued, close the backends.

        The exporter thread does all of it (local backends' ``shutdown()``
        included); this waits for it at most ``timeout`` seconds, then counts
        what is still queued or in flight as ``timeout`` and returns (D100).

        Returns:
            True if everything was exported and closed within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        self.closed = True
        with self._cond:
            self._deadline = deadline
            self._stopping = True
            self._flush_asked += 1  # the backends are flushed before they are closed
            failures = self.failures
            if self._waiting:  # on_full="wait": callers waiting for room drop now
                self._cond.notify_all()
        if self.started_runners and open_spans:
            # Spans still open at exit (a hung thread): stored as started, so a
            # store shows them as unfinished rather than losing them.
            self._announce_all = True
        self._wake.set()
        done = False
        if not self._on_own_thread():
            done = self._wait_closed(deadline)
        with self._cond:
            if not done:
                self._given_up = True  # the exporter calls no backend again
            left = 0
            queue = self._queue
            while queue:  # spans the exporter did not reach: taken here, once
                try:
                    span = queue.popleft()
                except IndexError:
                    break
                left += 1
                self._bytes_out += span._size
            held = self._inflight - self._inflight_claimed  # the batch a backend holds
            self._inflight_claimed += held
            self._seq_out += left + held
            if left + held:
                self.dropped["timeout"] += left + held
                if self._loss_runners:  # the exporter is done: their traces stay unmarked
                    self.unmarked += left
            calling = self._calling
            self._cond.notify_all()
        self._wake.set()  # an idle exporter sees _given_up and ends
        if left + held:
            why = f"not exported by the shutdown deadline ({timeout:.3g} s)"
            if self._no_thread:
                why = "not exported: no exporter thread could be started at interpreter exit"
            elif calling is not None:
                why += f" (backend {calling[0].name} still in {calling[1]}())"
            self._notice("timeout", left + held, why)
        if calling is not None and not done:
            runner, verb = calling
            _guard.log_once(
                f"backend:{runner.name}:{verb}:shutdown-deadline",
                "tracekit backend %s did not return from %s() by the shutdown deadline "
                "(%.3g s); %s",
                runner.name,
                verb,
                timeout,
                "its spans were counted as timeout" if verb == "export" else "ignored",
            )
        if not done:
            for runner in self.runners:
                runner.stop()
        return done and not (left + held) and self.failures == failures

    def _wait_closed(self, deadline: float) -> bool:
        """Wait until the exporter closed every backend, at most until ``deadline``."""
        while True:
            with self._cond:
                if self._closed_all:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._alive:
                    self._cond.wait(remaining)  # notified after each batch and at the end
                    continue
            # Never started, or ended by a backend's BaseException: start it again.
            if not self._start_worker(for_shutdown=True):
                # No thread can be started (interpreter exit on Python 3.12): the
                # calls are not made on this thread, which nothing could bound (D100).
                self._no_thread = True
                _guard.log_once(
                    "shutdown:no-thread",
                    "tracekit: no exporter thread could be started; the backends were not "
                    "shut down",
                )
                return False
            self._wake.set()

    def after_fork_in_child(self) -> None:
        """A forked child starts fresh: the parent's queue is the parent's to export."""
        self._fresh_state()
        self.exported = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.worker_restarts = 0
        self.refused_traces = 0
        self.unmarked = 0
        self._untold = [{} for _ in self._loss_runners]
        for runner in self.runners:
            runner.after_fork_in_child()
            if runner.abilities.fork_aware:
                try:
                    cast("ForkAware", runner.backend).after_fork()
                except Exception as exc:
                    _guard.internal_error(exc, "pipeline.after_fork", reraise=False)

    def stats(self) -> dict[str, Any]:
        """Counters for ``tracekit.stats()``: ``created == exported + lost(dropped) + pending``."""
        with self._cond:  # one consistent snapshot of the exporter's and shutdown's counts
            accepted = self._seq_in
            settled = self._seq_out
            exported = self.exported
            dropped = dict(self.dropped)
        late = 0
        for runner in self.runners:
            # Spans a backend accepted and lost later (a spooled batch the receiver
            # refused): a value that changes, so read now (ReportsLateDrops). They
            # were counted exported: they move from there to their reason.
            later = getattr(runner.backend, "dropped_later", None)
            try:
                items = list(later.items()) if isinstance(later, Mapping) else []
            except Exception as exc:  # a mapping changing under us: next call
                _guard.internal_error(exc, "pipeline.dropped_later", reraise=False)
                items = []
            for reason, count in items:
                if isinstance(count, int) and not isinstance(count, bool):
                    dropped[str(reason)] = dropped.get(str(reason), 0) + count
                    late += count
        return {
            "created": accepted + dropped["queue_full"] + dropped["after_shutdown"],
            "exported": max(0, exported - late),
            "pending": accepted - settled,
            "open_spans": len(open_spans),
            "worker_restarts": self.worker_restarts,
            "dropped": dropped,
            # D109: traces refused whole at their root (each root is one queue_full
            # span), and lost spans no backend could mark on their trace
            "refused_traces": self.refused_traces,
            "unmarked_losses": self.unmarked,
            "pid": os.getpid(),
        }
