"""The whole trace or none (D109, D110): a trace is complete in the store, or marked
incomplete with the exact number of its spans that were lost.

The overload is made deterministic, never timed: a gate backend holds the
exporter in its first round until the test releases it, so the queue fills
exactly as the traced loop fills it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import sqlite3
import threading

import pytest
from hand_records import hand_record

import tracekit
from tracekit._pipeline import lost
from tracekit._schema import SCHEMA_VERSION
from tracekit.backends import MarksLosses, MemoryBackend, SqliteBackend
from tracekit.backends.jsonl import JsonlBackend
from tracekit.cli import main
from tracekit.store import Store, TraceNotFound


class Gate(MemoryBackend):
    """Holds an export while armed, until released (the exporter's round waits with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.armed = True

    def arm(self) -> None:
        self.entered.clear()
        self.release.clear()
        self.armed = True

    def export(self, records):
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(30)
        super().export(records)


@tracekit.tool
def step(i: int) -> int:
    return i


@tracekit.agent
def agent(children: int) -> str | None:
    """A trace of 1 + ``children`` spans; returns its id (None when it was not recorded)."""
    for i in range(children):
        step(i)
    return tracekit.current_trace_id()


def hold_exporter(gate: Gate) -> None:
    """One trace in the exporter's hands, the exporter held: the queue is empty and stays."""
    agent(0)
    tracekit.flush(timeout=0)
    assert gate.entered.wait(10)


def sql(db, query, params=()):
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, params).fetchall()


def stored_and_lost(db, trace_id):
    """(spans stored, lost count) of one trace, read through the store (0, n if none stored)."""
    with Store(db) as store:
        try:
            summary = store.trace_summary(trace_id)
        except TraceNotFound:
            rows = sql(db, "SELECT lost_count FROM trace_losses WHERE trace_id = ?", (trace_id,))
            return 0, rows[0][0] if rows else 0
        assert summary.span_count == len(store.get_trace(trace_id))
        return summary.span_count, summary.lost_count


# -- the pipeline and the store --------------------------------------------------------


def test_a_tight_loop_past_the_cap_leaves_every_trace_whole_or_marked(tmp_path):
    db = str(tmp_path / "traces.db")
    gate = Gate()
    tracekit.init([gate, SqliteBackend(db)], queue_max_spans=50, drop_notice=False)
    started: dict[str, int] = {}  # trace id -> its spans
    refused = 0
    # Rounds of a tight loop against a held exporter, each with traces of other sizes:
    # some fit, one started below 90% overflows the cap, the rest are refused.
    for sizes in ([13], [1, 9, 4], [7, 11], [2, 30], [25, 17, 3], [49], [60]):
        gate.arm()
        hold_exporter(gate)
        for i in range(40):
            children = sizes[i % len(sizes)] - 1
            trace_id = agent(children)
            if trace_id is None:
                refused += 1
            else:
                started[trace_id] = 1 + children
        gate.release.set()
        assert tracekit.flush(timeout=30)
    stats = tracekit.stats()
    assert stats["created"] == stats["exported"] + lost(stats["dropped"]) + stats["pending"]
    assert refused > 0
    assert stats["refused_traces"] == refused
    assert stats["unmarked_losses"] == 0

    complete = incomplete = 0
    total_lost = 0
    for trace_id, spans in started.items():
        stored, lost_count = stored_and_lost(db, trace_id)
        assert stored + lost_count == spans, (trace_id, stored, lost_count, spans)
        complete += lost_count == 0
        incomplete += lost_count > 0
        total_lost += lost_count
    assert complete > 0
    assert incomplete >= 5  # the loop did cut traces: each is marked with its count
    # every span lost at the queue is one a trace is marked for; refused roots are not
    assert total_lost == stats["dropped"]["queue_full"] - refused
    # nothing of a refused trace is stored: the store holds only traces that started
    stored_ids = {row[0] for row in sql(db, "SELECT DISTINCT trace_id FROM spans")}
    assert stored_ids <= {*started, *(r["trace_id"] for r in gate.records)}


