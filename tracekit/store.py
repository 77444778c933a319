"""Read the embedded trace store: the one query module behind the CLI and the web UI.

Every query is parameterized; sort keys come from an allowlist; the user's
search text is matched literally (LIKE wildcards escaped). Listing reads the
``traces`` table of per-trace aggregates, kept by the writer in the same
transaction as the spans, so the first page is an index walk whatever the
store's size.

A trace tracekit lost spans of (the queue was full, a processor failed) is
*incomplete*: ``TraceSummary.lost_count`` says how many of its spans are
missing (``trace_losses``, schema 2; a schema 1 store reads 0, D110).

A span still open has ``end_ns`` None. Its status reads ``RUNNING`` while the
process that started it is alive and ``UNFINISHED`` once it is gone (it died
before the span ended).

Reading never changes the store: its connection is opened read-only
(``mode=ro``), and only a delete or a vacuum opens a short-lived write
connection of its own. A store that cannot be read raises a ``StoreError``
that says what is wrong and what to do (see ``_explain``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import shlex
import sqlite3
import struct
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from tracekit._record import Node, build_tree, empty_record
from tracekit._schema import (
    SCHEMA_VERSION,
    spans_joined,
    spans_of_trace,
    trace_column,
    version,
)

DEFAULT_PATH = os.path.join(".tracekit", "traces.db")
STATUSES = ("OK", "ERROR", "RUNNING")
SORT_KEYS = {
    "start": "start_ns",
    "duration": "(coalesce(end_ns, start_ns) - start_ns)",
    "tokens": "total_tokens",
    "spans": "span_count",
}


class StoreError(Exception):
    """A problem reading the store, with a message fit for one line of output."""


class StoreNotFound(StoreError):
    """There is no trace store at the path."""


class TraceNotFound(StoreError):
    """No trace has this id (or id prefix)."""


class NotAStore(StoreError):
    """The file is not a trace store: not an SQLite database, or one without tracekit's tables."""


class StoreDamaged(StoreError):
    """The store's files are damaged: a malformed database, or a missing write-ahead log."""


class StoreReadOnly(StoreError):
    """A delete (or vacuum) was refused: the store's file or folder is read-only."""


@dataclasses.dataclass(frozen=True)
class TraceSummary:
    """One row of the trace table."""

    trace_id: str
    project: str
    root_name: str | None
    root_kind: str | None
    start_ns: int
    end_ns: int | None
    span_count: int
    error_count: int
    total_tokens: int
    status: str  # OK | ERROR | RUNNING | UNFINISHED
    input_preview: str | None
    output_preview: str | None
    lost_count: int = 0  # spans of this trace tracekit lost: never stored (D110)

    @property
    def incomplete(self) -> bool:
        """Whether spans of this trace were lost before they reached the store."""
        return self.lost_count > 0

    @property
    def duration_ns(self) -> int | None:
        """Nanoseconds from the first start to the last end; None while open."""
        return None if self.end_ns is None else self.end_ns - self.start_ns


@dataclasses.dataclass(frozen=True)
class Page:
    """A page of traces, newest first, and the cursor of the next page (None at the end)."""

    traces: list[TraceSummary]
    next_cursor: str | None


