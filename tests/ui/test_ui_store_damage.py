"""The web UI over a store it may only read, or one that is damaged.

The UI reads through a read-only connection and opens a write connection
only for a delete: a store in a read-only file or folder is browsed as
usual, and its Delete is refused with a 403 that says why (not a 500).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from playwright.sync_api import expect
from ui_helpers import rec, research_trace, tid, write

from tracekit.cli import main

SAME_ORIGIN = {"Origin": "http://127.0.0.1:7842", "Sec-Fetch-Site": "same-origin"}


def client_for(db):
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    return TestClient(create_app(db, port=7842), base_url="http://127.0.0.1:7842")


def files(db):
    """The database file and its write-ahead log (none and empty alike), as bytes."""
    wal = pathlib.Path(db + "-wal")
    return pathlib.Path(db).read_bytes(), wal.read_bytes() if wal.exists() else b""


@pytest.fixture
def two_traces(db):
    write(db, research_trace(1) + [rec(2, 0, None, name="second")])
    return db


def browse_and_refuse_delete(client, db):
    """Every read answers; the delete is a 403 naming the read-only part; nothing changed."""
    before = files(db)
    assert [t["trace_id"] for t in client.get("/api/traces").json()["traces"]] == [tid(2), tid(1)]
    assert client.get("/api/projects").json() == {"projects": ["default"]}
    trace = client.get(f"/api/traces/{tid(1)}").json()
    span_id = trace["spans"][0]["span_id"]
    assert client.get(f"/api/traces/{tid(1)}/spans/{span_id}").status_code == 200
    assert client.get(f"/api/traces/{tid(1)}/architecture").status_code == 200
    response = client.delete(f"/api/traces/{tid(2)}", headers=SAME_ORIGIN)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert "read-only for this user" in message
    assert "can be read but not deleted" in message
    assert client.get(f"/api/traces/{tid(2)}").status_code == 200
    assert files(db) == before
    return message


def test_a_read_only_store_file_is_browsed_and_delete_says_why_not(two_traces, read_only):
    read_only(two_traces)
    message = browse_and_refuse_delete(client_for(two_traces), two_traces)
    assert f"the file {two_traces} is read-only" in message


def test_a_store_in_a_read_only_folder_is_browsed_and_delete_says_why_not(two_traces, read_only):
    folder = os.path.dirname(two_traces)
    assert os.listdir(folder) == ["traces.db"]  # closed cleanly: no -wal, no -shm
    read_only(folder)
    message = browse_and_refuse_delete(client_for(two_traces), two_traces)
    assert f"its folder {folder} is read-only" in message
    assert os.listdir(folder) == ["traces.db"]  # nothing created beside it


DIES_AFTER_WRITING = """
    import os, sys, tracekit
    tracekit.init("sqlite:///" + sys.argv[1])
    with tracekit.span("written then killed", kind="AGENT"):
        pass
    assert tracekit.flush()
    os._exit(0)  # no shutdown: the trace stays in the write-ahead log, not in the file
"""


def test_browsing_never_writes_the_store_and_delete_uses_its_own_connection(tmp_path):
    db = str(tmp_path / "traces.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)
    argv = [sys.executable, "-c", textwrap.dedent(DIES_AFTER_WRITING), db]
    subprocess.run(argv, cwd=tmp_path, env=env, check=True, timeout=60)
    before = files(db)
    client = client_for(db)
    (row,) = client.get("/api/traces").json()["traces"]
    assert row["root_name"] == "written then killed"
    assert client.get(f"/api/traces/{row['trace_id']}").status_code == 200
    # Each request closed the last connection to the store: a writable one would have
    # copied the log into the file (a checkpoint) and deleted the log.
    assert files(db) == before
    response = client.delete(f"/api/traces/{row['trace_id']}", headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert client.get("/api/traces").json()["traces"] == []


def overwrite_spans(db):
    """Garble the root page of the spans table (the trace table stays readable)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        query = "SELECT rootpage FROM sqlite_master WHERE name = 'spans'"
        (root,) = conn.execute(query).fetchone()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xfe" * page_size)


def test_a_damaged_store_lists_what_it_can_and_says_it_is_damaged(two_traces):
    overwrite_spans(two_traces)
    before = files(two_traces)
    client = client_for(two_traces)
    assert client.get("/api/traces").status_code == 200
    response = client.get(f"/api/traces/{tid(1)}")
    assert response.status_code == 503
    assert "is damaged (database disk image is malformed)" in response.json()["error"]
    assert "Move it aside" in response.json()["error"]
    assert files(two_traces) == before


@pytest.mark.parametrize("damage", ["newer", "truncated"])
def test_tracekit_ui_refuses_such_a_store_in_one_line(two_traces, capsys, damage):
    if damage == "newer":
        with contextlib.closing(sqlite3.connect(two_traces)) as conn, conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    else:
        os.truncate(two_traces, os.path.getsize(two_traces) // 2)
    assert main(["ui", "--db", two_traces, "--port", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert ("upgrade tracekit" if damage == "newer" else "is damaged") in err


# -- in the browser ---------------------------------------------------------------------


def test_the_page_shows_why_a_read_only_store_cannot_delete(two_traces, read_only, serve, browse):
    read_only(two_traces)
    page, watch = browse(serve(two_traces).url + f"#/trace/{tid(2)}")
    page.locator("button.delete").wait_for()
    watch.accept_dialogs = True
    page.click("button.delete")
    expect(page.locator("#banner")).to_contain_text("is read-only for this user")
    expect(page.locator(".label-row", has_text="second")).to_be_visible()  # still there
    assert page.evaluate("window.__csp") == []
    assert watch.off_loopback() == []


def test_the_page_says_a_trace_cannot_be_read_from_a_damaged_store(two_traces, serve, browse):
    server = serve(two_traces)
    overwrite_spans(two_traces)
    page, watch = browse(server.url + f"#/trace/{tid(1)}")
    expect(page.locator("#banner")).to_contain_text("is damaged")
    assert page.evaluate("window.__csp") == []
    assert watch.off_loopback() == []