def test_a_new_trace_is_refused_whole_at_its_root_while_the_queue_is_nearly_full():
    gate = Gate()
    memory = MemoryBackend()
    # cap 20: new traces are refused from 18 queued spans (90%)
    tracekit.init([gate, memory], queue_max_spans=20, drop_notice=False)
    hold_exporter(gate)
    kept = [agent(0) for _ in range(17)]
    assert None not in kept
    with tracekit.span("started before"):  # admitted: 17 queued
        root_trace = tracekit.current_trace_id()
        assert root_trace is not None
        step(1)  # 18 queued
        # A new trace now (a fresh context: not under this span) is refused at its
        # root; its spans are never made.
        assert contextvars.Context().run(agent, 5) is None
        assert tracekit.stats()["refused_traces"] == 1
        assert tracekit.stats()["dropped"]["queue_full"] == 1  # its root, counted once
        step(2)  # the trace already started keeps the room left
    gate.release.set()
    assert tracekit.flush(timeout=30)
    assert tracekit.stats()["dropped"]["queue_full"] == 1
    assert len([r for r in memory.records if r["trace_id"] == root_trace]) == 3
    assert memory.losses == {}
    assert len(memory.records) == 1 + 17 + 3


def test_on_full_wait_never_refuses_a_root():
    tracekit.init("memory", on_full="wait", queue_max_spans=2)
    pipeline = tracekit._state.config.pipeline
    assert pipeline.admit_spans > 2**40
    assert pipeline.admit_bytes > 2**40


def test_a_processor_failure_marks_the_trace_in_memory_and_jsonl(tmp_path):
    path = tmp_path / "spans.jsonl"
    memory = MemoryBackend()

    def fail_on_b(record):
        if record["name"] == "b":
            raise RuntimeError("no")
        return record

    def drop_c(record):  # the application's own choice: not a loss of the trace
        return None if record["name"] == "c" else record

    tracekit.init([memory, JsonlBackend(path)], redact=fail_on_b, drop_notice=False)
    with tracekit.span("root"):
        with tracekit.span("b"):
            pass
        trace_id = tracekit.current_trace_id()
    assert tracekit.flush(timeout=10)
    assert tracekit.stats()["dropped"]["processor_error"] == 1
    assert memory.losses == {trace_id: 1}
    assert [r["name"] for r in memory.records] == ["root"]
    tracekit.shutdown()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"record": "loss", "trace_id": trace_id, "lost_spans": 1} in lines
    assert [line["name"] for line in lines if "span_id" in line] == ["root"]

    tracekit.init(memory, redact=drop_c)
    memory.clear()
    with tracekit.span("root"), tracekit.span("c"):
        pass
    assert tracekit.flush(timeout=10)
    assert tracekit.stats()["dropped"]["filtered"] == 1
    assert memory.losses == {}


