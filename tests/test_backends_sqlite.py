"""The sqlite backend: URLs, private files, WAL, crashes, concurrent writers, full disk, usage."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import tracekit
from tracekit import _record
from tracekit._record import RECORD_KEYS
from tracekit._schema import SCHEMA_VERSION, SchemaTooNew
from tracekit.backends import SqliteBackend, StorageFull, from_url
from tracekit.store import Store, StoreError, StoreNotFound

FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"


def rec(span, trace="1", **fields):
    """A finished span record as the pipeline hands it to backends."""
    values = (trace.ljust(32, "0"), span.ljust(16, "0"), None, "step", "CHAIN", "default",
              1_000, 2_000, "OK", None, {}, {}, None, None, {}, [])  # fmt: skip
    return {**dict(zip(RECORD_KEYS, values, strict=True)), **fields}


def write(db, records, **options):
    backend = SqliteBackend(db, **options)
    try:
        backend.export(records)
    finally:
        backend.shutdown()


def sql(db, query):
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        return conn.execute(query).fetchall()


def integrity(db):
    return sql(db, "PRAGMA integrity_check")


def span_count(db):
    return sql(db, "SELECT count(*) FROM spans")[0][0]


@tracekit.tool
def work(i=0):
    return i


def traced_once(url):
    tracekit.init(url)
    work(1)
    assert tracekit.flush() is True


# -- URLs and files -------------------------------------------------------------------


def test_url_paths_relative_to_the_working_directory_or_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    traced_once("sqlite:///rel/t.db")
    assert (tmp_path / "rel" / "t.db").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert str(tmp_path).startswith("/")  # so the URL below has four slashes
    traced_once(f"sqlite:///{tmp_path}/abs/t.db?synchronous=FULL")
    with Store(tmp_path / "abs" / "t.db") as s:
        (t,) = s.list_traces().traces
        assert [r["inputs"] for r in s.get_trace(t.trace_id)] == [{"i": 1}]
    assert os.listdir(elsewhere) == []


@pytest.mark.parametrize(
    "query", "?color=blue ?synchronous=OFF ?max_size_mb=big ?max_size_mb=0".split()
)
def test_bad_url_options_are_value_errors_at_init(tmp_path, query):
    with pytest.raises(ValueError):
        tracekit.init(f"sqlite:///{tmp_path}/t.db{query}")


def test_a_private_folder_ignored_by_git_created_on_first_export_in_wal_mode(tmp_path):
    folder = tmp_path / "store"
    db = folder / "t.db"
    old = os.umask(0)  # modes are set, not left to the umask
    try:
        tracekit.init(f"sqlite:///{db}")
        assert not folder.exists()  # init alone creates nothing
        work(1)
        assert tracekit.flush() is True
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert "*" in (folder / ".gitignore").read_text().splitlines()
    files = [p for p in folder.iterdir() if p.name.startswith("t.db")]
    assert {p.name for p in files} == {"t.db", "t.db-wal", "t.db-shm"}  # open in WAL mode
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert sql(db, "PRAGMA journal_mode") == [("wal",)]
    assert sql(db, "SELECT key, value FROM meta") == [("schema_version", str(SCHEMA_VERSION))]


def test_a_store_in_an_existing_folder_leaves_that_folder_alone(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    traced_once(f"sqlite:///{project}/traces.db")
    assert [p.name for p in project.iterdir() if not p.name.startswith("traces.db")] == ["app.py"]


@pytest.mark.parametrize(("query", "level"), [("", 1), ("?synchronous=FULL", 2)])
def test_synchronous_is_normal_by_default_and_full_when_asked(tmp_path, query, level):
    backend = from_url(f"sqlite:///{tmp_path}/t.db{query}")
    try:
        backend.export([rec("1")])
        assert backend._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        backend.shutdown()


# -- subprocess writers ---------------------------------------------------------------


class Child:
    """A Python subprocess whose stdout lines a thread reads, each awaited with a timeout."""

    def __init__(self, code, tmp_path, *args):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        env.pop("TRACEKIT_BACKEND", None)
        self.stderr = tmp_path / f"stderr-{id(self)}.txt"
        with open(self.stderr, "w") as err:
            argv = [sys.executable, "-c", textwrap.dedent(code), *map(str, args)]
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True, cwd=tmp_path, env=env)  # fmt: skip
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout=60.0):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from the child in {timeout} s") from None
        if line is None:
            code = self.proc.wait(timeout=30)
            raise AssertionError(f"child exited ({code}): {self.stderr.read_text()}")
        return line

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        self.proc.stdin.close()


@pytest.fixture
def spawn(tmp_path):
    children = []
    yield lambda code, *args: children.append(Child(code, tmp_path, *args)) or children[-1]
    for child in children:
        child.kill()


def running(db, trace_id):
    """Whether the store lists the trace with a span started and not ended."""
    try:
        with Store(db) as s:
            return trace_id in {t.trace_id for t in s.list_traces(status="RUNNING").traces}
    except StoreNotFound:
        return False


LONG_RUNNING_WRITER = """
    import sys, tracekit
    tracekit.init("sqlite:///" + sys.argv[1], export_interval=0.05)
    n = 0
    with tracekit.span("long-running agent", kind="AGENT"):
        print(tracekit.current_trace_id(), flush=True)
        while True:
            for _ in range(10):
                with tracekit.span("step", kind="TOOL", inputs={"i": n}):
                    pass
                n += 1
            if tracekit.flush():
                print(n, flush=True)
