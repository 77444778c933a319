"""Fork safety of the SQLite store: a child forked while its parent writes stores its spans.

SQLite keeps the lock state of a database file in process memory, shared by
every connection of the process to that file. A child forked while the
parent's exporter is inside a write inherits that memory, and with it a write
lock no connection of the child can ever take. These tests fork as a user
would (a parent that traces on another thread, ``os.fork``, a
``multiprocessing`` pool), and hold the writer inside its transaction where
the outcome must not depend on luck.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sqlite3
import threading
import time

import pytest

import tracekit
from tracekit import _state
from tracekit._record import empty_record
from tracekit.backends import SqliteBackend
from tracekit.backends import sqlite as sqlite_backend  # noqa: F401  (its fork hooks first)
from tracekit.store import Store

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

CHILDREN = 20
SPANS = 5  # per child


@tracekit.trace
def tick(n):
    return n


@tracekit.trace
def child_work(child, n):
    return n


class Producer:
    """The parent tracing in a tight loop on another thread: its exporter writes all along."""

    def __init__(self):
        self.stop = threading.Event()
        self.running = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stop.is_set():
            tick(n)
            n += 1
            time.sleep(0)  # lets the exporter run: it writes all along, the queue keeps up
            if n == 1_000:
                self.running.set()

    def __enter__(self):
        self.thread.start()
        assert self.running.wait(60)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def trace_in_child(child):
    """A child's whole life: trace its spans, flush, exit without the parent's exit hooks."""
    code = 1
    try:
        for n in range(SPANS):
            child_work(child, n)
        code = 0 if tracekit.flush(timeout=30) else 2
    finally:
        os._exit(code)


def fork_children():
    """Fork CHILDREN children that each trace their spans; their exit codes, in order."""
    pids = []
    for child in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            trace_in_child(child)
        pids.append(pid)
    return wait_all(pids)


def wait_all(pids):
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    return codes


def stored(db):
    """(child, n) of every child span stored, and the span ids of the parent's spans."""
    with Store(db) as s:
        records = list(s.iter_records())
    children = sorted(
        (r["inputs"]["child"], r["inputs"]["n"]) for r in records if r["name"] == "child_work"
    )
    parent = [r["span_id"] for r in records if r["name"] != "child_work"]
    return children, parent


def every(children):
    return [(c, n) for c in children for n in range(SPANS)]


def integrity(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def test_children_forked_while_the_parent_writes_store_their_spans_exactly_once(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.001)
    with Producer():
        codes = fork_children()
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == every(range(CHILDREN))  # none missing, none twice
    assert len(parent) == len(set(parent)) > 0  # the parent's spans, once each
    assert codes == [0] * CHILDREN
    assert integrity(db) == [("ok",)]


def pool_task(child):
    for n in range(SPANS):
        child_work(child, n)
    return tracekit.flush(timeout=30)


def test_a_fork_pool_started_while_the_parent_writes_stores_every_task_once(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.001)
    with Producer():
        # One task per worker: the pool forks a new worker for each, from its own thread.
        with multiprocessing.get_context("fork").Pool(4, maxtasksperchild=1) as pool:
            flushed = pool.map(pool_task, range(CHILDREN), chunksize=1)
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == every(range(CHILDREN))
    assert len(parent) == len(set(parent)) > 0
    assert flushed == [True] * CHILDREN


# -- a fork while the writer is held inside its transaction ---------------------------------


class HeldWrite:
    """Holds the parent's next batch inside its transaction (the write lock taken).

    The batch is let go when ``fork`` begins (``release_at="before"``: the
    fork may wait for it) or only once the parent is back from ``fork``
    (``"parent"``: the fork cannot wait for it).
    """

    current: HeldWrite | None = None

    def __init__(self, db, release_at):
        self.release_at = release_at
        self.pid = os.getpid()
        self.inside = threading.Event()
        self.release = threading.Event()
        memory = _state.store_files[os.path.realpath(db)]
        advance = memory.advance  # called in the batch's transaction, after BEGIN IMMEDIATE

        def held(*args, **kwargs):
            if not self.inside.is_set():
                self.inside.set()
                self.release.wait(60)
            return advance(*args, **kwargs)

        memory.advance = held

    def __enter__(self):
        HeldWrite.current = self
        tick("held")  # the batch that is held
        assert self.inside.wait(30)
        return self

    def __exit__(self, *exc):
        HeldWrite.current = None
        self.release.set()

    @staticmethod
    def at(moment):
        held = HeldWrite.current
        if held is not None and held.release_at == moment and os.getpid() == held.pid:
            held.release.set()


def _before_fork():
    HeldWrite.at("before")


def _after_fork_in_parent():
    HeldWrite.at("parent")


# Registered after the store's fork hooks (sqlite_backend, imported above): Python runs
# `before` hooks in reverse order of registration, so this one runs first.
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)


def fork_held(db, release_at, child_life):
    with HeldWrite(db, release_at):
        pid = os.fork()
        if pid == 0:
            child_life()
    return pid


