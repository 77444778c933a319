"""The web UI's JSON API (docs/ui.md): the trace table, one trace, architecture, delete."""

from __future__ import annotations

import os

import pytest
from ui_helpers import GRAPH, rec, research_trace, sid, start, tid, write

SAME_ORIGIN = {"Origin": "http://127.0.0.1:7842", "Sec-Fetch-Site": "same-origin"}


def test_traces_page_newest_first_with_aggregates(client):
    response = client.get("/api/traces")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert [t["trace_id"] for t in body["traces"]] == [tid(2), tid(1)]
    research = body["traces"][1]
    assert research == {
        "trace_id": tid(1),
        "project": "default",
        "root_name": "research-agent",
        "root_kind": "AGENT",
        "start_ns": start(1),
        "end_ns": start(1) + 100_000_000,
        "duration_ns": 100_000_000,
        "span_count": 6,
        "error_count": 1,
        "total_tokens": 42,
        "status": "ERROR",
        "input_preview": '{"question": "How old is Google?"}',
        "output_preview": "Google is 28 years old.",
        "lost_count": 0,
    }
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "careful researcher"}, [1]),
        ({"q": "CAREFUL"}, [1]),
        ({"q": "50%"}, []),  # literal, not a wildcard
        ({"status": "ERROR"}, [1]),
        ({"status": "ok"}, [2]),
        ({"kind": "EMBEDDING"}, [1]),
        ({"project": "graphs"}, [2]),
        ({"since": str(start(2))}, [2]),
        ({"until": str(start(2))}, [1]),
        ({"since": "2026-11-18T00:00:00Z", "until": "2026-11-19T00:00:00Z"}, [2, 1]),
        ({"since": "15m"}, []),
        ({"sort": "tokens"}, [1, 2]),
    ],
)
def test_traces_filters(client, query, expected):
    body = client.get("/api/traces", params=query).json()
    assert [t["trace_id"] for t in body["traces"]] == [tid(n) for n in expected]


def test_cursor_pagination_walks_every_trace_once(db):
    write(db, [rec(n, 0, None, name=f"job-{n}") for n in range(1, 8)])
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    client = TestClient(create_app(db, port=7842), base_url="http://127.0.0.1:7842")
    seen, cursor = [], None
    while True:
        body = client.get("/api/traces", params={"limit": 3, "cursor": cursor}).json()
        seen += [t["trace_id"] for t in body["traces"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [tid(n) for n in range(7, 0, -1)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "x"}, "limit must be a whole number"),
        ({"limit": "5000"}, "limit must be between 1 and 1000"),
        ({"status": "sleepy"}, "unknown status"),
        ({"sort": "name"}, "unknown sort key"),
        ({"cursor": "nonsense"}, "bad cursor"),
        ({"since": "yesterday"}, "bad time"),
    ],
)
def test_bad_parameters_are_a_400_with_a_message(client, query, message):
    response = client.get("/api/traces", params=query)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_projects(client):
    assert client.get("/api/projects").json() == {"projects": ["default", "graphs"]}


def test_one_trace_has_its_row_and_light_records_in_start_order(client):
    body = client.get(f"/api/traces/{tid(1)}").json()
    assert body["trace"]["trace_id"] == tid(1)
    assert [s["name"] for s in body["spans"]] == [
        "research-agent", "plan", "web_search", "retrieve", "embed", "summarize"]  # fmt: skip
    plan = body["spans"][1]
    assert plan["usage"]["total_tokens"] == 42
    assert plan["model"] == "gpt-4o-mini"
    assert plan["parent_id"] == body["spans"][0]["span_id"]
    for heavy in ("inputs", "outputs", "attributes", "events"):
        assert heavy not in plan
    assert body["spans"][5]["error"] == {
        "type": "TimeoutError", "message": "the summarizer timed out"}  # fmt: skip