def escape_like(text: str) -> str:
    r"""Escape ``\\``, ``%`` and ``_`` so LIKE matches ``text`` literally (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def process_alive(pid: int | None) -> bool:
    """Whether a process with this id is running on this machine."""
    if not pid or pid < 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _reading(method: Callable[Concatenate[Store, _P], _T]) -> Callable[Concatenate[Store, _P], _T]:
    """Raise what SQLite reports from ``method`` as a ``StoreError`` saying what to do."""

    @functools.wraps(method)
    def explained(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with _explained(self.path):
            return method(self, *args, **kwargs)

    return explained


class Store:
    """A read (and delete) handle on a trace store.

    The store is opened read-only: reading never changes it, and works on a
    store in a read-only file or folder. ``delete_trace`` and ``vacuum``
    each open a write connection of their own and close it before returning.

    Args:
        path: the database file; ``.tracekit/traces.db`` by default.

    Raises:
        StoreNotFound: no file at ``path``, or one that holds no traces yet.
        NotAStore: the file is not a tracekit store.
        StoreDamaged: the store is damaged, or its write-ahead log is missing.
        StoreError: any other reason it cannot be read (the message says which).
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        self.path = os.fspath(path)
        self._conn = _open_reader(self.path)
        try:
            # A schema 1 store (read-only here, so not migrated) has no lost counts.
            has_losses = "trace_losses" in _tables(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._has_losses = has_losses
        self._summary_columns = _SUMMARY_COLUMNS + (_LOST_COLUMN if has_losses else ", 0")
        self._version = 0  # read when first needed (_schema_version)

    def _schema_version(self) -> int:
        """The store's schema, read again until it is the newest (a writer may migrate it)."""
        if self._version < SCHEMA_VERSION:
            self._version = version(self._conn)
        return self._version

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- listing -----------------------------------------------------------------------

    @_reading
    def list_traces(
        self,
        *,
        project: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        search: str | None = None,
        sort: str = "start",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Traces, newest (or largest) first, with their aggregates.

        Args:
            project: only this project.
            status: ``OK``, ``ERROR`` (any span failed) or ``RUNNING`` (spans
                still open, including unfinished ones).
            kind: only traces with a span of this kind.
            since_ns: only traces that started at or after this time.
            until_ns: only traces that started before this time.
            search: text found (case-insensitively, literally) in a span's
                name, inputs or outputs.
            sort: one of ``start``, ``duration``, ``tokens``, ``spans`` (descending).
            limit: rows per page, 1 to 1,000.
            cursor: ``next_cursor`` of the previous page.

        Raises:
            ValueError: for an unknown sort key or status, a bad limit or cursor.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}; use one of {', '.join(SORT_KEYS)}")
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")
        key = SORT_KEYS[sort]
        where: list[str] = []
        params: list[Any] = []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if status is not None:
            wanted = status.upper()
            if wanted not in STATUSES:
                raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
            where.append(
                {
                    "OK": "error_count = 0 AND open_count = 0",
                    "ERROR": "error_count > 0",
                    "RUNNING": "open_count > 0",
                }[wanted]
            )
        if kind is not None:
            joined = spans_joined(self._schema_version(), "s.")
            where.append(f"EXISTS (SELECT 1 FROM spans s WHERE s.kind = ? AND {joined})")  # noqa: S608
            params.append(kind.upper())
        if since_ns is not None:
            where.append("start_ns >= ?")
            params.append(_ns("since_ns", since_ns))
        if until_ns is not None:
            where.append("start_ns < ?")
            params.append(_ns("until_ns", until_ns))
        if search:
            # Names as they are; payloads inside each span's JSON, where non-ASCII
            # text is ASCII-escaped (the json module's encoder) or UTF-8 (orjson's,
            # D105): escape the query both ways. LIKE ignores ASCII case.
            escaped = f"%{escape_like(json.dumps(search)[1:-1])}%"
            utf8 = f"%{escape_like(json.dumps(search, ensure_ascii=False)[1:-1])}%"
            params.append(f"%{escape_like(search)}%")
            joined = spans_joined(self._schema_version(), "s.")
            if utf8 == escaped:
                where.append(_SEARCH_SPANS.format(joined=joined))
                params.extend((escaped, escaped))
            else:
                where.append(_SEARCH_SPANS_EITHER.format(joined=joined))
                params.extend((escaped, escaped, utf8, utf8))
        if cursor is not None:
            value, trace_id = _parse_cursor(cursor)
            where.append(f"({key}, trace_id) < (?, ?)")
            params.extend((value, trace_id))
        # Only allowlisted fragments are formatted in; every value is a parameter.
        sql = (
            f"SELECT {self._summary_columns}, {key} FROM traces"  # noqa: S608
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {key} DESC, trace_id DESC LIMIT ?"
        )
        rows = self._conn.execute(sql, (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        traces = [_summary(row, self._open_span_pids) for row in rows]
        next_cursor = f"{rows[-1][-1]}:{rows[-1][0]}" if more and rows else None
        return Page(traces, next_cursor)

    def _open_span_pids(self, trace_id: str) -> list[int]:
        """The processes that wrote the trace's still-open spans."""
        rows = self._conn.execute(
            f"SELECT DISTINCT pid FROM spans WHERE {spans_of_trace(self._schema_version())}"  # noqa: S608
            " AND end_ns IS NULL",
            (trace_id,),
        ).fetchall()
        return [row[0] for row in rows if row[0] is not None]

    @_reading
    def list_projects(self) -> list[str]:
        """The projects that have traces, sorted (one index seek per project)."""
        # A skip scan over traces_by_project: each step jumps to the next name.
        rows = self._conn.execute(
            "WITH RECURSIVE p(name) AS ("
            " SELECT min(project) FROM traces"
            " UNION ALL"
            " SELECT (SELECT min(project) FROM traces WHERE project > p.name)"
            " FROM p WHERE p.name IS NOT NULL)"
            " SELECT name FROM p WHERE name IS NOT NULL"
        ).fetchall()
        return [str(row[0]) for row in rows]

    # -- one trace ---------------------------------------------------------------------

    @_reading
    def trace_summary(self, trace_id: str) -> TraceSummary:
        """The trace table's row for one trace (id or unique prefix).

        Raises:
            TraceNotFound: no trace, or several, match ``trace_id``.
        """
        full = self.resolve_trace_id(trace_id)
        row = self._conn.execute(
            f"SELECT {self._summary_columns} FROM traces WHERE trace_id = ?",  # noqa: S608
            (full,),
        ).fetchone()
        if row is None:  # deleted between the two statements
            raise TraceNotFound(f"no trace with id {trace_id}")
        return _summary(row, self._open_span_pids)

    @_reading
    def resolve_trace_id(self, prefix: str) -> str:
        """The full trace id for an id or a unique prefix of one.

        Raises:
            TraceNotFound: no trace, or several, start with ``prefix``.
        """
        text = prefix.strip().lower()
        if not text or any(ch not in "0123456789abcdef" for ch in text):
            raise TraceNotFound(f"{prefix!r} is not a trace id (32 hex digits, or a prefix)")
        rows = self._conn.execute(
            "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
            (text, text + "g"),
        ).fetchall()
        if not rows:
            raise TraceNotFound(f"no trace with id {prefix}")
        if len(rows) > 1:
            raise TraceNotFound(f"trace id prefix {prefix} is ambiguous: give more digits")
        return str(rows[0][0])

    @_reading
    def get_trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The span records of one trace (id or unique prefix), in start order."""
        full = self.resolve_trace_id(trace_id)
        rows = self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM spans WHERE {spans_of_trace(self._schema_version())}"  # noqa: S608
            " ORDER BY start_ns, span_id",
            (full,),
        ).fetchall()
        return [decode_record(row) for row in rows]

    def trace_tree(self, trace_id: str) -> list[Node]:
        """One trace as nested ``{"record", "children", "cycle"}`` nodes, roots in start order.

        A span whose parent is not stored is a root; so is one whose parent
        link loops back (``cycle`` True). See ``_record.build_tree``.
        """
        return build_tree(self.get_trace(trace_id))

    def iter_records(
        self,
        *,
        trace_id: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Span records for export: one trace, or the traces started in a time range, or all."""
        where: list[str] = []
        params: list[Any] = []
        if trace_id is not None:
            where.append(spans_of_trace(self._schema_version()))
            params.append(self.resolve_trace_id(trace_id))
        if since_ns is not None or until_ns is not None:
            key = trace_column(self._schema_version())
            where.append(
                f"{key} IN (SELECT {key} FROM traces WHERE start_ns >= ? AND start_ns < ?)"  # noqa: S608
            )
            low = since_ns if since_ns is not None else -(2**63)
            high = until_ns if until_ns is not None else 2**63 - 1
            params.extend((low, high))
        sql = f"SELECT {RECORD_COLUMNS} FROM spans"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        with _explained(self.path):  # a generator: the decorator would not see its errors
            for row in self._conn.execute(sql + " ORDER BY rowid", params):
                yield decode_record(row)

    # -- deleting ----------------------------------------------------------------------

    @_reading
    def delete_trace(self, trace_id: str) -> bool:
        """Delete one trace (exact id) and its spans; True if it existed.

        Opens a write connection for the delete and closes it after.

        Raises:
            StoreReadOnly: the store's file or folder is read-only for this user.
        """
        with _writer(self.path) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                of_trace = spans_of_trace(version(conn))  # the writer's view: it may have migrated
                conn.execute(f"DELETE FROM spans WHERE {of_trace}", (trace_id,))  # noqa: S608
                if self._has_losses:
                    conn.execute("DELETE FROM trace_losses WHERE trace_id = ?", (trace_id,))
                gone = conn.execute("DELETE FROM traces WHERE trace_id = ?", (trace_id,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return gone > 0

    @_reading
    def vacuum(self) -> None:
        """Give the space of deleted traces back to the file system (on a write connection)."""
        with _writer(self.path) as conn:
            conn.execute("VACUUM")
            # VACUUM writes the compacted pages through the WAL: copy them back now.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# The trace table's columns, in the order _summary reads them; then the lost count.
_SUMMARY_COLUMNS = (
    "trace_id, project, root_name, root_kind, start_ns, end_ns, span_count, "
    "error_count, open_count, total_tokens, input_preview, output_preview"
)
_LOST_COLUMN = (
    ", coalesce((SELECT l.lost_count FROM trace_losses l WHERE l.trace_id = traces.trace_id), 0)"
)

# {joined}: the spans of the traces row (_schema.spans_joined)
_SEARCH_SPANS = """EXISTS (
    SELECT 1 FROM spans s WHERE {joined} AND (
        s.name LIKE ? ESCAPE '\\'
        OR substr(s.record, s.in_start, s.in_len) LIKE ? ESCAPE '\\'
        OR substr(s.record, s.out_start, s.out_len) LIKE ? ESCAPE '\\'))"""

_SEARCH_SPANS_EITHER = (
    _SEARCH_SPANS[:-2]
    + """
        OR substr(s.record, s.in_start, s.in_len) LIKE ? ESCAPE '\\'
        OR substr(s.record, s.out_start, s.out_len) LIKE ? ESCAPE '\\'))"""
)


_INT64 = range(-(2**63), 2**63)  # what SQLite stores as an integer


def _ns(name: str, value: int) -> int:
    """A nanosecond bound SQLite can compare with (ValueError otherwise)."""
    number = int(value)
    if number not in _INT64:
        raise ValueError(f"{name} is out of range: {value!r}")
    return number


def _parse_cursor(cursor: str) -> tuple[int, str]:
    value, sep, trace_id = cursor.partition(":")
    try:
        if not sep or len(trace_id) != 32:
            raise ValueError(cursor)
        int(trace_id, 16)
        number = int(value)
        if number not in _INT64:
            raise ValueError(cursor)
        return number, trace_id
    except ValueError:
        raise ValueError(f"bad cursor {cursor!r}") from None


# What a span row gives a record (decode_record): the JSON, what marks it started, and
# its identity (for the placeholder of a record that does not decode).
RECORD_COLUMNS = "record, end_ns, pid, trace_id, span_id, parent_id, name, kind, project, start_ns"


def _damaged(row: tuple[Any, ...], exc: Exception) -> dict[str, Any]:
    """A record whose stored JSON does not decode (damaged on disk): what the row still says.

    One bad row must not make its whole trace unreadable: the span keeps its
    place in the tree, marked as an error that says what happened.
    """
    _, end_ns, _, trace_id, span_id, parent_id, name, kind, project, start_ns = row
    return empty_record(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        kind=kind,
        project=project,
        start_ns=start_ns,
        end_ns=end_ns,
        status="ERROR",
        error={
            "type": "DamagedRecord",
            "message": f"the stored span record does not decode ({type(exc).__name__})",
            "stack": "",
        },
    )


def _summary(row: tuple[Any, ...], open_span_pids: Callable[[str], list[int]]) -> TraceSummary:
    (trace_id, project, root_name, root_kind, start_ns, end_ns, span_count, error_count,
     open_count, total_tokens, input_preview, output_preview, lost_count) = row[:13]  # fmt: skip
    if error_count:
        status = "ERROR"
    elif open_count:
        # Running while any process holding one of its open spans lives (a
        # forked child may have written to the trace and exited since).
        alive = any(process_alive(pid) for pid in open_span_pids(trace_id))
        status = "RUNNING" if alive else "UNFINISHED"
    else:
        status = "OK"
    return TraceSummary(
        trace_id=trace_id,
        project=project,
        root_name=root_name,
        root_kind=root_kind,
        start_ns=start_ns,
        end_ns=None if open_count else end_ns,
        span_count=span_count,
        error_count=error_count,
        total_tokens=total_tokens,
        status=status,
        input_preview=input_preview,
        output_preview=output_preview,
        lost_count=int(lost_count or 0),
    )


def decode_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """The span record of a ``spans`` row read as ``RECORD_COLUMNS``.

    A record still open reads ``RUNNING`` while its process lives and
    ``UNFINISHED`` after; one whose JSON does not decode reads as a
    placeholder (see ``_damaged``). The sqlite writer reads its rows through
    this too, so its token totals are computed over the same records.
    """
    try:
        record: dict[str, Any] = json.loads(row[0])
        if not isinstance(record, dict):
            raise TypeError(type(record).__name__)
    except (ValueError, TypeError) as exc:
        record = _damaged(row, exc)
    if row[1] is None:  # a started record: still running, or its process died
        record["end_ns"] = None
        record["status"] = "RUNNING" if process_alive(row[2]) else "UNFINISHED"
    return record


# -- opening the store, and what its errors mean ------------------------------------------

_BUSY_TIMEOUT_S = 10.0
# SQLite's primary result codes, and the message it gives each (Python < 3.11 has no code).
_BUSY, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 8, 10, 11, 13, 14, 26
_MESSAGES = {
    _BUSY: "database is locked",
    _READONLY: "attempt to write a readonly database",
    _IOERR: "disk I/O error",
    _CORRUPT: "database disk image is malformed",
    _FULL: "database or disk is full",
    _CANTOPEN: "unable to open database file",
    _NOTADB: "file is not a database",
}
_WAL_INDEX_VERSION = 3007000  # the -shm header's iVersion (sqlite.org/walformat.html)
_NEVER_DELETE = "never delete a store's -wal or -shm file on its own"


def _connect(path: str, mode: str, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection through a ``file:`` URI: ``mode`` ``ro`` reads only, ``rw`` never creates."""
    uri = pathlib.Path(os.path.abspath(path)).as_uri() + f"?mode={mode}"
    if immutable:
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S, isolation_level=None)


def _open_reader(path: str) -> sqlite3.Connection:
    """A read-only connection to the store at ``path``, checked to be a tracekit store.

    In a read-only folder, a store closed cleanly has no ``-wal`` and ``-shm``
    files, and SQLite cannot create them to read it in WAL mode: then, and
    only then, it is read as an unchanging file (``immutable=1``), which it
    is (every connection in WAL mode keeps those files while it is open).
    """
    if os.path.isdir(path):
        raise NotAStore(
            f"{path} is a folder, not a trace store: give the store's file, "
            f"such as {os.path.join(path, 'traces.db')}"
        )
    if not os.path.exists(path):
        raise StoreNotFound(_missing(path))
    if not os.access(path, os.R_OK):
        raise StoreError(
            f"cannot read the trace store {path}: permission denied (it belongs to "
            "another user?); run tracekit as a user who may read it"
        )
    lost = _wal_gap(path)  # before the first read: SQLite may rebuild the index then
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path, "ro")
        try:
            tables = _tables(conn)
        except sqlite3.OperationalError as exc:
            if not _cannot_create_wal_files(path, exc):
                raise
            conn.close()
            conn = _connect(path, "ro", immutable=True)
            tables = _tables(conn)
        _check_schema(path, conn, tables, lost)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.ProgrammingError):
            raise _explain(path, exc) from exc
        raise
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _check_schema(path: str, conn: sqlite3.Connection, tables: set[str], lost: bool) -> None:
    """Raise unless the database holds a tracekit store this tracekit can read."""
    if not tables:
        if lost:
            raise StoreDamaged(
                f"{path} holds no traces: its write-ahead log {path}-wal is missing, and the "
                f"traces in it had not been copied into {path} yet, so they are lost (new "
                f"traces are stored as usual); {_NEVER_DELETE}"
            )
        raise StoreNotFound(
            f"{path} holds no traces yet: a program traced with tracekit.init() stores its "
            f"first ones within a second or so (or try `{_demo_command(path)}`)"
        )
    found = 0
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        with contextlib.suppress(TypeError, ValueError):
            found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the trace store {path} has schema {found}, which is newer than this tracekit "
            f"(it reads schema {SCHEMA_VERSION} and older): upgrade tracekit to read it "
            "(pip install -U tracekit-llm)"
        )
    if found < 1 or not {"spans", "traces"} <= tables:
        names = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise NotAStore(
            f"{path} is an SQLite database but not a tracekit store (its tables: {names}); "
            f"check the path: {_WHAT_A_STORE_IS}"
        )


_WHAT_A_STORE_IS = "a store is the file a traced program writes, .tracekit/traces.db by default"


@contextlib.contextmanager
def _explained(path: str, *, writing: bool = False) -> Iterator[None]:
    """Raise what SQLite reports inside the block as a ``StoreError`` (``_explain``)."""
    try:
        yield
    except sqlite3.ProgrammingError:  # a misuse (a closed store, say): ours, not the file's
        raise
    except sqlite3.DatabaseError as exc:
        raise _explain(path, exc, writing=writing) from exc


@contextlib.contextmanager
def _writer(path: str) -> Iterator[sqlite3.Connection]:
    """A short-lived write connection (never creating the file), closed on leaving."""
    with _explained(path, writing=True):
        conn = _connect(path, "rw")
        try:
            yield conn
        finally:
            conn.close()


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code for ``exc`` (-1 when unknown)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc)
    return next((code for code, message in _MESSAGES.items() if message in text), -1)


def _explain(path: str, exc: sqlite3.Error, *, writing: bool = False) -> StoreError:
    """What an SQLite error says about the store at ``path``, and what to do, on one line.

    Nothing here changes the store: a damaged store is left as it is, for
    the user to copy or rescue.
    """
    code = _code(exc)
    if code == _NOTADB:
        return NotAStore(
            f"{path} is not a tracekit store: it is not an SQLite database (or its first "
            f"bytes are damaged); check the path: {_WHAT_A_STORE_IS}"
        )
    if code == _CORRUPT:
        return StoreDamaged(
            f"the trace store {path} is damaged ({exc}); tracekit leaves it as it is. Move it "
            "aside with its -wal and -shm files and the next traced program starts a new "
            'store; to rescue what is still readable, see "A damaged trace store" in '
            "tracekit's pitfalls"
        )
    if code == _IOERR:
        if _wal_gap(path):
            return StoreDamaged(
                f"the trace store's write-ahead log {path}-wal is missing (deleted while a "
                "program had the store open): its newest traces are only in that program "
                f"now. Let it exit normally, which writes them into {path}, then read again; "
                f"{_NEVER_DELETE}"
            )
        name = getattr(exc, "sqlite_errorname", None) or "SQLITE_IOERR"
        return StoreDamaged(
            f"cannot read the trace store {path}: {exc} ({name}); check the disk and the "
            "file system, then try again"
        )
    if code == _CANTOPEN and not os.path.exists(path):
        return StoreNotFound(_missing(path))
    if writing and code in (_READONLY, _CANTOPEN):
        return StoreReadOnly(_read_only(path))
    if code == _BUSY:
        return StoreError(
            f"the trace store {path} is locked by another program's write (waited "
            f"{_BUSY_TIMEOUT_S:g} s); try again"
        )
    if code == _FULL:
        return StoreError(f"cannot change the trace store {path}: the disk is full")
    return StoreError(f"cannot {'change' if writing else 'read'} the trace store {path}: {exc}")


def _missing(path: str) -> str:
    return (
        f"no trace store at {path}: it is created the first time a program traced with "
        f"tracekit.init() stores a trace (try `{_demo_command(path)}`), or give the path "
        "of an existing store"
    )


def _demo_command(path: str) -> str:
    return "tracekit demo" if path == DEFAULT_PATH else f"tracekit demo --db {shlex.quote(path)}"


def _read_only(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(path, os.W_OK):
        what = f"the file {path} is"
    elif not os.access(folder, os.W_OK):
        what = f"its folder {folder} is"
    else:
        what = "its files are"
    return (
        f"cannot change the trace store {path}: {what} read-only for this user, so its "
        "traces can be read but not deleted; make it writable to delete them"
    )


def _cannot_create_wal_files(path: str, exc: sqlite3.Error) -> bool:
    """Whether SQLite could not open a WAL store only for want of a ``-wal``/``-shm`` to create."""
    folder = os.path.dirname(os.path.abspath(path))
    return (
        _code(exc) == _CANTOPEN
        and not os.path.exists(path + "-wal")
        and not os.path.exists(path + "-shm")
        and not os.access(folder, os.W_OK)
    )


def _wal_gap(path: str) -> bool:
    """Whether the store's WAL index (``-shm``) counts frames its log (``-wal``) does not hold.

    The index header (sqlite.org/walformat.html) holds the page size and the
    number of valid frames in the log (``mxFrame``), twice. A log shorter
    than that many frames was deleted, or cut, behind SQLite's back.
    """
    try:
        with open(path + "-shm", "rb") as f:
            header = f.read(96)
    except OSError:
        return False
    if len(header) < 96 or header[:48] != header[48:] or header[12] != 1:  # torn or not set up
        return False
    version, size_code, frames = (int(v) for v in struct.unpack_from("=I10xHI", header, 0))
    page = (size_code & 0xFE00) + ((size_code & 1) << 16)
    if version != _WAL_INDEX_VERSION or not frames or not page:
        return False
    try:
        wal = os.path.getsize(path + "-wal")
    except OSError:
        wal = 0
    return wal < 32 + frames * (24 + page)