def test_a_fork_inside_a_write_waits_for_its_commit_and_the_child_writes(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.01)
    pid = fork_held(db, "before", lambda: trace_in_child(0))
    (code,) = wait_all([pid])
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == every([0])
    assert len(parent) == 1  # the held batch, once
    assert code == 0


def test_a_writer_stuck_past_the_bound_delays_fork_no_longer_and_the_child_counts_its_loss(
    tmp_path,
):
    db = tmp_path / "t.db"
    # The fork waits for a write at most the backend's busy timeout (here 0.2 s).
    tracekit.init(SqliteBackend(db, busy_timeout_s=0.2), export_interval=0.01)
    r, w = os.pipe()

    def child_life():
        code = 1
        try:
            messages = []
            handler = logging.Handler()
            handler.emit = lambda record: messages.append(record.getMessage())
            logging.getLogger("tracekit").addHandler(handler)
            for n in range(SPANS):
                child_work(0, n)
            flushed = tracekit.flush(timeout=30)
            stats = tracekit.stats()
            os.write(w, json.dumps([flushed, stats["dropped"], messages]).encode())
            code = 0
        finally:
            os._exit(code)

    pid = fork_held(db, "parent", child_life)
    os.close(w)
    with os.fdopen(r) as f:
        flushed, dropped, messages = json.loads(f.read())
    assert wait_all([pid]) == [0]
    # The child could not write (the lock it inherited is never released in it) and
    # says so: every span counted as dropped, and why in the log.
    assert dropped["backend_error"] == SPANS
    assert any("forked" in m for m in messages), messages
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == []
    assert len(parent) == 1
    assert integrity(db) == [("ok",)]


# -- what the child inherits between writes -------------------------------------------------


def test_a_child_keeps_writing_after_its_parent_closed_the_store(tmp_path):
    """The parent's connection, even idle, must not be inherited.

    The child's connection would share the parent's lock state, so the child
    would hold no lock of its own on the file: the parent's last close then
    checkpoints and deletes the WAL the child still writes into.
    """
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.01)
    tick("before fork")
    assert tracekit.flush(timeout=30) is True  # the parent's connection is open, idle
    first, closed = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child_work(0, 0)
            ok = tracekit.flush(timeout=30)
            os.write(first[1], b"x")
            os.read(closed[0], 1)  # the parent has shut down (its connection closed)
            for n in range(1, SPANS):
                child_work(0, n)
            code = 0 if ok and tracekit.flush(timeout=30) else 2
        finally:
            os._exit(code)
    os.read(first[0], 1)
    tracekit.shutdown()
    os.write(closed[1], b"x")
    assert wait_all([pid]) == [0]
    children, parent = stored(db)
    assert children == every([0])
    assert len(parent) == 1


def test_a_store_reader_open_in_the_parent_does_not_stop_the_child_writing(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.001)
    tick("first")
    assert tracekit.flush(timeout=30) is True
    with Store(db) as reader, Producer():
        assert reader.list_traces(limit=1).traces  # a read connection, used, open
        codes = fork_children()
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == every(range(CHILDREN))
    assert len(parent) == len(set(parent))
    assert codes == [0] * CHILDREN


def test_the_child_starts_with_fresh_writer_state(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.01)
    with tracekit.span("open at fork"):
        tick("before fork")
        assert tracekit.flush(timeout=30) is True
        parent_memory = _state.store_files[os.path.realpath(db)]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child_work(0, 0)
                ok = tracekit.flush(timeout=30)
                memory = _state.store_files[os.path.realpath(db)]
                fresh = memory is not parent_memory and not memory.lock.locked()
                os.write(w, json.dumps([ok, fresh, len(_state.inherited_connections)]).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r) as f:
            assert json.loads(f.read()) == [True, True, 0]
        assert wait_all([pid]) == [0]
    assert tracekit.flush(timeout=30) is True
    children, parent = stored(db)
    assert children == [(0, 0)]
    assert len(parent) == len(set(parent)) == 2  # "before fork" and "open at fork", once


def test_a_fork_from_inside_a_write_does_not_wait_for_itself(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db, busy_timeout_s=3600)  # a wait for itself would hang the test
    forked = []
    key = os.path.realpath(db)

    memory = backend._started
    advance = memory.advance

    def advance_and_fork(*args, **kwargs):
        result = advance(*args, **kwargs)
        if not forked:
            pid = os.fork()
            if pid == 0:  # the child knows the fork did not wait for that write
                os._exit(0 if _state.fork_unsafe == {key} else 3)
            forked.append(pid)
        return result

    memory.advance = advance_and_fork
    backend.export([record("1")])
    assert wait_all(forked) == [0]
    backend.export([record("2")])  # the parent's writer goes on
    backend.shutdown()
    with Store(db) as s:
        assert len(list(s.iter_records())) == 2


def record(span):
    return empty_record(
        trace_id=span.ljust(32, "0"),
        span_id=span.ljust(16, "0"),
        name="work",
        project="default",
        start_ns=1,
        end_ns=2,
    )


@pytest.fixture(autouse=True)
def _no_stale_hold():
    yield
    HeldWrite.current = None