def test_one_span_has_its_full_record(client):
    spans = client.get(f"/api/traces/{tid(1)}").json()["spans"]
    failed = client.get(f"/api/traces/{tid(1)}/spans/{spans[5]['span_id']}").json()
    assert failed["error"]["stack"].endswith("TimeoutError: the summarizer timed out")
    assert failed["events"][0]["name"] == "retry"
    plan = client.get(f"/api/traces/{tid(1)}/spans/{spans[1]['span_id']}").json()
    assert plan["inputs"]["messages"][1]["content"] == "How old is Google?"
    assert plan["attributes"]["model_parameters"]["max_tokens"] == 256
    missing = client.get(f"/api/traces/{tid(1)}/spans/{'0' * 16}")
    assert missing.status_code == 404
    assert "no span" in missing.json()["error"]
    assert client.get(f"/api/traces/{'f' * 32}/spans/{spans[1]['span_id']}").status_code == 404


def test_heavy_payloads_stay_out_of_the_trace_view(db):
    big = "x" * 200_000
    write(db, [rec(9, n, 0 if n else None, inputs={"text": big}, outputs={"text": big},
                   error={"type": "E", "message": big}) for n in range(20)])  # fmt: skip
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    client = TestClient(create_app(db, port=7842), base_url="http://127.0.0.1:7842")
    response = client.get(f"/api/traces/{tid(9)}")
    assert len(response.json()["spans"]) == 20
    assert len(response.content) < 20 * 1000  # the messages cut to 300 characters
    full = client.get(f"/api/traces/{tid(9)}/spans/{sid(9, 3)}").json()
    assert full["inputs"]["text"] == big


def test_unknown_or_malformed_trace_ids_are_404(client):
    assert client.get(f"/api/traces/{'f' * 32}").status_code == 404
    response = client.get("/api/traces/not-hex")
    assert response.status_code == 404
    assert "not a trace id" in response.json()["error"]


def test_architecture_endpoint(client):
    body = client.get(f"/api/traces/{tid(2)}/architecture").json()
    assert body["graph"] == {**GRAPH, "dropped": 0}
    names = {c["name"]: c for c in body["components"]}
    assert names["ChatOpenAI"]["parameters"]["langchain.parameters"]["model_name"] == "gpt-4o"
    assert names["ChatOpenAI"]["parent"] == names["LangGraph"]["id"]


def test_delete_same_origin_removes_the_trace(client):
    response = client.delete(f"/api/traces/{tid(1)}", headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert response.json() == {"deleted": tid(1)}
    assert client.get(f"/api/traces/{tid(1)}").status_code == 404
    again = client.delete(f"/api/traces/{tid(1)}", headers=SAME_ORIGIN)
    assert again.status_code == 404


def test_delete_needs_the_full_id(client):
    response = client.delete(f"/api/traces/{tid(1)[:8]}", headers=SAME_ORIGIN)
    assert response.status_code == 400
    assert client.get(f"/api/traces/{tid(1)}").status_code == 200


def test_a_store_removed_while_serving_is_a_503_with_a_message(client, sample_db):
    import os

    os.remove(sample_db)
    response = client.get("/api/traces")
    assert response.status_code == 503
    assert "no trace store at" in response.json()["error"]


def test_info_and_page(client, sample_db):
    import os

    assert client.get("/api/info").json()["db"] == os.path.abspath(sample_db)
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/static/js/main.js">' in page.text
    js = client.get("/static/js/main.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"


def test_running_trace_is_reported_running(db):
    write(db, [], started=[rec(3, 0, None, end_ns=None, status="RUNNING")])
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    client = TestClient(create_app(db, port=7842), base_url="http://127.0.0.1:7842")
    row = client.get("/api/traces").json()["traces"][0]
    assert row["status"] == "RUNNING"
    assert row["end_ns"] is None
    assert row["duration_ns"] is None
    spans = client.get(f"/api/traces/{tid(3)}").json()["spans"]
    assert spans[0]["status"] == "RUNNING"


def test_research_trace_fixture_is_consistent():
    """The helper's records keep children inside their parent's time (the timeline relies on it)."""
    records = research_trace(1)
    root = records[-1]
    for child in records[:-1]:
        assert root["start_ns"] <= child["start_ns"] <= child["end_ns"] <= root["end_ns"]


def test_a_damaged_store_is_a_503_with_a_message(client, sample_db):
    size = os.path.getsize(sample_db)
    with open(sample_db, "r+b") as f:  # keep the first page (schema), garble the tables
        f.seek(8192)
        f.write(b"\xff" * (size - 8192))
    response = client.get("/api/traces")
    assert response.status_code == 503
    assert "malformed" in response.json()["error"]
