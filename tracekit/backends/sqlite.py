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
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tracekit import _state
from tracekit._record import encode, ownership
from tracekit._schema import migrate
from tracekit.backends._errors import StorageFull
from tracekit.store import RECORD_COLUMNS, decode_record

SYNCHRONOUS = ("NORMAL", "FULL")
_CHECKPOINT_EVERY = 64  # batches between passive WAL checkpoints
_PREVIEW_CHARS = 200
_MEMORY = 100_000  # span ids each of the writer's ownership memories holds at most


class SqliteBackend:
    """Writes span records into a SQLite store (see ``tracekit.store`` to read it).

    The ``traces`` row's token total and each span row's owned tokens follow
    ``_record.ownership`` over the trace's stored records, whatever order
    they arrive in. Recomputing a trace on every batch would cost a read of
    the whole trace per batch (a long agent writes into its trace for
    minutes), so each batch is worked out on its own and corrected only when
    it has to be:

    - ownership is computed over the batch's records of each trace, with
      what the writer remembers of spans stored earlier: which not-yet-ended
      spans have usage below them (children end, and arrive, first);
    - a batch whose usage sits below a span already stored as ended (a
      parent that arrived first: an abandoned span, a thread that outlived
      its span) may take tokens from a stored owner; only then is that
      trace recomputed from its stored records, in the same transaction,
      and its rows and total corrected.

    Whether a parent is stored already is answered from memory, not by a
    query: spans are indexed by trace only, and finding one by id would scan
    its trace (an index on span ids would cost every span a second B-tree
    insert, the store's main write cost). Walking up from usage goes through
    spans stored as started (their parents are remembered until they end).
    The memories are bounded (100,000 span ids each, oldest forgotten
    first), and they are this writer's: a trace written by two processes at
    once (a fork inside a traced call), or by the backend of an earlier
    ``init()``, is counted from what each writer saw.
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
        self._lock = threading.Lock()
        # Span ids written as started and not yet ended, shared by every backend
        # on this file in this process (init() may replace the backend meanwhile).
        self._started = _started_in(self.path)
        self._usage_below: dict[str, bool] = {}  # span not stored as ended -> usage below it
        self._ended = _RecentIds(_MEMORY)  # spans stored as ended (a hash clash: one more recount)
        self._open_parent: dict[str, str | None] = {}  # span stored as started -> its parent
        self._batches = 0

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
        with self._lock:
            conn = self._connect()
            owners, flags, recount = ({}, {}, set()) if started else self._ownership(records)
            span_rows, updates, trace_rows, done = self._rows(records, started, owners)
            try:
                self._transaction(conn, span_rows, updates, trace_rows, recount)
            except sqlite3.Error as exc:
                if _is_full(exc):
                    raise StorageFull(str(exc)) from exc
                raise
            # Only after the commit: the in-memory state follows what is stored.
            if started:
                self._started.update(r["span_id"] for r in records)
                self._remember_open(records)
            else:
                self._started.difference_update(done)
                self._remember_ended(records, flags)
            self._batches += 1
            if self._batches % _CHECKPOINT_EVERY == 0:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _transaction(
        self,
        conn: sqlite3.Connection,
        span_rows: list[tuple[Any, ...]],
        updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        trace_rows: list[tuple[Any, ...]],
        recount: set[str],
    ) -> None:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:  # another writer holds the lock
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
        try:
            conn.executemany(_INSERT_SPAN, span_rows)
            if updates:
                trace_rows = self._end_started(conn, updates, trace_rows)
            conn.executemany(_UPSERT_TRACE, trace_rows)
            for trace_id in recount:
                _recount_tokens(conn, trace_id)
            conn.execute("COMMIT")
        except BaseException:
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
        owners: dict[str, dict[str, int]],
    ) -> tuple[
        list[tuple[Any, ...]],
        list[tuple[tuple[Any, ...], tuple[Any, ...]]],
        list[tuple[Any, ...]],
        list[str],
    ]:
        """Span rows to insert, (update, row) pairs for started spans, trace rows, ids done."""
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
            owned = owners.get(trace_id)
            tokens = owned.get(span_id) if owned else None
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
                t[6] += tokens or 0
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

    def _ownership(
        self, records: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, dict[str, int]], dict[str, bool], set[str]]:
        """Who owns the batch's tokens, spans outside it to flag, and traces to recount.

        Returns:
            per trace, span id -> the tokens it owns; spans outside the batch
            that now have usage below them (applied after the commit); the
            traces to recompute from the store in the batch's transaction.

        From each span outside the batch that its usage reaches, the walk
        goes up: a span not stored yet is flagged (its record will come), one
        stored as started is flagged and the walk goes on to its parent, and
        one stored as ended means a stored owner may lose its tokens: its
        trace is recounted.
        """
        below, ended, open_parent = self._usage_below, self._ended, self._open_parent
        if not any(r["usage"] for r in records) and below.keys().isdisjoint(
            [r["span_id"] for r in records]
        ):
            return {}, {}, set()  # no usage in the batch, none below its spans: nobody owns
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_trace.setdefault(r["trace_id"], []).append(r)
        owners: dict[str, dict[str, int]] = {}
        flags: dict[str, bool] = {}
        recount: set[str] = set()
        for trace_id, batch in by_trace.items():
            owned, reaches = ownership(batch, below)
            if owned:
                owners[trace_id] = owned
            for span_id in reaches:
                walked: str | None = span_id
                while walked is not None and walked not in flags and walked not in below:
                    if walked in ended:
                        recount.add(trace_id)
                        break
                    flags[walked] = True
                    walked = open_parent.get(walked)
        return owners, flags, recount

    def _remember_ended(self, records: Sequence[dict[str, Any]], flags: dict[str, bool]) -> None:
        below, open_parent = self._usage_below, self._open_parent
        ids = [r["span_id"] for r in records]
        for span_id in below.keys() & ids:  # stored now: a later descendant finds it in _ended
            del below[span_id]
        for span_id in open_parent.keys() & ids:
            del open_parent[span_id]
        self._ended.update(ids)
        below.update(flags)
        while len(below) > _MEMORY:  # parents that never came: forget the oldest
            below.pop(next(iter(below)))

    def _remember_open(self, records: Sequence[dict[str, Any]]) -> None:
        open_parent = self._open_parent
        for r in records:
            open_parent[r["span_id"]] = r["parent_id"]
        while len(open_parent) > _MEMORY:
            open_parent.pop(next(iter(open_parent)))

    def flush(self) -> None:
        """Each batch is committed when ``export`` returns: nothing is buffered."""

    def shutdown(self) -> None:
        """Checkpoint the WAL into the database and close."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    conn.close()

    def after_fork(self) -> None:
        """A forked child opens its own connection (the parent's is not usable there).

        The parent's connection is kept, never closed: SQLite forbids using or
        closing a connection inherited across fork (see sqlite.org/howtocorrupt).
        """
        self._lock = threading.Lock()
        if self._conn is not None:
            _state.inherited_connections.append(self._conn)
        self._conn = None
        _state.started_by_path.clear()
        self._started = _started_in(self.path)
        self._usage_below = {}
        self._ended = _RecentIds(_MEMORY)
        self._open_parent = {}


