"""A store that is missing, foreign, damaged, too new or read-only, as its readers meet it.

Each case is a real file broken in a real way, read through ``tracekit.store``
and the command line (``tracekit ls`` / ``show``: exit status 1 and one line
on stderr that says what is wrong and what to do). A reader never changes
what it reads: the database file, and its write-ahead log, are byte for byte
what they were (SQLite may rebuild its ``-shm`` index, or create an empty
``-wal``, beside them: they hold no traces).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from tracekit._record import RECORD_KEYS
from tracekit.backends import SqliteBackend
from tracekit.cli import main
from tracekit.store import (
    NotAStore,
    Store,
    StoreDamaged,
    StoreError,
    StoreNotFound,
    StoreReadOnly,
)


def tid(n):
    return f"{n:032x}"


def rec(trace, span, parent=None, **fields):
    values = (tid(trace), f"{trace:08x}{span:08x}", parent and f"{trace:08x}{parent:08x}",
              f"step-{span}", "CHAIN", "default", 1_000 + trace, 2_000 + trace, "OK", None,
              {"question": f"q{trace}"}, {}, None, None, {}, [])  # fmt: skip
    return {**dict(zip(RECORD_KEYS, values, strict=True)), **fields}


def write(db, records):
    backend = SqliteBackend(db)
    try:
        backend.export(records)
    finally:
        backend.shutdown()  # checkpointed: every page is in the database file


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "traces.db"
    write(path, [rec(1, 1, 0), rec(1, 0), rec(2, 0)])
    return str(path)


def files(db):
    """The store's database file and write-ahead log (none and empty alike: b""), as bytes."""
    wal = pathlib.Path(db + "-wal")
    return pathlib.Path(db).read_bytes(), wal.read_bytes() if wal.exists() else b""


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, *argv):
    """Run ``tracekit ARGV``: it fails with status 1 and one line on stderr; that line."""
    status, out, err = run(capsys, *argv)
    assert (status, out) == (1, ""), err
    assert err.startswith("tracekit: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def refused(path, error, *texts):
    """``Store(path)`` raises ``error`` whose message holds every one of ``texts``."""
    with pytest.raises(error) as info:
        Store(path)
    for text in texts:
        assert text in str(info.value)
    return str(info.value)


# -- no store, or not a store -----------------------------------------------------------


def test_a_missing_file_says_how_a_store_is_made_and_none_is_created(tmp_path, capsys):
    missing = str(tmp_path / "traces.db")
    refused(missing, StoreNotFound, f"no trace store at {missing}", "tracekit.init()",
            f"tracekit demo --db {missing}")  # fmt: skip
    for argv in (["ls"], ["show", "abc"]):
        assert "no trace store at" in one_line_error(capsys, "--db", missing, *argv)
    assert os.listdir(tmp_path) == []


def test_a_folder_names_the_file_to_give(tmp_path, capsys):
    err = one_line_error(capsys, "--db", str(tmp_path), "ls")
    assert "is a folder, not a trace store" in err
    assert os.path.join(str(tmp_path), "traces.db") in err


@pytest.mark.parametrize(
    "content",
    [os.urandom(20_000), b"meeting notes\n" * 500, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["random-bytes", "text", "damaged-header"],
)
def test_a_file_that_is_not_sqlite_is_not_a_store(tmp_path, capsys, content):
    path = tmp_path / "traces.db"
    path.write_bytes(content)
    refused(str(path), NotAStore, "is not a tracekit store", "not an SQLite database")
    assert "not an SQLite database" in one_line_error(capsys, "--db", str(path), "ls")
    assert os.listdir(tmp_path) == ["traces.db"]  # no -wal or -shm made beside it
    assert path.read_bytes() == content


def test_an_empty_file_holds_no_traces_yet(tmp_path, capsys):
    path = tmp_path / "traces.db"
    path.touch()
    refused(str(path), StoreNotFound, "holds no traces yet", "tracekit demo")
    assert "holds no traces yet" in one_line_error(capsys, "--db", str(path), "ls")
    assert path.read_bytes() == b""


def test_an_sqlite_database_of_something_else_names_its_tables(tmp_path, capsys):
    path = str(tmp_path / "app.db")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE users (id); CREATE TABLE orders (id); PRAGMA user_version=3"
        )
    before = files(path)
    refused(path, NotAStore, "is an SQLite database but not a tracekit store",
            "its tables: orders, users")  # fmt: skip
    assert "not a tracekit store" in one_line_error(capsys, "--db", path, "show", "ab")
    assert files(path) == before


def test_a_store_of_a_newer_tracekit_says_to_upgrade_and_is_left_alone(db, capsys):
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    before = files(db)
    message = refused(db, StoreError, "has schema 7, which is newer than this tracekit",
                      "upgrade tracekit")  # fmt: skip
    assert one_line_error(capsys, "--db", db, "ls") == f"tracekit: {message}\n"
    assert files(db) == before


# -- damaged -----------------------------------------------------------------------------


def test_a_truncated_store_is_damaged_and_left_as_it_is(db, capsys):
    os.truncate(db, os.path.getsize(db) // 2)
    before = files(db)
    refused(db, StoreDamaged, f"the trace store {db} is damaged (database disk image is malformed)",
            "Move it aside", "A damaged trace store")  # fmt: skip
    for argv in (["ls"], ["show", tid(1)], ["export"]):
        assert "is damaged" in one_line_error(capsys, "--db", db, *argv)
    assert files(db) == before


def overwrite_table(db, table):
    """Overwrite the root page of ``table`` with garbage, in the middle of the file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xfe" * page_size)


def test_overwritten_pages_fail_only_the_reads_that_need_them(db, capsys):
    overwrite_table(db, "spans")  # the trace table is intact: listing works
    before = files(db)
    with Store(db) as store:
        assert [t.trace_id for t in store.list_traces().traces] == [tid(2), tid(1)]
        with pytest.raises(StoreDamaged, match="database disk image is malformed"):
            store.get_trace(tid(1))
        with pytest.raises(StoreDamaged, match="is damaged"):
            list(store.iter_records())
    status, out, _ = run(capsys, "--db", db, "ls")
    assert status == 0
    assert tid(1)[:12] in out
    assert "is damaged" in one_line_error(capsys, "--db", db, "show", tid(1))
    assert "is damaged" in one_line_error(capsys, "--db", db, "export")
    assert files(db) == before


def test_a_record_whose_json_is_damaged_reads_as_a_placeholder(db, capsys):
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE spans SET record = '{\"trace_id\": ' WHERE span_id = ?",
                     (f"{1:08x}{1:08x}",))  # fmt: skip
    status, out, err = run(capsys, "--db", db, "show", tid(1))
    assert (status, err) == (0, "")
    assert "DamagedRecord" in out
    assert "step-1" in out  # the placeholder keeps the row's name and place


# -- the write-ahead log deleted --------------------------------------------------------

WRITER = """
    import sys, tracekit
    tracekit.init("sqlite:///" + sys.argv[1], export_interval=0.05)
    @tracekit.agent
    def agent(question):
        return "an answer"
    agent("before")
    assert tracekit.flush()
    print("stored", flush=True)
    sys.stdin.readline()
    agent("after")
    assert tracekit.flush()
    print("stored", flush=True)
    sys.stdin.readline()
    # exits normally: tracekit checkpoints its log into the store
"""


@pytest.fixture
def writer(tmp_path):
    """Start a traced program writing to a store; it waits for a line on stdin between steps."""
    started = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)

    def start(db):
        argv = [sys.executable, "-c", textwrap.dedent(WRITER), db]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                cwd=tmp_path, env=env)  # fmt: skip
        started.append(proc)
        assert proc.stdout.readline() == "stored\n"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def step(proc):
    proc.stdin.write("\n")
    proc.stdin.flush()
    return proc.stdout.readline()


def test_a_log_deleted_under_a_live_writer_says_so_and_the_writer_saves_its_traces(
    tmp_path, writer, capsys
):
    db = str(tmp_path / "traces.db")
    proc = writer(db)
    os.remove(db + "-wal")
    never = "never delete a store's -wal or -shm file"
    message = refused(db, StoreDamaged, f"write-ahead log {db}-wal is missing",
                      "Let it exit normally", never)  # fmt: skip
    assert one_line_error(capsys, "--db", db, "ls") == f"tracekit: {message}\n"
    assert step(proc) == "stored\n"  # it keeps writing, to the log it still has open
    assert "is missing" in one_line_error(capsys, "--db", db, "show", "ab")
    step(proc)
    assert proc.wait() == 0
    with Store(db) as store:  # as the message says: once it exits, every trace is there
        previews = [t.input_preview for t in store.list_traces().traces]
    assert previews == ['{"question": "after"}', '{"question": "before"}']


def test_a_log_deleted_after_its_writer_died_says_its_traces_are_lost(tmp_path, writer, capsys):
    db = str(tmp_path / "traces.db")
    proc = writer(db)
    proc.kill()  # never checkpointed: the trace is only in the log
    proc.wait()
    os.remove(db + "-wal")
    before = files(db)
    refused(db, StoreDamaged, f"write-ahead log {db}-wal is missing", "are lost",
            "new traces are stored as usual")  # fmt: skip
    assert files(db) == before
    # SQLite has rebuilt its index from the files that are left: an empty store, as it is now
    assert "holds no traces yet" in one_line_error(capsys, "--db", db, "ls")


# -- read-only files and folders ----------------------------------------------------------


def test_a_read_only_file_is_read_and_a_delete_says_why_it_cannot(db, read_only, capsys):
    read_only(db)
    before = files(db)
    with Store(db) as store:
        assert [t.trace_id for t in store.list_traces().traces] == [tid(2), tid(1)]
        assert len(store.get_trace(tid(1))) == 2
        with pytest.raises(StoreReadOnly, match=f"the file {db} is read-only for this user"):
            store.delete_trace(tid(1))
        assert [t.trace_id for t in store.list_traces().traces] == [tid(2), tid(1)]
    assert run(capsys, "--db", db, "ls")[0] == 0
    assert run(capsys, "--db", db, "show", tid(1))[0] == 0
    assert files(db) == before


def test_a_store_in_a_read_only_folder_is_read_without_creating_anything(db, read_only, capsys):
    folder = os.path.dirname(db)
    assert sorted(os.listdir(folder)) == ["traces.db"]  # closed cleanly: no -wal, no -shm
    read_only(folder)
    before = files(db)
    with Store(db) as store:
        assert [t.trace_id for t in store.list_traces().traces] == [tid(2), tid(1)]
        with pytest.raises(StoreReadOnly, match=f"its folder {folder} is read-only"):
            store.delete_trace(tid(2))
    status, out, _ = run(capsys, "--db", db, "show", tid(1))
    assert status == 0
    assert "step-1" in out
    assert sorted(os.listdir(folder)) == ["traces.db"]
    assert files(db) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_this_user_may_not_read(db, capsys):
    os.chmod(db, 0)
    try:
        assert "permission denied" in one_line_error(capsys, "--db", db, "ls")
    finally:
        os.chmod(db, 0o600)


# -- reading never writes -------------------------------------------------------------


def test_reading_a_store_whose_writer_died_leaves_its_files_as_they_are(tmp_path, writer):
    db = str(tmp_path / "traces.db")
    proc = writer(db)
    proc.kill()  # its trace is only in the log, not yet copied into the database file
    proc.wait()
    before = files(db)
    with Store(db) as store:  # the last connection to close: a writable one would checkpoint
        assert [t.input_preview for t in store.list_traces().traces] == ['{"question": "before"}']
    assert files(db) == before  # read through the log, not copied into the file


# -- the rescue the pitfalls page gives ------------------------------------------------


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs SQLite's sqlite3 tool")
def test_the_documented_rescue_keeps_what_is_readable(tmp_path, capsys):
    db = str(tmp_path / "traces.db")
    write(db, [rec(n, 0, inputs={"text": f"{n} " * 2000}) for n in range(1, 101)])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        try:
            leaves = conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'spans' AND pagetype = 'leaf'"
            ).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table to find a page of spans with")
    with open(db, "r+b") as f:  # one page of spans, in the middle of the file
        f.seek((leaves[len(leaves) // 2][0] - 1) * page_size)
        f.write(b"\xfe" * page_size)
    status, out, err = run(capsys, "--db", db, "export")  # the records up to the damage
    assert (status, err.count("\n")) == (1, 1)
    assert "is damaged" in err
    assert 0 < out.count("\n") < 100
    rescued = str(tmp_path / "rescued.db")
    # sqlite3 traces.db .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 rescued.db
    dump = subprocess.run(["sqlite3", db, ".dump"], capture_output=True, text=True, check=True)
    assert dump.stdout.endswith("ROLLBACK; -- due to errors\n")
    script = dump.stdout.replace("ROLLBACK; -- due to errors\n", "COMMIT;\n")
    subprocess.run(["sqlite3", rescued], input=script, text=True, check=True)
    with Store(rescued) as store:
        kept = list(store.iter_records())
    assert 50 < len(kept) < 100  # all but the spans of the damaged page
    status, out, _ = run(capsys, "--db", rescued, "show", kept[0]["trace_id"])
    assert status == 0
    assert "step-0" in out
