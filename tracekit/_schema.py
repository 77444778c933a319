"""The SQLite store's schema and its migrations: shared by the writer and the reader.

Two tables. ``spans`` holds every span record as JSON plus the columns
queries filter on, in insertion order, with one index (by trace): each extra
index is one more random-order B-tree insert per span, the store's main
write cost; ``traces`` holds one row of aggregates per trace, kept up to
date by the writer in the same transaction as the spans, so listing many traces
never scans spans. ``trace_losses`` (schema 2) counts, per trace, the spans
tracekit lost before they reached the store, so a trace missing spans reads
as incomplete (D110). ``meta`` records the schema version; ``migrate`` brings
any older store up to date, one numbered step at a time.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

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

# Index i holds the script that takes a store from version i to i + 1. Statements
# are split on ";", so comments in them must not contain one.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)


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
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(step + 1),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
