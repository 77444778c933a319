"""The SQLite store's schema and its migrations: shared by the writer and the reader.

Two tables. ``spans`` holds every span record as JSON plus the columns
queries filter on, in insertion order, with one index (by trace key, schema 3):
each extra index is one more B-tree insert per span, the store's main write
cost; ``traces`` holds one row of aggregates per trace, kept up to
date by the writer in the same transaction as the spans, so listing many traces
never scans spans. ``trace_losses`` (schema 2) counts, per trace, the spans
tracekit lost before they reached the store, so a trace missing spans reads
as incomplete (D110). ``meta`` records the schema version; ``migrate`` brings
any older store up to date, one numbered step at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    span_id      TEXT NOT NULL,        -- unique, found through spans_by_trace
    trace_id     TEXT NOT NULL,
    parent_id    TEXT,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    project      TEXT NOT NULL,
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER,              -- NULL: started, not (yet) ended
    status       TEXT NOT NULL,        -- OK | ERROR | RUNNING (started record)
    total_tokens INTEGER,              -- usage.total_tokens when this span owns its usage
    pid          INTEGER,              -- writer process, to tell running from unfinished
    in_start     INTEGER NOT NULL,     -- where the inputs' JSON starts in record (1-based)
    in_len       INTEGER NOT NULL,
    out_start    INTEGER NOT NULL,     -- where the outputs' JSON starts in record
    out_len      INTEGER NOT NULL,
    record       TEXT NOT NULL         -- the span record of DESIGN.md, as JSON
);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_id, start_ns);
CREATE TABLE IF NOT EXISTS traces (
    trace_id       TEXT PRIMARY KEY,
    project        TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER,
    span_count     INTEGER NOT NULL DEFAULT 0,
    error_count    INTEGER NOT NULL DEFAULT 0,
    open_count     INTEGER NOT NULL DEFAULT 0,
    total_tokens   INTEGER NOT NULL DEFAULT 0,
    root_span_id   TEXT,
    root_name      TEXT,
    root_kind      TEXT,
    input_preview  TEXT,
    output_preview TEXT,
    pid            INTEGER
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX IF NOT EXISTS traces_by_project ON traces (project, start_ns DESC);
"""

# Schema 2 (D110): spans of a trace lost on tracekit's side (queue full, a processor
# failed), added by the writer's export_losses. A table of its own, not a traces
# column: the losses may arrive before any span of the trace, and a traces row
# needs the trace's project and start. Readers of a schema 1 store read 0.
_V2 = """
CREATE TABLE IF NOT EXISTS trace_losses (
    trace_id   TEXT PRIMARY KEY,
    lost_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""

# Schema 3 (D111): spans found by an integer trace key, not by the trace id. A
# random 32-character id at the head of the spans index made every span one
# insert at a random place in a B-tree larger than the cache: over a store of a
# million spans the writer managed 42,000 spans/s of SQLite alone. Keys that grow
# with each new trace make those inserts appends (93,000 spans/s, measured).
# The key is an INTEGER PRIMARY KEY (VACUUM renumbers a bare rowid); the id stays
# unique on traces and stays a spans column. Readers of an older store keep
# finding its spans by id (``spans_of_trace``).
_V3_TRACES = """
CREATE TABLE traces_v3 (
    trace_key      INTEGER PRIMARY KEY,
    trace_id       TEXT NOT NULL UNIQUE,
    project        TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER,
    span_count     INTEGER NOT NULL DEFAULT 0,
    error_count    INTEGER NOT NULL DEFAULT 0,
    open_count     INTEGER NOT NULL DEFAULT 0,
    total_tokens   INTEGER NOT NULL DEFAULT 0,
    root_span_id   TEXT,
    root_name      TEXT,
    root_kind      TEXT,
    input_preview  TEXT,
    output_preview TEXT,
    pid            INTEGER
);
INSERT INTO traces_v3 (trace_id, project, start_ns, end_ns, span_count, error_count,
                       open_count, total_tokens, root_span_id, root_name, root_kind,
                       input_preview, output_preview, pid)
SELECT trace_id, project, start_ns, end_ns, span_count, error_count, open_count,
       total_tokens, root_span_id, root_name, root_kind, input_preview, output_preview, pid
FROM traces ORDER BY start_ns, trace_id;
DROP TABLE traces;
ALTER TABLE traces_v3 RENAME TO traces;
CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_project ON traces (project, start_ns DESC)
"""
_V3_SPANS = """
UPDATE spans SET trace_key = (SELECT t.trace_key FROM traces t WHERE t.trace_id = spans.trace_id);
DROP INDEX IF EXISTS spans_by_trace;
CREATE INDEX IF NOT EXISTS spans_by_key ON spans (trace_key, start_ns)
"""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _v3(conn: sqlite3.Connection) -> None:
    """Schema 3: each step only where it is missing (a store may hold part of it already)."""
    if "trace_key" not in _columns(conn, "spans"):
        conn.execute("ALTER TABLE spans ADD COLUMN trace_key INTEGER")
    if "trace_key" not in _columns(conn, "traces"):
        _run(conn, _V3_TRACES)
    _run(conn, _V3_SPANS)


def _run(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


# Index i takes a store from version i to i + 1: a script (its statements are split
# on ";", so comments in them must not contain one) or a function.
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (_V1, _V2, _v3)


def spans_of_trace(version: int, spans: str = "") -> str:
    """The condition that picks a trace's spans (one ``?``: the trace id) in a store of ``version``.

    ``spans`` is the spans table's alias with its dot (``"s."``), if any.
    """
    if version >= 3:
        return f"{spans}trace_key = (SELECT trace_key FROM traces WHERE trace_id = ?)"  # noqa: S608
    return f"{spans}trace_id = ?"


def trace_column(version: int) -> str:
    """The column that ties a span to its trace in a store of ``version``, in both tables."""
    return "trace_key" if version >= 3 else "trace_id"


def spans_joined(version: int, spans: str) -> str:
    """The condition that ties spans (alias ``spans``, with its dot) to the ``traces`` row."""
    column = trace_column(version)
    return f"{spans}{column} = traces.{column}"


class SchemaTooNew(RuntimeError):
    """The store was written by a newer tracekit than this one."""


def version(conn: sqlite3.Connection) -> int:
    """The store's schema version (0 for an empty database)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema in one transaction per step.

    Raises:
        SchemaTooNew: the store's version is newer than this tracekit knows.
    """
    current = version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"trace store schema {current} is newer than this tracekit ({SCHEMA_VERSION}): "
            "upgrade tracekit to read it"
        )
    for step in range(current, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(conn) == step:  # another process may have migrated meanwhile
                script = MIGRATIONS[step]
                if isinstance(script, str):
                    _run(conn, script)
                else:
                    script(conn)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(step + 1),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
