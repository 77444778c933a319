"""Schema 3 (D111): a store's spans found by an integer trace key, older stores still read."""

from __future__ import annotations

import contextlib
import sqlite3

from hand_records import hand_record

from tracekit._schema import SCHEMA_VERSION
from tracekit.backends import SqliteBackend
from tracekit.cli import main
from tracekit.store import Store

OLD, OTHER = "ab" * 16, "cd" * 16


def sql(db, query, params=()):
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, params).fetchall()


def write(db, *records, started=()):
    backend = SqliteBackend(db)
    if started:
        backend.export_started(list(started))
    if records:
        backend.export(list(records))
    backend.shutdown()


def root(trace_id, span_id="01" * 8, **fields):
    return hand_record(trace_id, span_id, name="agent", kind="AGENT", **fields)


def child(trace_id, span_id, **fields):
    return hand_record(trace_id, span_id, parent_id="01" * 8, name="lookup", kind="TOOL", **fields)


def as_schema_2(db):
    """Turn a store back into the layout schema 2 had: no trace keys, spans indexed by id."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.executescript(
            """
            BEGIN;
            CREATE TABLE traces_v2 AS SELECT trace_id, project, start_ns, end_ns, span_count,
                error_count, open_count, total_tokens, root_span_id, root_name, root_kind,
                input_preview, output_preview, pid FROM traces;
            DROP TABLE traces;
            CREATE TABLE traces (trace_id TEXT PRIMARY KEY, project TEXT NOT NULL,
                start_ns INTEGER NOT NULL, end_ns INTEGER,
                span_count INTEGER NOT NULL DEFAULT 0, error_count INTEGER NOT NULL DEFAULT 0,
                open_count INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
                root_span_id TEXT, root_name TEXT, root_kind TEXT, input_preview TEXT,
                output_preview TEXT, pid INTEGER);
            INSERT INTO traces SELECT * FROM traces_v2;
            DROP TABLE traces_v2;
            CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
            CREATE INDEX traces_by_project ON traces (project, start_ns DESC);
            DROP INDEX spans_by_key;
            ALTER TABLE spans DROP COLUMN trace_key;
            CREATE INDEX spans_by_trace ON spans (trace_id, start_ns);
            UPDATE meta SET value = '2' WHERE key = 'schema_version';
            COMMIT;
            """
        )


def test_a_new_store_finds_spans_by_an_integer_key_through_its_index(tmp_path):
    db = str(tmp_path / "traces.db")
    write(db, root(OLD), child(OLD, "02" * 8), root(OTHER))
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    keys = dict(sql(db, "SELECT trace_id, trace_key FROM traces"))
    assert sorted(sql(db, "SELECT trace_id, trace_key FROM spans")) == sorted(
        [(OLD, keys[OLD]), (OLD, keys[OLD]), (OTHER, keys[OTHER])]
    )
    plan = " ".join(
        str(row)
        for row in sql(
            db,
            "EXPLAIN QUERY PLAN SELECT record FROM spans WHERE trace_key = "
            "(SELECT trace_key FROM traces WHERE trace_id = ?)",
            (OLD,),
        )
    )
    assert "spans_by_key" in plan
    assert not sql(db, "SELECT name FROM sqlite_master WHERE name = 'spans_by_trace'")


def test_a_schema_2_store_reads_as_it_is_and_a_writer_gives_its_spans_their_keys(tmp_path, capsys):
    db = str(tmp_path / "traces.db")
    write(db, root(OLD, inputs={"text": "old question"}), child(OLD, "02" * 8), root(OTHER))
    as_schema_2(db)
    with Store(db) as store:  # read as it is: the reader never changes a store
        assert {t.trace_id for t in store.list_traces().traces} == {OLD, OTHER}
        assert [r["span_id"] for r in store.get_trace(OLD)] == ["01" * 8, "02" * 8]
        assert [t.trace_id for t in store.list_traces(kind="TOOL").traces] == [OLD]
        assert [t.trace_id for t in store.list_traces(search="old question").traces] == [OLD]
        assert len(list(store.iter_records(trace_id=OLD))) == 2
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    # a writer migrates it; a span of the old trace arriving now joins it
    write(db, child(OLD, "03" * 8))
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert sql(db, "SELECT count(*) FROM spans WHERE trace_key IS NULL") == [(0,)]
    with Store(db) as store:
        assert [r["span_id"] for r in store.get_trace(OLD)] == ["01" * 8, "02" * 8, "03" * 8]
        assert store.trace_summary(OLD).span_count == 3
        assert [t.trace_id for t in store.list_traces(search="old question").traces] == [OLD]
        assert [t.trace_id for t in store.list_traces(kind="TOOL").traces] == [OLD]
        assert store.delete_trace(OTHER)
    assert sql(db, "SELECT count(*) FROM spans WHERE trace_id = ?", (OTHER,)) == [(0,)]
    assert main(["show", "--db", db, OLD[:8]]) == 0
    assert "lookup" in capsys.readouterr().out


def test_a_reader_opened_before_the_migration_follows_it(tmp_path):
    db = str(tmp_path / "traces.db")
    write(db, root(OLD), child(OLD, "02" * 8))
    as_schema_2(db)
    with Store(db) as store:
        assert len(store.get_trace(OLD)) == 2
        write(db, child(OLD, "03" * 8))  # migrates the store under the open reader
        assert len(store.get_trace(OLD)) == 3


def test_keys_survive_vacuum(tmp_path):
    db = str(tmp_path / "traces.db")
    write(db, root(OTHER), root(OLD), child(OLD, "02" * 8))
    with Store(db) as store:
        assert store.delete_trace(OTHER)
        store.vacuum()
    write(db, child(OLD, "03" * 8))
    with Store(db) as store:
        assert [r["span_id"] for r in store.get_trace(OLD)] == ["01" * 8, "02" * 8, "03" * 8]


def test_a_started_span_whose_trace_was_deleted_is_stored_again_under_a_new_key(tmp_path):
    db = str(tmp_path / "traces.db")
    running = {**child(OLD, "02" * 8), "end_ns": None, "status": "RUNNING"}
    backend = SqliteBackend(db)
    backend.export_started([running])
    with Store(db) as store:
        assert store.delete_trace(OLD)
    backend.export([child(OLD, "02" * 8)])  # it ends after its trace was deleted
    backend.shutdown()
    with Store(db) as store:
        [record] = store.get_trace(OLD)
        assert record["status"] == "OK"
        summary = store.trace_summary(OLD)
        assert summary.span_count == 1
    assert sql(db, "SELECT open_count FROM traces") == [(0,)]
