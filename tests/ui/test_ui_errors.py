"""The API's refusals and failures: running traces, out-of-range values, internal errors."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from ui_helpers import rec, start, tid, write

SAME_ORIGIN = {"Origin": "http://127.0.0.1:7842", "Sec-Fetch-Site": "same-origin"}
DEAD_PID = 2**22 + 12345  # above pid_max's default: no such process


def client_for(db):
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    return TestClient(create_app(db, port=7842), base_url="http://127.0.0.1:7842")


def running_trace(db, n, *, failed_child=False):
    """Trace ``n``: a root still open in this (live) process, a finished or failed child."""
    t0 = start(n)
    root = rec(n, 0, None, name="agent", start_ns=t0, end_ns=None, status="RUNNING")
    child = rec(n, 1, 0, name="step", start_ns=t0 + 1000, end_ns=t0 + 2000)
    if failed_child:
        child.update(status="ERROR", error={"type": "ValueError", "message": "bad"})
    write(db, [child], started=[root])


@pytest.mark.parametrize("failed_child", [False, True])
def test_deleting_a_running_trace_is_refused_with_409(db, failed_child):
    running_trace(db, 3, failed_child=failed_child)
    client = client_for(db)
    row = client.get(f"/api/traces/{tid(3)}").json()["trace"]
    assert row["status"] == ("ERROR" if failed_child else "RUNNING")  # open either way
    response = client.delete(f"/api/traces/{tid(3)}", headers=SAME_ORIGIN)
    assert response.status_code == 409
    assert "still running" in response.json()["error"]
    assert client.get(f"/api/traces/{tid(3)}").status_code == 200  # nothing deleted


def test_a_trace_whose_process_died_can_be_deleted(db):
    running_trace(db, 4, failed_child=True)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE spans SET pid = ? WHERE trace_id = ?", (DEAD_PID, tid(4)))
        conn.execute("UPDATE traces SET pid = ? WHERE trace_id = ?", (DEAD_PID, tid(4)))
    client = client_for(db)
    response = client.delete(f"/api/traces/{tid(4)}", headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert client.get(f"/api/traces/{tid(4)}").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"since": "99999999999999999999"},  # digits: nanoseconds past 2262
        {"until": "9223372036854775808"},  # 2**63
        {"since": "99999999999d"},
        {"since": "9" * 400 + "d"},  # beyond a float
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "9999-12-31"},
    ],
)
def test_times_out_of_range_are_a_400(client, query):
    response = client.get("/api/traces", params=query)
    assert response.status_code == 400
    assert "out of range" in response.json()["error"]


def test_a_cursor_out_of_range_is_a_400(client):
    response = client.get("/api/traces", params={"cursor": f"{'9' * 30}:{tid(1)}"})
    assert response.status_code == 400
    assert "bad cursor" in response.json()["error"]


def test_an_internal_error_is_a_json_500_with_the_headers_logged_once(client, monkeypatch, caplog):
    from tracekit.store import Store
    from tracekit.ui._security import CSP

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug in a store method")

    # The one way to reach the catch-all: every failure the store documents is mapped.
    monkeypatch.setattr(Store, "list_traces", broken)
    with caplog.at_level(logging.ERROR, logger="tracekit"):
        response = client.get("/api/traces")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "a bug in a store method" not in response.text
    logged = [r for r in caplog.records if r.name == "tracekit"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "a bug in a store method" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/static/nope.js", 404), ("PUT", "/api/traces", 405)],
)
def test_framework_errors_are_json_too(client, method, path, status):
    response = client.request(method, path, headers=SAME_ORIGIN)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str)


def test_refusals_are_json(client):
    response = client.get("/api/traces", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "Host" in response.json()["error"]
    response = client.delete(f"/api/traces/{tid(1)}", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert "cross-origin" in response.json()["error"]
