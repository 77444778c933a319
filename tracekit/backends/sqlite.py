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
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from tracekit import _state
from tracekit._record import UNENCODABLE, encode_checked
from tracekit._schema import SCHEMA_VERSION, migrate, spans_of_trace
from tracekit.backends._errors import BatchDropped, StorageFull
from tracekit.backends._sqlite_tokens import DROP_TOKENS, file_memory, read_back, with_tokens

SYNCHRONOUS = ("NORMAL", "FULL")
_CHECKPOINT_EVERY = 64  # batches between passive WAL checkpoints
_PREVIEW_CHARS = 200


class SqliteBackend:
    """Writes span records into a SQLite store (see ``tracekit.store`` to read it).

    The ``traces`` row's token total and each span row's owned tokens follow
    ``_record.ownership`` over the trace's stored records, whatever order
    they arrive in. Recomputing a trace on every batch would cost a read of
    the whole trace per batch (a long agent writes into its trace for
    minutes), so the writers of one file in a process share a memory of each
    recent trace (``_sqlite_tokens.Trace``: every stored span's parent, which spans
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
        self._started = file_memory(self.path)
        self._batches = 0
        _track(self)

    # -- connection ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_store(self.path, self.busy_timeout_s, create=True)
            try:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                # 8 MiB: the indexes' hot pages (the newest traces) stay cached; more
                # would be memory beside the queue's byte cap (D106)
                conn.execute("PRAGMA cache_size = -8192")
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
            span_rows, updates, trace_rows, done, lost = self._rows(records, started)
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
        if lost and not started:  # stored as placeholders: the tree is whole
            raise BatchDropped(
                UNENCODABLE,
                lost,
                "span records that could not be encoded were stored as placeholders",
                counts={UNENCODABLE: lost},
            )

    def _transaction(
        self,
        conn: sqlite3.Connection,
        records: Sequence[dict[str, Any]],
        started: bool,
        span_rows: list[tuple[Any, ...]],
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        trace_rows: list[tuple[Any, ...]],
    ) -> None:
        self._begin(conn)
        memory = self._started
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_trace.setdefault(r["trace_id"], []).append(r)
        try:
            owners, strips, recount = memory.advance(
                conn, by_trace, started, min(_STATEMENT_ROWS[0], _variable_limit(conn))
            )
            if owners or strips:
                span_rows, updates, trace_rows = with_tokens(
                    owners, strips, span_rows, updates, trace_rows
                )
            if updates:
                trace_rows, gone = self._end_started(conn, updates, trace_rows)
                span_rows = span_rows + gone
            # The traces first: a span row takes its trace's key from there (D111).
            insert_rows(conn, _UPSERT_TRACE, trace_rows)
            insert_rows(conn, _INSERT_SPAN, span_rows, _SPAN_SELECT)
            if strips:
                conn.executemany(DROP_TOKENS, [(t, s) for t, lost in strips.items() for s in lost])
            for trace_id in recount:
                memory.remember(trace_id, read_back(conn, trace_id))
            conn.execute("COMMIT")
        except BaseException:
            for trace_id in by_trace:  # the memory went ahead of the store: forget it
                memory.forget(trace_id)
            if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise

    def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retried while another writer holds the lock (``busy_timeout_s``)."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:  # another writer holds the lock
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise

    @staticmethod
    def _end_started(
        conn: sqlite3.Connection,
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        trace_rows: list[tuple[Any, ...]],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Complete the rows of spans stored as started; the trace rows and the rows gone.

        A started row disappears when its trace is deleted while it runs: the
        span that finishes later is stored as a new row (counted as a new span,
        not as one less open span), rather than lost. Those rows are returned
        for the caller to insert after the trace rows (their key comes from there).
        """
        gone: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        for update, row in updates:
            if conn.execute(_END_STARTED_SPAN, update).rowcount == 0:
                rows.append(row)
                gone[row[1]] = gone.get(row[1], 0) + 1
        if not gone:
            return trace_rows, rows
        # (trace_id, project, start, end, spans, errors, open, ...): one more span and
        # one more open span per row found gone (the batch counted it as one less open)
        return [
            (*t[:4], t[4] + gone[t[0]], t[5], t[6] + gone[t[0]], *t[7:]) if t[0] in gone else t
            for t in trace_rows
        ], rows

    def _rows(
        self,
        records: Sequence[dict[str, Any]],
        started: bool,
    ) -> tuple[
        list[tuple[Any, ...]],
        list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        list[tuple[Any, ...]],
        list[str],
        int,
    ]:
        """Span rows, (update, row) pairs for started spans, trace rows, ids done, placeholders.

        Built before the write lock is taken, with no tokens: the owners are
        known only inside the transaction (``with_tokens`` fills them in).
        """
        pid = os.getpid()
        span_rows: list[tuple[Any, ...]] = []
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        traces: dict[str, list[Any]] = {}
        done: list[str] = []
        lost = 0
        # spans this process stored as started, whose final records complete their rows
        stored_started = None if started or not self._started else self._started
        for r in records:
            # First: a record that cannot be encoded becomes a placeholder (in place),
            # so the columns read below match the stored text.
            text, spans_of, why = encode_checked(r)
            if why is not None:
                lost += 1
            span_id, trace_id, parent_id = r["span_id"], r["trace_id"], r["parent_id"]
            was_started = stored_started is not None and span_id in stored_started
            if was_started:
                done.append(span_id)
            tokens = None
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
            start_ns = r["start_ns"]
            t[1] = min(t[1], start_ns)
            if not started:
                end_ns = r["end_ns"]
                if t[2] is None or end_ns > t[2]:
                    t[2] = end_ns
                if r["status"] == "ERROR":
                    t[4] += 1
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
        return span_rows, updates, trace_rows, done, lost

    def export_losses(self, losses: Mapping[str, int]) -> None:
        """Add spans tracekit lost to their traces' lost counts, in one transaction (D110).

        The trace's spans may be stored before or after: the count lives in
        ``trace_losses``, apart from the ``traces`` row the spans keep.

        Raises:
            StorageFull: the disk or ``max_size_mb`` is full (offered again later).
        """
        rows = [(str(trace_id), int(n)) for trace_id, n in losses.items() if n > 0]
        if not rows:
            return
        if self._pid != os.getpid():  # forked, and no pipeline handed it over (after_fork)
            self.after_fork()
        with self._lock:
            self._owner = threading.get_ident()
            try:
                conn = self._connect()
                self._begin(conn)
                try:
                    insert_rows(conn, _ADD_LOSSES, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_full(exc):
                    raise StorageFull(str(exc)) from exc
                raise
            finally:
                self._owner = None

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
        self._started = file_memory(self.path)
        self._forked_mid_write = self._started.key in _state.fork_unsafe

    def _forked_detail(self) -> str:
        return (
            f"this process was forked while tracekit was writing to {self.path}, and that "
            f"write had not ended within {self.busy_timeout_s:g} s: the SQLite lock state "
            "this process inherited keeps it from writing to that store"
        )


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


def _variable_limit(conn: sqlite3.Connection) -> int:
    """The most ``?`` parameters one statement may have (999 before SQLite 3.32)."""
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    if getlimit is not None:
        return int(getlimit(getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", 9)))
    return 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


_STATEMENT_ROWS = (1024, 256, 64, 16)  # the lengths compiled, once each per connection


def insert_rows(
    conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]], select: str = "*"
) -> None:
    """``conn.executemany(sql, rows)`` in a few statements of many rows each.

    Python's sqlite3 releases the GIL around every step, once per row in
    ``executemany``; beside a thread that runs Python without pause (a
    traced loop) each release costs the writer up to a switch interval (5
    ms) to get the GIL back, so rows went in at 1,000 to 4,000 a second.
    One ``INSERT ... SELECT * FROM (VALUES (...), (...), ...)`` per 1,024
    rows is one release for all of them (D105). Its lengths are fixed
    (1,024, 256, 64 or 16 rows), so each is compiled once per connection and
    reused: compiling costs 5 to 8 µs a row, and the connection's statement
    cache would keep a statement of every other length, megabytes each. The
    last statement is padded with rows of NULLs (fewer than 16), which its
    ``WHERE`` leaves out. ``sql`` is a one-row ``INSERT ... VALUES (?, ...)``
    whose ``VALUES`` group is its only parenthesised group of ``?`` and whose
    first column is never NULL; what follows the group (an upsert clause)
    applies to each row. ``select`` is what is selected from each row
    (``column1``, ``column2``, ...), for columns computed from them.
    """
    if not rows:
        return
    width = len(rows[0])
    group = "(" + ",".join("?" * width) + ")"
    head, _, tail = sql.partition(group)
    insert = head.rstrip().removesuffix("VALUES")
    most = max(1, _variable_limit(conn) // width)
    sizes = [n for n in _STATEMENT_ROWS if n <= most] or [most]
    at, left = 0, len(rows)
    while left > 0:
        per = next((n for n in sizes if n <= left), sizes[-1])
        part = list(chain.from_iterable(rows[at : at + per]))
        if left < per:
            part.extend([None] * (width * (per - left)))
        conn.execute(
            f"{insert}SELECT {select} FROM (VALUES {','.join([group] * per)}) "  # noqa: S608 (our SQL)
            f"WHERE column1 IS NOT NULL{tail}",
            part,
        )
        at += per
        left -= per


def _preview(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, dict) and len(value) == 1 and "output" in value:
        value = value["output"]
    text = value if isinstance(value, str) else _preview_json(value)
    return text[:_PREVIEW_CHARS]


# json.dumps(value, ensure_ascii=False) with the encoder built once, not per call
_preview_json = json.JSONEncoder(ensure_ascii=False).encode


# Through insert_rows only, with _SPAN_SELECT: the last column, the trace's key, is
# read from the trace row written just before (D111).
_INSERT_SPAN = """
INSERT INTO spans (span_id, trace_id, parent_id, name, kind, project, start_ns, end_ns,
                   status, total_tokens, pid, in_start, in_len, out_start, out_len, record,
                   trace_key)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
"""
_SPAN_SELECT = "*, (SELECT t.trace_key FROM traces t WHERE t.trace_id = column2)"

_END_STARTED_SPAN = (
    "UPDATE spans SET end_ns = ?, status = ?, total_tokens = ?, in_start = ?, in_len = ?,"  # noqa: S608
    " out_start = ?, out_len = ?, record = ?"
    f" WHERE {spans_of_trace(SCHEMA_VERSION)} AND span_id = ? AND end_ns IS NULL"
)

_UPSERT_TRACE = """
INSERT INTO traces (trace_id, project, start_ns, end_ns, span_count, error_count, open_count,
                    total_tokens, root_span_id, root_name, root_kind, input_preview,
                    output_preview, pid)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
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

_ADD_LOSSES = """
INSERT INTO trace_losses (trace_id, lost_count) VALUES (?,?)
ON CONFLICT (trace_id) DO UPDATE SET lost_count = trace_losses.lost_count + excluded.lost_count
"""
