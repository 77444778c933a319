"""The sqlite backend: the embedded default store, written behind the exporter thread.

One transaction per batch, in WAL mode: a crash loses at most the batch being
written, readers never block the writer, and two processes can write one
store (each waits for the other's transaction, up to the busy timeout). The
store's folder is private (0700, files 0600) and carries a ``.gitignore`` so
traces are never committed by accident.

Spans still open are written as *started* records (``export_started``), so a
long-running agent is visible before it ends, and a span whose process died
stays visible as unfinished. The final record replaces the started one.

Token ownership (DESIGN's "one owner per logical call", ``_record.ownership``)
is kept right for every arrival order; see :class:`SqliteBackend`.

Fork: SQLite keeps a file's lock state in process memory, shared by all the
process's connections to it, and a forked child inherits that memory. A child
forked while the parent's writer is inside a transaction would believe the
write lock held for its whole life ("database is locked" on every write); one
forked beside the parent's idle connection would hold no lock of its own on
the file (so the parent's last close could delete the WAL the child writes
into). So before every fork, the hooks registered below wait for each writer's
transaction boundary (at most the writer's busy timeout) and close the
writers' connections; the parent reopens on its next batch, the child opens
its own. See ``docs/decisions/store.md`` (D96).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tracekit import _state
from tracekit._record import cut_links, distinct, encode, ownership, reported_tokens
from tracekit._schema import migrate
from tracekit.backends._errors import BatchDropped, StorageFull
from tracekit.store import RECORD_COLUMNS, decode_record

SYNCHRONOUS = ("NORMAL", "FULL")
_CHECKPOINT_EVERY = 64  # batches between passive WAL checkpoints
_PREVIEW_CHARS = 200
_MEMORY = 100_000  # spans the writers of one file remember, over the traces written last
_MAX_TRACE = 1_000_000  # a trace with more spans than this is not remembered (re-read instead)
_IN_CHUNK = 500  # ids per "IN (...)" query: far below SQLite's smallest variable limit


class SqliteBackend:
    """Writes span records into a SQLite store (see ``tracekit.store`` to read it).

    The ``traces`` row's token total and each span row's owned tokens follow
    ``_record.ownership`` over the trace's stored records, whatever order
    they arrive in. Recomputing a trace on every batch would cost a read of
    the whole trace per batch (a long agent writes into its trace for
    minutes), so the writers of one file in a process share a memory of each
    recent trace (:class:`_Trace`: every stored span's parent, which spans
    have usage below them, which own tokens) and work each batch out from it:

    - a batch's span that reports usage, or that has usage below it already
      (its children ended, and arrived, first), marks its ancestors as having
      usage below, walking up through the spans stored so far (ended or
      started) until one already marked; an ancestor not stored yet is marked
      for when its record comes;
    - a stored span the walk marks that owned tokens (a parent that arrived
      first: an abandoned span, a thread that outlived its span) loses them:
      one ``UPDATE`` of its row, and the trace total is lowered by as much;
    - a span of the batch owns its tokens unless it is marked.

    The memory is checked against the store in the batch's transaction: the
    ``traces`` row names the process that wrote it last, so a trace another
    process wrote since (a fork inside a traced call), or that this process
    forgot (the memory holds about 100,000 spans, least recently written
    traces forgotten first), is read back from its columns once, its rows
    and total corrected, and remembered again. A trace whose records loop, or
    hold one span id twice, is recounted that way on each of its batches
    (it is corrupt, and rare).
    """

    export_interval = 1.0

    def __init__(
        self,
        path: str | os.PathLike[str] = ".tracekit/traces.db",
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 10.0,
        max_size_mb: float | None = None,
    ) -> None:
        """Configure the store at ``path`` (created on the first export).

        Args:
            path: the database file; its folder is created 0700 with a ``.gitignore``.
            synchronous: ``"NORMAL"`` (default: durable at each checkpoint, never
                corrupt) or ``"FULL"`` (every batch durable at commit, slower).
            busy_timeout_s: how long a write waits for another process's.
            max_size_mb: a cap on the database file; a batch that would pass it
                is refused like a full disk (counted as ``storage_full``).
        """
        if max_size_mb is not None and not max_size_mb > 0:
            raise ValueError(f"max_size_mb must be a positive number, got {max_size_mb!r}")
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = os.fspath(path)
        self.synchronous = mode
        self.busy_timeout_s = busy_timeout_s
        self.max_size_mb = max_size_mb
        self._conn: sqlite3.Connection | None = None
        # Held around every use of the connection (a batch, shutdown): the fork hook
        # takes it to fork at a transaction boundary. _owner: the thread holding it.
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._pid = os.getpid()
        self._forked_mid_write = False  # forked while this file's writer was in a write
        # Span ids written as started and not yet ended, and the traces' memory, shared
        # by every backend on this file in this process (init() may replace the backend
        # meanwhile, and the old one may still be writing its last batch).
        self._started = _file_memory(self.path)
        self._batches = 0
        _track(self)

    # -- connection ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_store(self.path, self.busy_timeout_s, create=True)
            try:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: index pages stay cached
                migrate(conn)  # raises SchemaTooNew for a store a newer tracekit wrote
                if self.max_size_mb is not None:
                    page = conn.execute("PRAGMA page_size").fetchone()[0]
                    pages = max(1, int(self.max_size_mb * 1024 * 1024 // page))
                    conn.execute(f"PRAGMA max_page_count = {pages}")
            except BaseException:
                conn.close()  # checked again on the next batch, never skipped
                raise
            self._conn = conn
        return self._conn

    # -- writing ---------------------------------------------------------------------

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Write finished span records in one transaction."""
        self._write(records, started=False)

    def export_started(self, records: Sequence[dict[str, Any]]) -> None:
        """Write records of spans still open (``end_ns`` None, status RUNNING)."""
        self._write(records, started=True)

    def _write(self, records: Sequence[dict[str, Any]], *, started: bool) -> None:
        if self._pid != os.getpid():  # forked, and no pipeline handed it over (after_fork)
            self.after_fork()
        with self._lock:
            self._owner = threading.get_ident()
            try:
                self._write_locked(records, started)
            finally:
                self._owner = None

    def _write_locked(self, records: Sequence[dict[str, Any]], started: bool) -> None:
        memory = self._started
        with memory.lock:
            conn = self._connect()
            span_rows, updates, trace_rows, done = self._rows(records, started)
            try:
                self._transaction(conn, records, started, span_rows, updates, trace_rows)
            except sqlite3.Error as exc:
                if _is_full(exc):
                    raise StorageFull(str(exc)) from exc
                if self._forked_mid_write and "locked" in str(exc):
                    raise BatchDropped("backend_error", detail=self._forked_detail()) from exc
                raise
            finally:
                memory.forget_over_budget()
            # Only after the commit: the in-memory state follows what is stored.
            if started:
                memory.update(r["span_id"] for r in records)
            else:
                memory.difference_update(done)
            self._batches += 1
            if self._batches % _CHECKPOINT_EVERY == 0:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _transaction(
        self,
        conn: sqlite3.Connection,
        records: Sequence[dict[str, Any]],
        started: bool,
        span_rows: list[tuple[Any, ...]],
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        trace_rows: list[tuple[Any, ...]],
    ) -> None:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:  # another writer holds the lock
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
        memory = self._started
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_trace.setdefault(r["trace_id"], []).append(r)
        try:
            owners, strips, recount = memory.advance(conn, by_trace, started)
            if owners or strips:
                span_rows, updates, trace_rows = _with_tokens(
                    owners, strips, span_rows, updates, trace_rows
                )
            conn.executemany(_INSERT_SPAN, span_rows)
            if updates:
                trace_rows = self._end_started(conn, updates, trace_rows)
            conn.executemany(_UPSERT_TRACE, trace_rows)
            conn.executemany(_DROP_TOKENS, [(t, s) for t, lost in strips.items() for s in lost])
            for trace_id in recount:
                memory.remember(trace_id, _recount(conn, trace_id))
            conn.execute("COMMIT")
        except BaseException:
            for trace_id in by_trace:  # the memory went ahead of the store: forget it
                memory.forget(trace_id)
            if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _end_started(
        conn: sqlite3.Connection,
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        trace_rows: list[tuple[Any, ...]],
    ) -> list[tuple[Any, ...]]:
        """Complete the rows of spans stored as started; insert those whose row is gone.

        A started row disappears when its trace is deleted while it runs: the
        span that finishes later is stored as a new row (counted as a new span,
        not as one less open span), rather than lost.
        """
        gone: dict[str, int] = {}
        for update, row in updates:
            if conn.execute(_END_STARTED_SPAN, update).rowcount == 0:
                conn.execute(_INSERT_SPAN, row)
                gone[row[1]] = gone.get(row[1], 0) + 1
        if not gone:
            return trace_rows
        # (trace_id, project, start, end, spans, errors, open, ...): one more span and
        # one more open span per row found gone (the batch counted it as one less open)
        return [
            (*t[:4], t[4] + gone[t[0]], t[5], t[6] + gone[t[0]], *t[7:]) if t[0] in gone else t
            for t in trace_rows
        ]

    def _rows(
        self,
        records: Sequence[dict[str, Any]],
        started: bool,
    ) -> tuple[
        list[tuple[Any, ...]],
        list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        list[tuple[Any, ...]],
        list[str],
    ]:
        """Span rows to insert, (update, row) pairs for started spans, trace rows, ids done.

        Built before the write lock is taken, with no tokens: the owners are
        known only inside the transaction (``_with_tokens`` fills them in).
        """
        pid = os.getpid()
        span_rows: list[tuple[Any, ...]] = []
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        traces: dict[str, list[Any]] = {}
        done: list[str] = []
        for r in records:
            span_id, trace_id, parent_id = r["span_id"], r["trace_id"], r["parent_id"]
            was_started = not started and span_id in self._started
            if was_started:
                done.append(span_id)
            tokens = None
            text, spans_of = encode(r)
            row = (
                span_id,
                trace_id,
                parent_id,
                r["name"],
                r["kind"],
                r["project"],
                r["start_ns"],
                r["end_ns"],
                "RUNNING" if started else r["status"],
                tokens,
                pid,
                *spans_of,
                text,
            )
            if was_started:  # its started record is stored: complete that row
                update = (r["end_ns"], r["status"], tokens, *spans_of, text, trace_id, span_id)
                updates.append((update, row))
            else:
                span_rows.append(row)
            t = traces.get(trace_id)
            if t is None:
                # project, start, end, spans, errors, open, tokens, root id/name/kind,
                # input and output previews, pid
                t = traces[trace_id] = [
                    r["project"],
                    r["start_ns"],
                    None,
                    0,
                    0,
                    0,
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                    pid,
                ]
            t[1] = min(t[1], r["start_ns"])
            if not started:
                t[2] = r["end_ns"] if t[2] is None else max(t[2], r["end_ns"])
                t[4] += r["status"] == "ERROR"
            if started:
                t[3] += 1
                t[5] += 1
            elif was_started:
                t[5] -= 1
            else:
                t[3] += 1
            if parent_id is None:
                t[7], t[8], t[9] = span_id, r["name"], r["kind"]
                t[10] = _preview(r["inputs"])
                t[11] = None if started else _preview(r["outputs"])
        trace_rows = [(trace_id, *t) for trace_id, t in traces.items()]
        return span_rows, updates, trace_rows, done

    def flush(self) -> None:
        """Each batch is committed when ``export`` returns: nothing is buffered."""

    def shutdown(self) -> None:
        """Checkpoint the WAL into the database and close."""
        with self._lock:
            self._owner = threading.get_ident()
            try:
                conn, self._conn = self._conn, None
                if conn is not None:
                    try:
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    finally:
                        conn.close()
            finally:
                self._owner = None

    def after_fork(self) -> None:
        """A forked child opens its own connection, and starts a fresh memory of the file.

        The fork hook closed the parent's connection at a transaction boundary
        before the fork. One it could not close (the write did not end within
        the busy timeout) is kept, never closed: SQLite forbids using or
        closing a connection inherited across fork (see sqlite.org/howtocorrupt).
        """
        self._lock = threading.Lock()
        self._owner = None
        self._pid = os.getpid()
        if self._conn is not None:
            _state.inherited_connections.append(self._conn)
        self._conn = None
        self._started = _file_memory(self.path)
        self._forked_mid_write = self._started.key in _state.fork_unsafe

    def _forked_detail(self) -> str:
        return (
            f"this process was forked while tracekit was writing to {self.path}, and that "
            f"write had not ended within {self.busy_timeout_s:g} s: the SQLite lock state "
            "this process inherited keeps it from writing to that store"
        )