"""


def test_a_killed_writer_leaves_a_sound_store_with_its_open_span_unfinished(tmp_path, spawn):
    db = tmp_path / "t.db"
    runs = {}  # trace id -> spans its writer reported flushed before it was killed
    for _ in range(3):
        child = spawn(LONG_RUNNING_WRITER, db)
        trace_id = child.line()
        flushed, announced = 0, False
        for _ in range(5_000):  # a line per 10 spans: the root is announced long before
            flushed = int(child.line())
            announced = announced or running(db, trace_id)
            if announced and flushed >= 50:
                break
        else:
            raise AssertionError(f"the open span was not stored as started ({flushed} flushed)")
        child.kill()
        runs[trace_id] = flushed
        assert integrity(db) == [("ok",)]
        with Store(db) as s:
            summaries = {t.trace_id: t for t in s.list_traces().traces}
            assert set(summaries) == set(runs)
            for tid, at_least in runs.items():  # this run's trace and the earlier ones
                t = summaries[tid]
                assert (t.status, t.end_ns, t.root_name) == (
                    "UNFINISHED",
                    None,
                    "long-running agent",
                )
                records = s.get_trace(tid)
                assert t.span_count == len(records)
                (root,) = [r for r in records if r["parent_id"] is None]
                assert (root["status"], root["end_ns"]) == ("UNFINISHED", None)
                steps = sorted(r["inputs"]["i"] for r in records if r["name"] == "step")
                assert len(steps) >= at_least
                assert steps == list(range(len(steps)))  # whole batches, each once


CONCURRENT_WRITER = """
    import json, sys, tracekit
    tracekit.init("sqlite:///" + sys.argv[1], batch_size=50)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(2000):
        with tracekit.span(f"{sys.argv[2]}-{i}"):
            pass
    flushed = tracekit.flush(timeout=60)
    stats = tracekit.stats()
    print(json.dumps({"flushed": flushed, "shutdown": tracekit.shutdown(), "stats": stats}))
"""


def test_two_processes_write_one_store_at_once_and_lose_nothing(tmp_path, spawn):
    db = tmp_path / "shared.db"
    write(db, [rec("1", name="first run")])  # created before (see the xfail test below)
    writers = [spawn(CONCURRENT_WRITER, db, side) for side in ("left", "right")]
    for writer in writers:
        assert writer.line() == "ready"
    for writer in writers:
        writer.proc.stdin.write("go\n")
        writer.proc.stdin.flush()
    for writer in writers:
        result = json.loads(writer.line(timeout=90))
        assert (result["flushed"], result["shutdown"]) == (True, True)
        assert result["stats"]["exported"] == 2000
        assert set(result["stats"]["dropped"].values()) == {0}
        assert writer.proc.wait(timeout=30) == 0
    assert integrity(db) == [("ok",)]
    with Store(db) as s:
        names = [r["name"] for r in s.iter_records()]
    expected = {f"{side}-{i}" for side in ("left", "right") for i in range(2000)}
    assert len(names) == 4001
    assert set(names) == expected | {"first run"}
    assert sql(db, "SELECT count(*), sum(span_count) FROM traces") == [(4001, 4001)]


def test_a_writer_that_meets_a_locked_store_while_creating_it_loses_no_batch(tmp_path, monkeypatch):
    connect = sqlite3.connect

    class Contended(sqlite3.Connection):
        locked = False

        def execute(self, statement, *args):
            if "journal_mode" in statement.lower() and not Contended.locked:
                Contended.locked = True  # what the other creator's lock produces
                raise sqlite3.OperationalError("database is locked")
            return super().execute(statement, *args)

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: connect(*a, factory=Contended, **k))
    try:
        write(tmp_path / "t.db", [rec("1")])
    finally:
        monkeypatch.undo()
    assert span_count(tmp_path / "t.db") == 1


TRIPLE_WRITER = """
    import sys, tracekit
    tracekit.init("sqlite:///" + sys.argv[1], export_interval=3600)

    @tracekit.llm
    def ask(prompt):
        tracekit.current_span().set_usage(prompt_tokens=len(prompt), completion_tokens=1)
        return prompt.upper()

    @tracekit.agent
    def agent(n):
        ask("a" * (n % 7 + 1))
        ask("b" * (n % 5 + 1))

    n = 0
    while True:
        agent(n)
        n += 1
        if tracekit.flush():
            print(n, flush=True)