class _RecentIds:
    """A bounded set of span ids (kept as hashes), in two generations.

    When the newer one is full the older is forgotten, so the ids of the
    last ``size / 2`` to ``size`` adds are always found.
    """

    def __init__(self, size: int) -> None:
        self._half = max(1, size // 2)
        self._new: set[int] = set()
        self._old: set[int] = set()

    def __contains__(self, span_id: object) -> bool:
        key = hash(span_id)
        return key in self._new or key in self._old

    def update(self, span_ids: Iterable[str]) -> None:
        new = self._new
        new.update(map(hash, span_ids))
        if len(new) >= self._half:
            self._old, self._new = new, set()


def _recount_tokens(conn: sqlite3.Connection, trace_id: str) -> None:
    """Recompute a trace's owned tokens from its stored records (inside the batch's transaction).

    The records are read as ``tracekit.store`` reads them, so the totals are
    exactly what ``tracekit show`` computes over them.
    """
    rows = conn.execute(_TRACE_TOKENS, (trace_id,)).fetchall()
    records = [decode_record(row[2:]) for row in rows]
    owned = ownership(records).owned
    fixes = []
    for row, record in zip(rows, records, strict=True):
        tokens = owned.get(str(record.get("span_id")))
        if tokens != row[1]:
            fixes.append((tokens, row[0]))
    conn.executemany("UPDATE spans SET total_tokens = ? WHERE rowid = ?", fixes)
    conn.execute(
        "UPDATE traces SET total_tokens = ? WHERE trace_id = ?", (sum(owned.values()), trace_id)
    )


def _started_in(path: str) -> set[str]:
    """The started span ids of one database file, shared by this process's writers of it."""
    return _state.started_by_path.setdefault(os.path.realpath(path), set())


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


_TRACE_TOKENS = f"SELECT rowid, total_tokens, {RECORD_COLUMNS} FROM spans WHERE trace_id = ?"  # noqa: S608

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