class _Trace:
    """What this process's writers of a store file know of one trace's stored spans."""

    __slots__ = ("below", "ended", "irregular", "owned", "parent")

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}  # each stored span -> its parent id
        self.ended: set[str] = set()  # stored spans whose record is the final one
        self.owned: dict[str, int] = {}  # stored spans whose row holds tokens -> how many
        self.below: set[str] = set()  # spans, stored or still to come, with usage below them
        self.irregular = False  # a loop, a span id twice, an odd id: recounted on each batch

    def size(self) -> int:
        """How many span ids this memory holds (what the budget counts)."""
        return len(self.parent) + len(self.below)

    def advance(
        self, batch: list[dict[str, Any]], started: bool
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        """Take in a batch's records of this trace (before they are stored, in its transaction).

        Returns the batch's spans that own tokens, and the stored spans that
        lose theirs (span id -> tokens); None when the trace must be
        recounted by ``_record``'s rules instead (a link that closes a loop,
        a span stored twice, an id that is not a string). The memory is then
        half updated: the recount replaces it.
        """
        parent, ended, below, owned = self.parent, self.ended, self.below, self.owned
        reporting: list[tuple[str, int]] = []
        ids: list[str] = []
        for r in batch:
            span_id, parent_id = r["span_id"], r["parent_id"]
            # A span twice (in the batch, or stored): `ended` / `parent` already hold it.
            if type(span_id) is not str or not span_id or span_id in ended:
                return None
            if started and span_id in parent:
                return None
            if type(parent_id) is not str:
                parent_id = None  # not a link (the tree makes such a span a root)
            elif parent.get(span_id, _NO_LINK) != parent_id and (
                parent_id == span_id
                or (parent_id in parent and _closes_loop(parent, span_id, parent_id))
            ):
                return None  # only a link to a stored span can close a loop
            parent[span_id] = parent_id
            ids.append(span_id)
            if not started:
                ended.add(span_id)
                if r["usage"] and (tokens := reported_tokens(r)) is not None:
                    reporting.append((span_id, tokens))
        # Usage marks every ancestor, up to one marked already (whose own ancestors
        # were marked then). A span marked before its record came passes its mark on
        # now that its parent is known (a started record too).
        seeds = [span_id for span_id, _ in reporting]
        if below:
            seeds.extend(span_id for span_id in ids if span_id in below)
        lost: dict[str, int] = {}
        for span_id in seeds:
            up = parent[span_id]
            while up is not None and up not in below:
                below.add(up)
                tokens = owned.pop(up, None)
                if tokens is not None:  # an owner stored earlier: the usage below is its
                    lost[up] = tokens
                up = parent.get(up)  # None: not stored yet, marked for when it comes
        owners: dict[str, int] = {}
        for span_id, tokens in reporting:
            if span_id not in below:
                owners[span_id] = owned[span_id] = tokens
        return owners, lost


_NO_LINK = "\x00"  # not a span id: a span not remembered yet


def _closes_loop(parent: dict[str, str | None], span_id: str, parent_id: str | None) -> bool:
    """Whether linking ``span_id`` under ``parent_id`` makes a span its own ancestor."""
    up = parent_id
    steps = 0
    while up is not None:
        if up == span_id or steps > len(parent):  # a longer walk is on a loop already
            return True
        up = parent.get(up)
        steps += 1
    return False


class _FileMemory(set[str]):
    """The writers' state of one store file in this process, kept in ``_state.store_files``.

    The set holds the span ids stored as started and not ended yet; the
    attributes hold the lock the writers take around a batch and the memory
    of the traces written last (:class:`_Trace`, least recently written
    first), about ``_MEMORY`` span ids in all.
    """

    def __init__(self, key: str, started: Sequence[str] = ()) -> None:
        super().__init__(started)
        self.key = key  # the file's real path
        self.pid = os.getpid()  # a forked child never uses its parent's memory
        self.lock = threading.Lock()
        self.traces: OrderedDict[str, _Trace] = OrderedDict()
        self.size = 0

    def advance(
        self, conn: sqlite3.Connection, by_trace: dict[str, list[dict[str, Any]]], started: bool
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], list[str]]:
        """Work a batch out from memory, inside its transaction (see :class:`SqliteBackend`).

        Returns, per trace: the batch's owners (span id -> tokens), the stored
        spans that lose their tokens, and the traces to recount once the
        batch's rows are in.
        """
        me = os.getpid()
        ids = list(by_trace)
        writers: dict[str, int | None] = {}
        for at in range(0, len(ids), _IN_CHUNK):
            chunk = ids[at : at + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            writers.update(
                conn.execute(f"SELECT trace_id, pid FROM traces WHERE trace_id IN ({marks})", chunk)  # noqa: S608
            )
        owners: dict[str, dict[str, int]] = {}
        strips: dict[str, dict[str, int]] = {}
        recount: list[str] = []
        for trace_id, batch in by_trace.items():
            trace = self.traces.get(trace_id)
            if trace_id not in writers:  # a new trace (or one deleted meanwhile)
                self.remember(trace_id, trace := _Trace())
            elif trace is None or writers[trace_id] != me:  # forgotten, or written by another
                self.remember(trace_id, trace := _recount(conn, trace_id))
            else:
                self.traces.move_to_end(trace_id)
            before = trace.size()
            result = None if trace.irregular else trace.advance(batch, started)
            self.size += trace.size() - before
            if result is None:
                recount.append(trace_id)
                continue
            owned, lost = result
            if owned:
                owners[trace_id] = owned
            if lost:
                strips[trace_id] = lost
        return owners, strips, recount

    def remember(self, trace_id: str, trace: _Trace) -> None:
        """Hold ``trace`` as the memory of ``trace_id``, as the most recently written."""
        old = self.traces.pop(trace_id, None)
        if old is not None:
            self.size -= old.size()
        self.traces[trace_id] = trace
        self.size += trace.size()

    def forget(self, trace_id: str) -> None:
        """Drop a trace's memory (it is read back from the store when needed)."""
        old = self.traces.pop(trace_id, None)
        if old is not None:
            self.size -= old.size()

    def forget_over_budget(self) -> None:
        """Forget the least recently written traces while over budget (never the last one)."""
        traces = self.traces
        while self.size > _MEMORY and len(traces) > 1:
            _, old = traces.popitem(last=False)
            self.size -= old.size()
        if traces and self.size > _MAX_TRACE:  # one huge trace: read back on each batch
            traces.clear()
            self.size = 0


def _with_tokens(
    owners: dict[str, dict[str, int]],
    strips: dict[str, dict[str, int]],
    span_rows: list[tuple[Any, ...]],
    updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
    trace_rows: list[tuple[Any, ...]],
) -> tuple[
    list[tuple[Any, ...]], list[tuple[tuple[Any, ...], tuple[Any, ...]]], list[tuple[Any, ...]]
]:
    """The batch's rows with the owners' tokens in, and each trace's total changed by as much."""
    none: dict[str, int] = {}

    def owned(trace_id: str, span_id: str) -> int | None:
        return owners.get(trace_id, none).get(span_id)

    # span row: (span_id, trace_id, ..., total_tokens at 9, ...); update: (end_ns, status,
    # total_tokens, ..., trace_id, span_id); trace row: (trace_id, ..., total_tokens at 7, ...)
    span_rows = [
        (*row[:9], tokens, *row[10:]) if (tokens := owned(row[1], row[0])) is not None else row
        for row in span_rows
    ]
    updates = [
        ((*u[:2], tokens, *u[3:]), (*row[:9], tokens, *row[10:]))
        if (tokens := owned(u[-2], u[-1])) is not None
        else (u, row)
        for u, row in updates
    ]
    change = {
        trace_id: sum(owners.get(trace_id, none).values())
        - sum(strips.get(trace_id, none).values())
        for trace_id in owners.keys() | strips.keys()
    }
    trace_rows = [(*t[:7], t[7] + change.get(t[0], 0), *t[8:]) for t in trace_rows]
    return span_rows, updates, trace_rows


def _recount(conn: sqlite3.Connection, trace_id: str) -> _Trace:
    """Recompute a trace's owned tokens from the store (in the batch's transaction); remember it.

    Reads columns and the usage count SQLite takes out of each record, not
    the records: ``_record.ownership`` over them gives what ``tracekit
    show`` computes over the records the store returns. Rows and the total
    that differ are corrected. A trace that holds a span id twice (or one
    that is not a string) is read as whole records, as the reader reads
    them, since which of two records counts depends on their content.
    """
    rows = conn.execute(_TRACE_LINKS, (trace_id,)).fetchall()
    records: list[dict[str, Any]] = [
        {
            "span_id": span_id,
            "parent_id": parent_id,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "usage": None if total is None else {"total_tokens": total},
        }
        for _, span_id, parent_id, start_ns, end_ns, _, total in rows
    ]
    stored = [(row[0], row[5]) for row in rows]  # rowid, total_tokens
    ids = [r["span_id"] for r in records]
    regular = all(type(i) is str and i for i in ids) and len(set(ids)) == len(ids)
    if not regular:
        full = conn.execute(_TRACE_RECORDS, (trace_id,)).fetchall()
        records = [decode_record(row[2:]) for row in full]
        stored = [(row[0], row[1]) for row in full]
    counted = {id(r) for r in distinct(records)}  # the record kept for each span id
    own = ownership(records)
    fixes = []
    for (rowid, tokens), record in zip(stored, records, strict=True):
        want = own.owned.get(str(record.get("span_id"))) if id(record) in counted else None
        if want != tokens:
            fixes.append((want, rowid))
    conn.executemany("UPDATE spans SET total_tokens = ? WHERE rowid = ?", fixes)
    conn.execute(
        "UPDATE traces SET total_tokens = ? WHERE trace_id = ?", (sum(own.owned.values()), trace_id)
    )
    trace = _Trace()
    if not regular or cut_links(records):
        trace.irregular = True  # nothing else needed: each batch recounts
        return trace
    trace.parent = {r["span_id"]: p if type(p := r["parent_id"]) is str else None for r in records}
    trace.ended = {r["span_id"] for r in records if r["end_ns"] is not None}
    trace.owned = dict(own.owned)
    trace.below = own.below | own.reaches
    return trace


def _file_memory(path: str) -> _FileMemory:
    """The writers' state of one database file, shared by this process's backends of it."""
    key = os.path.realpath(path)
    memory: _FileMemory | None = _state.store_files.get(key)
    if memory is None or memory.pid != os.getpid():  # none yet, or the parent's
        memory = _FileMemory(key)
        memory = _state.store_files.setdefault(key, memory)
    return memory


# -- fork ------------------------------------------------------------------------------
#
# Registered once, at import, before any backend exists. Python runs the `before` hooks
# in the reverse order of registration and the `after` ones in order: none of these
# depends on where it runs relative to tracekit._config's child hook (which hands the
# pipeline's backends over through after_fork), nor on other libraries' hooks.


def _track(backend: SqliteBackend) -> None:
    """Remember a live backend for the fork hooks (forgotten when it is collected)."""
    key = id(backend)

    def forget(ref: weakref.ref[SqliteBackend]) -> None:
        if _state.sqlite_writers.get(key) is ref:
            del _state.sqlite_writers[key]

    _state.sqlite_writers[key] = weakref.ref(backend, forget)


def _before_fork() -> None:
    """Fork at a transaction boundary: take every writer's lock, close its connection.

    Each wait is bounded by one deadline, the writers' longest busy timeout
    (how long a write already waits for another process's), so a fork is
    never held up longer. A writer whose lock the forking thread holds itself
    (a fork from inside a write) is not waited for. Each file a wait gave up
    on is named in ``_state.fork_unsafe`` for the child; the writer's
    connection, in use, is then left open (the child keeps it, unused).
    """
    held, unsafe = _state.fork_held, _state.fork_unsafe
    held.clear()
    unsafe.clear()
    writers = [w for ref in list(_state.sqlite_writers.values()) if (w := ref()) is not None]
    if not writers:
        return
    me = threading.get_ident()
    deadline = time.monotonic() + max(w.busy_timeout_s for w in writers)
    for writer in writers:
        lock = writer._lock
        if writer._owner == me or not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            unsafe.add(writer._started.key)
            continue
        held.append(lock)
        # Idle (its lock is ours): a close here is an ordinary close, in the parent.
        conn, writer._conn = writer._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                writer._conn = conn  # not closed: the child keeps it, unused


def _release_fork_locks() -> None:
    held = _state.fork_held
    while held:
        held.pop().release()


def _after_fork_in_parent() -> None:
    """The writers go on; each reopens its connection with its next batch."""
    _release_fork_locks()


def _after_fork_in_child() -> None:
    """Release the writers' locks (this process's copies); forget the parent's memories."""
    _release_fork_locks()
    me = os.getpid()
    for key, memory in list(_state.store_files.items()):
        if getattr(memory, "pid", me) != me:
            del _state.store_files[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Switch to WAL mode, waiting out another process doing the same.

    SQLite answers "database is locked" at once, without the busy wait, when
    two connections change the journal mode together (as two processes
    creating one store do), so this retries for up to the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)  # back off: the other process holds the lock briefly
            delay = min(delay * 2, 0.1)


def _write_gitignore(path: str) -> None:
    """Create the store folder's ``.gitignore`` unless it exists (another process may race us)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with open(fd, "w") as f:
        f.write("# tracekit traces hold prompts and model output: keep them out of git\n*\n")


def open_store(path: str, busy_timeout_s: float, *, create: bool) -> sqlite3.Connection:
    """Open a store in WAL mode; with ``create``, make its private folder and file first."""
    if create:
        folder = os.path.dirname(os.path.abspath(path))
        # A folder tracekit makes, or the default .tracekit, is ours: private,
        # with a .gitignore of "*". A folder of the user's is left as it is (a
        # "*" there could make git ignore a whole project).
        ours = not os.path.isdir(folder) or os.path.basename(folder) == ".tracekit"
        if ours:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # makedirs' mode is filtered by the umask
            _write_gitignore(os.path.join(folder, ".gitignore"))
        if not os.path.exists(path):
            # SQLite gives its -wal and -shm files the database file's mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA page_size = 8192")  # a new store only: fewer WAL frames per span
    _wal(conn, busy_timeout_s)
    conn.execute("PRAGMA wal_autocheckpoint = 8192")  # 64 MiB: hot pages copied once, not often
    conn.execute("PRAGMA journal_size_limit = 67108864")  # truncate a checkpointed WAL to 64 MiB
    return conn


_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL exists only from Python 3.11


def _is_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code == _SQLITE_FULL or "full" in str(exc).lower()


def _preview(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, dict) and len(value) == 1 and "output" in value:
        value = value["output"]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:_PREVIEW_CHARS]


# A trace's spans as ownership needs them, read from columns: only usage.total_tokens is
# taken from the JSON (by SQLite, where the record is valid JSON; the reader's placeholder
# for a damaged record reports no usage either).
_TRACE_LINKS = """
SELECT rowid, span_id, parent_id, start_ns, end_ns, total_tokens,
       CASE WHEN json_valid(record) AND json_type(record, '$.usage.total_tokens') = 'integer'
            THEN json_extract(record, '$.usage.total_tokens') END
FROM spans WHERE trace_id = ?
"""
_TRACE_RECORDS = f"SELECT rowid, total_tokens, {RECORD_COLUMNS} FROM spans WHERE trace_id = ?"  # noqa: S608
_DROP_TOKENS = "UPDATE spans SET total_tokens = NULL WHERE trace_id = ? AND span_id = ?"

_INSERT_SPAN = """
INSERT INTO spans (span_id, trace_id, parent_id, name, kind, project, start_ns, end_ns,
                   status, total_tokens, pid, in_start, in_len, out_start, out_len, record)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_END_STARTED_SPAN = """
UPDATE spans SET end_ns = ?, status = ?, total_tokens = ?,
                 in_start = ?, in_len = ?, out_start = ?, out_len = ?, record = ?
WHERE trace_id = ? AND span_id = ? AND end_ns IS NULL
"""

_UPSERT_TRACE = """
INSERT INTO traces (trace_id, project, start_ns, end_ns, span_count, error_count, open_count,
                    total_tokens, root_span_id, root_name, root_kind, input_preview,
                    output_preview, pid)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = min(traces.start_ns, excluded.start_ns),
    end_ns = CASE WHEN excluded.end_ns IS NULL THEN traces.end_ns
                  WHEN traces.end_ns IS NULL THEN excluded.end_ns
                  ELSE max(traces.end_ns, excluded.end_ns) END,
    span_count = traces.span_count + excluded.span_count,
    error_count = traces.error_count + excluded.error_count,
    open_count = traces.open_count + excluded.open_count,
    total_tokens = traces.total_tokens + excluded.total_tokens,
    root_span_id = coalesce(excluded.root_span_id, traces.root_span_id),
    root_name = coalesce(excluded.root_name, traces.root_name),
    root_kind = coalesce(excluded.root_kind, traces.root_kind),
    input_preview = coalesce(excluded.input_preview, traces.input_preview),
    output_preview = coalesce(excluded.output_preview, traces.output_preview),
    pid = excluded.pid
"""