class FlakyLosses(MemoryBackend):
    """Its first export_losses fails (a locked or full store): the counts are offered again."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, int]] = []

    def export_losses(self, losses):
        self.calls.append(dict(losses))
        if len(self.calls) == 1:
            raise OSError("not now")
        super().export_losses(losses)


def test_losses_a_backend_could_not_take_are_offered_again_and_counted_once():
    backend = FlakyLosses()
    assert isinstance(backend, MarksLosses)

    def fail(record):
        raise RuntimeError("no")

    tracekit.init(backend, redact=fail, drop_notice=False)
    with tracekit.span("one"):
        first = tracekit.current_trace_id()
    assert tracekit.flush(timeout=10)
    with tracekit.span("two"):
        second = tracekit.current_trace_id()
    assert tracekit.flush(timeout=10)
    assert backend.calls[0] == {first: 1}  # raised: offered again, never lost or doubled
    assert backend.calls[1] == {first: 1}
    assert backend.losses == {first: 1, second: 1}
    assert tracekit.stats()["dropped"]["processor_error"] == 2


def test_a_bad_export_losses_is_refused_at_init():
    class Bad(MemoryBackend):
        export_losses = 3

    with pytest.raises(ValueError, match="export_losses must be a method"):
        tracekit.init(Bad())


# -- the store: schema 2, the upsert, and a schema 1 store -------------------------------

TRACE = "ab" * 16


def record(span_id, parent_id=None, **fields):
    return hand_record(fields.pop("trace_id", TRACE), span_id, parent_id=parent_id, **fields)


def incomplete_store(db, *, losses_first):
    """A trace of three spans, one lost, its loss told before or after its spans."""
    backend = SqliteBackend(db)
    spans = [record("01" * 8, name="agent", kind="AGENT"), record("02" * 8, "01" * 8)]
    if losses_first:
        backend.export_losses({TRACE: 1})
    backend.export(spans)
    if not losses_first:
        backend.export_losses({TRACE: 1})
    backend.shutdown()


@pytest.mark.parametrize("losses_first", [True, False])
def test_losses_add_up_whether_they_come_before_or_after_the_spans(tmp_path, losses_first):
    db = str(tmp_path / "traces.db")
    incomplete_store(db, losses_first=losses_first)
    backend = SqliteBackend(db)
    backend.export_losses({TRACE: 2, "cd" * 16: 0})
    backend.shutdown()
    with Store(db) as store:
        summary = store.trace_summary(TRACE)
        assert summary.lost_count == 3
        assert summary.incomplete
        assert summary.span_count == 2
        assert summary.root_name == "agent"
    assert sql(db, "SELECT count(*) FROM trace_losses") == [(1,)]


def test_deleting_a_trace_deletes_its_lost_count(tmp_path):
    db = str(tmp_path / "traces.db")
    incomplete_store(db, losses_first=False)
    with Store(db) as store:
        assert store.delete_trace(TRACE)
    assert sql(db, "SELECT count(*) FROM trace_losses") == [(0,)]


def make_schema_1_store(db):
    """A store as the previous tracekit left it: schema 1, no trace_losses."""
    backend = SqliteBackend(db)
    backend.export([record("01" * 8, name="agent", kind="AGENT")])
    backend.shutdown()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DROP TABLE trace_losses")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_a_schema_1_store_reads_and_gains_the_lost_counts_on_the_next_write(tmp_path, capsys):
    db = str(tmp_path / "traces.db")
    make_schema_1_store(db)
    # read as it is (the reader never changes a store): no trace is incomplete
    with Store(db) as store:
        [summary] = store.list_traces().traces
        assert summary.lost_count == 0
        assert store.trace_summary(TRACE).lost_count == 0
        assert store.delete_trace("cd" * 16) is False  # a delete works on it too
    assert main(["ls", "--db", db]) == 0
    assert "lost" not in capsys.readouterr().out
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    # a writer migrates it: the old trace stays, and losses can be marked
    backend = SqliteBackend(db)
    backend.export_losses({TRACE: 4})
    backend.shutdown()
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    with Store(db) as store:
        summary = store.trace_summary(TRACE)
        assert (summary.span_count, summary.lost_count) == (1, 4)


# -- what the CLI and the UI say ----------------------------------------------------------


def test_ls_marks_an_incomplete_trace_in_its_status_column(tmp_path, capsys):
    db = str(tmp_path / "traces.db")
    incomplete_store(db, losses_first=False)
    complete = SqliteBackend(db)
    complete.export([record("03" * 8, trace_id="cd" * 16, start_ns=1_600_000_000_000_000_000)])
    complete.shutdown()
    assert main(["ls", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    [mine] = [line for line in lines if line.startswith(TRACE[:12])]
    [other] = [line for line in lines if line.startswith("cd" * 6)]
    assert "OK (1 lost)" in mine
    assert "lost" not in other
    assert lines[-1].startswith("(N lost): incomplete trace, N of its spans were lost")


def test_show_says_incomplete_in_its_header_and_show_json_has_the_count(tmp_path, capsys):
    db = str(tmp_path / "traces.db")
    incomplete_store(db, losses_first=True)
    assert main(["show", "--db", db, TRACE[:8]]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith(f"trace {TRACE}")
    assert header.endswith("2 spans  incomplete: 1 span lost")
    assert main(["show", "--db", db, "--json", TRACE[:8]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["trace_id"] == TRACE
    assert shown["incomplete"] is True
    assert shown["lost_spans"] == 1
    assert [r["span_id"] for r in shown["spans"]] == ["01" * 8, "02" * 8]


def test_the_ui_api_gives_the_lost_count_to_the_table_and_the_trace_view(tmp_path):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    db = str(tmp_path / "traces.db")
    incomplete_store(db, losses_first=False)
    app = create_app(db, host="127.0.0.1", port=7842)
    with TestClient(app, base_url="http://127.0.0.1:7842") as client:
        [row] = client.get("/api/traces").json()["traces"]
        assert row["trace_id"] == TRACE
        assert row["lost_count"] == 1
        trace = client.get(f"/api/traces/{TRACE}").json()
        assert trace["trace"]["lost_count"] == 1
        assert len(trace["spans"]) == 2
        # the page's code says so in both places
        table = client.get("/static/js/table.js").text
        view = client.get("/static/js/trace.js").text
        fmt = client.get("/static/js/format.js").text
        assert "lostText(trace)" in table
        assert "lostText(trace)" in view
        assert "incomplete · " in fmt