"""


def test_a_reader_sees_only_whole_traces_while_a_writer_writes(tmp_path, spawn):
    db = tmp_path / "t.db"
    writer = spawn(TRIPLE_WRITER, db)
    progress = [int(writer.line())]  # the store exists once a batch is committed
    seen = set()
    with Store(db) as s:
        for _ in range(60):
            for t in s.list_traces(limit=20).traces:
                records = s.get_trace(t.trace_id)
                assert [r["name"] for r in records] == ["agent", "ask", "ask"]
                assert t.span_count == 3
                assert t.total_tokens == sum(r["usage"]["total_tokens"] for r in records[1:])
                assert t.start_ns == min(r["start_ns"] for r in records)
                assert t.end_ns == max(r["end_ns"] for r in records)
                assert (t.status, t.root_name, t.root_kind) == ("OK", "agent", "AGENT")
                seen.add(t.trace_id)
            progress.append(int(writer.line()))  # the writer went on meanwhile
    writer.kill()
    assert progress == sorted(progress)
    assert progress[-1] > progress[0]
    assert len(seen) >= 20


# -- a full disk ------------------------------------------------------------------------


def test_a_full_store_drops_and_counts_without_breaking_the_app_or_the_store(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}?max_size_mb=0.5", export_interval=3600)
    ok_flushes = 0
    for i in range(200):  # 4 MB in all
        for j in range(10):
            with tracekit.span("fill", inputs={"text": f"{i}-{j} " + "x" * 2048}):
                pass
        ok_flushes += tracekit.flush()
    stats = tracekit.stats()
    assert stats["dropped"]["storage_full"] > 0
    assert stats["exported"] + stats["dropped"]["storage_full"] == 2000  # nothing else lost
    assert stats["exported"] >= ok_flushes * 10 > 0
    assert integrity(db) == [("ok",)]
    with Store(db) as s:
        page = s.list_traces(limit=1000)
        assert len(page.traces) == stats["exported"] == span_count(db)
        assert s.get_trace(page.traces[-1].trace_id)[0]["inputs"]["text"].startswith("0-0 ")


def test_the_backend_raises_storage_full_past_its_size_cap(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db, max_size_mb=0.5)
    stored = 0
    with pytest.raises(StorageFull):  # noqa: PT012
        for i in range(1_000):  # 4 MB in all
            backend.export([rec(f"{i:x}", f"{i:x}", inputs={"x": "y" * 4096})])
            stored += 1
    backend.shutdown()
    assert issubclass(StorageFull, OSError)
    assert 0 < stored == span_count(db)
    assert integrity(db) == [("ok",)]
    for bad in (0, -1):
        with pytest.raises(ValueError):
            SqliteBackend(db, max_size_mb=bad)


# -- usage ------------------------------------------------------------------------------


@tracekit.llm
def client_call(prompt):
    tracekit.current_span().set_usage(prompt_tokens=10, completion_tokens=5)
    return "answer"


@tracekit.llm
def framework_call(prompt, flush_between=False):
    out = client_call(prompt)
    if flush_between:
        tracekit.flush()  # the inner span arrives in an earlier batch than the outer one
    tracekit.current_span().set_usage(prompt_tokens=10, completion_tokens=5)
    return out


def test_usage_reported_by_nested_llm_spans_is_counted_once(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}")
    for flush_between in (False, True):
        with tracekit.span("nested", kind="AGENT"):
            framework_call("q", flush_between)
    with tracekit.span("siblings", kind="AGENT"):
        client_call("a")
        client_call("b")
    assert tracekit.flush() is True
    with Store(db) as s:
        traces = s.list_traces().traces
        totals = [(t.root_name, t.total_tokens) for t in traces]
        records = s.get_trace(traces[1].trace_id)
    assert totals == [("siblings", 30), ("nested", 15), ("nested", 15)]
    usages = [r["usage"]["total_tokens"] for r in records if r["kind"] == "LLM"]
    assert usages == [15, 15]  # each record keeps the usage it reported


def test_a_child_with_usage_arriving_after_its_parent_takes_the_tokens_from_it(tmp_path):
    # The review's case: a parent LLM span (10 tokens) stored before its child LLM span (10)
    db = tmp_path / "t.db"
    usage = {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    parent = rec("1", kind="LLM", usage=usage)
    child = rec("2", kind="LLM", usage=usage, parent_id="1".ljust(16, "0"), start_ns=1_500)
    backend = SqliteBackend(db)
    backend.export([parent])
    assert sql(db, "SELECT total_tokens FROM traces") == [(10,)]
    backend.export([child])
    backend.shutdown()
    assert sql(db, "SELECT total_tokens FROM traces") == [(10,)]
    assert sql(db, "SELECT span_id, total_tokens FROM spans ORDER BY span_id") == [
        ("1".ljust(16, "0"), None),  # the parent's tokens are corrected: the child owns them
        ("2".ljust(16, "0"), 10),
    ]


def llm(span, parent=None, tokens=None, trace="1", at=1_000):
    usage = None if tokens is None else {"total_tokens": tokens}
    return rec(span, trace, parent_id=parent and parent.ljust(16, "0"), start_ns=at, usage=usage)


def owners(db):
    return dict(sql(db, "SELECT span_id, total_tokens FROM spans WHERE total_tokens IS NOT NULL"))


def test_the_writers_memory_is_bounded_and_a_forgotten_trace_is_read_back(tmp_path, monkeypatch):
    from tracekit.backends import _sqlite_tokens as sqlite_backend

    monkeypatch.setattr(sqlite_backend, "_MEMORY", 50)
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    backend.export([llm("1", "0", trace="a")])  # "0" is not stored yet...
    backend.export([llm("2", "1", tokens=4, trace="a")])
    for n in range(100):  # ...when enough other traces are written for "a" to be forgotten
        backend.export([llm("1", trace=f"{n:x}f"), llm("2", "1", tokens=1, trace=f"{n:x}f")])
    memory = backend._started
    assert memory.size <= 50
    assert "a".ljust(32, "0") not in memory.traces
    backend.export([llm("0", tokens=9, trace="a", at=0)])  # the wrapper, with the same usage
    backend.shutdown()
    with Store(db) as s:
        (row,) = [t for t in s.list_traces(limit=200).traces if t.trace_id == "a".ljust(32, "0")]
        assert row.total_tokens == 4  # read back: "0" and "1" have usage below, "2" owns it


def test_a_late_child_corrects_an_ended_owner_with_one_update_not_a_recount(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    backend.export([llm("1", tokens=5)])  # the wrapper ended first and owns its usage
    statements = []
    backend._connect().set_trace_callback(statements.append)
    backend.export([llm("2", "1", tokens=5)])  # the client's span below it
    backend.shutdown()
    assert not [q for q in statements if "json_extract" in q or "SELECT rowid" in q]
    assert owners(db) == {"2".ljust(16, "0"): 5}
    assert sql(db, "SELECT total_tokens FROM traces") == [(5,)]


def test_batches_in_any_usual_order_are_worked_out_without_reading_the_trace_back(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    statements = []
    backend._connect().set_trace_callback(statements.append)
    backend.export([llm("2", "1", tokens=3), llm("3", "1")])  # children first, root last
    backend.export([llm("1", tokens=3, at=0)])
    backend.export_started([{**llm("4", "1"), "end_ns": None, "status": "RUNNING"}])
    backend.export([llm("5", "4", tokens=2), llm("4", "1")])  # a started span ends
    backend.shutdown()
    assert not [q for q in statements if "json_extract" in q or "SELECT rowid" in q]
    assert owners(db) == {"2".ljust(16, "0"): 3, "5".ljust(16, "0"): 2}
    assert sql(db, "SELECT total_tokens FROM traces") == [(5,)]


def test_a_loop_closed_across_batches_is_recounted_as_show_cuts_it(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    backend.export([llm("2", "1", tokens=3, at=2_000)])
    backend.export([llm("1", "2", tokens=4, at=1_000)])  # 1 <-> 2: cut at 1, the earliest
    backend.export([llm("3", "2", at=3_000)])
    backend.shutdown()
    with Store(db) as s:
        (row,) = s.list_traces().traces
        assert row.total_tokens == _record.owned_tokens(s.get_trace("1".ljust(32, "0"))) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_trace_written_by_a_forked_child_and_its_parent_counts_each_call_once(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    backend.export([llm("1", tokens=5, at=0)])  # the parent's wrapper, ended first
    pid = os.fork()
    if pid == 0:  # the child: the backend as the pipeline hands it over after a fork
        code = 1
        try:
            backend.after_fork()
            backend.export([llm("2", "1", tokens=5)])  # the call below it: it takes the 5
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    backend.export([llm("3", "1", tokens=4, at=2_000)])  # the parent's memory is stale
    backend.shutdown()
    assert owners(db) == {"2".ljust(16, "0"): 5, "3".ljust(16, "0"): 4}
    assert sql(db, "SELECT total_tokens FROM traces") == [(9,)]


def test_a_current_store_is_reopened_as_it_is_and_a_newer_one_refused(tmp_path):
    db = tmp_path / "t.db"
    write(db, [rec("1")])
    schema = sql(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    write(db, [rec("2", trace="2")])  # migrations find nothing to do
    assert sql(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema
    assert sql(db, "SELECT key, value FROM meta") == [("schema_version", str(SCHEMA_VERSION))]
    sql(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaTooNew, match="newer"):
        write(db, [rec("3", trace="3")])
    tracekit.init(f"sqlite:///{db}")
    work(1)
    assert tracekit.flush() is False
    dropped = tracekit.stats()["dropped"]
    assert (dropped["backend_error"], dropped["storage_full"]) == (1, 0)
    with pytest.raises(StoreError, match="newer"):
        Store(db)
    assert span_count(db) == 2


def test_every_export_into_a_newer_store_is_refused(tmp_path):
    db = tmp_path / "t.db"
    write(db, [rec("1")])
    sql(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    backend = SqliteBackend(db)
    try:
        for span in ("2", "3"):
            with pytest.raises(SchemaTooNew):
                backend.export([rec(span)])
    finally:
        backend.shutdown()
    assert span_count(db) == 1


# -- spans open across init() and fork() --------------------------------------------------


def test_a_span_open_across_init_is_stored_once_and_ends(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}")
    scope = tracekit.span("open across init")
    scope.__enter__()
    tracekit.init(f"sqlite:///{db}")  # the old pipeline stores the open span as started
    scope.__exit__(None, None, None)
    assert tracekit.flush() is True
    with Store(db) as s:
        (t,) = s.list_traces().traces
        records = s.get_trace(t.trace_id)
    assert [(r["name"], r["status"]) for r in records] == [("open across init", "OK")]
    assert (t.status, t.span_count) == ("OK", 1)


def fork_a_writer(db, trace_id):
    """Once the open span of ``trace_id`` is stored, fork a child that writes one span."""
    deadline = time.monotonic() + 20
    while not (tracekit.flush() and running(db, trace_id)):
        assert time.monotonic() < deadline, "the open span was never stored as started"
        time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            work("in child")
            code = 0 if tracekit.flush() else 2
        finally:
            tracekit._state.config.pipeline = None  # skip the inherited exit handlers' work
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def summary(db):
    with Store(db) as s:
        (t,) = s.list_traces().traces
        return t, s.get_trace(t.trace_id)


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_forked_child_writes_its_spans_through_its_own_connection(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.05)
    with tracekit.span("parent", kind="AGENT") as root:
        fork_a_writer(db, root.trace_id)
        work("in parent")
        assert tracekit.flush() is True
        assert summary(db)[0].status == "RUNNING"  # the parent is alive, its span open
    assert tracekit.flush() is True
    assert integrity(db) == [("ok",)]
    t, records = summary(db)
    assert (t.status, t.span_count) == ("OK", 3)
    assert sorted(r["inputs"]["i"] for r in records if r["name"] == "work") == [
        "in child",
        "in parent",
    ]


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_trace_stays_running_after_a_forked_child_that_wrote_to_it_exits(tmp_path):
    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", export_interval=0.05)
    with tracekit.span("parent", kind="AGENT") as root:
        fork_a_writer(db, root.trace_id)
        t, records = summary(db)
        assert [r["status"] for r in records if r["name"] == "parent"] == ["RUNNING"]
        assert t.status == "RUNNING"
