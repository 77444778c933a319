"""The UI server as an attacker meets it: Host headers, traversal, cross-origin writes, headers.

These talk raw HTTP to a live server (http.client sends the path and headers
exactly as written), so nothing normalizes the attack before the server sees it.
"""

from __future__ import annotations

import http.client

import pytest
from ui_helpers import tid

# tracekit.ui is imported when used, not at collection: tests/test_public_api.py
# checks the names on the tracekit package, and importing tracekit.ui adds "ui" there.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def request(server, method, path, headers=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{server.port}"} if host is None else host
        for name, value in {**sent, **(headers or {})}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture
def server(sample_db, serve):
    return serve(sample_db)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "localhost.evil.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "127.0.0.1:{other}",  # the right name, another port
        "[::1]:{port}",  # bound to 127.0.0.1, not ::1
        "",
    ],
)
def test_foreign_host_headers_are_refused(server, host):
    value = host.format(port=server.port, other=server.port + 1)
    status, headers, body = request(server, "GET", "/api/traces", host={"Host": value})
    assert status == 400
    assert b"Host" in body
    assert b"trace" not in body.replace(b"Host", b"")  # nothing of the store leaks
    assert headers["content-security-policy"] == CSP


def test_a_request_without_host_is_refused(server):
    status, _, _ = request(server, "GET", "/", host={})
    assert status == 400


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_loopback_host_headers_are_served(server, name):
    status, _, body = request(
        server, "GET", "/api/projects", host={"Host": f"{name}:{server.port}"}
    )
    assert status == 200
    assert b"default" in body


@pytest.mark.parametrize(
    "path",
    [
        "/static/../_app.py",
        "/static/../../store.py",
        "/static/..%2f_app.py",
        "/static/..%2F..%2Fstore.py",
        "/static/%2e%2e/_app.py",
        "/static/%2e%2e%2f%2e%2e%2fstore.py",
        "/static/%252e%252e%252f_app.py",  # double-encoded
        "/static/..%252f_app.py",
        "/static/js/../../_app.py",
        "/static/js/..%2f..%2f_app.py",
        "/static/..\\_app.py",
        "/static/%5c..%5c_app.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/....//_app.py",
        "/static/app.css%00.py",
        "/static/app.css/../../_app.py",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/",
        "/static/js/",
    ],
)
def test_no_static_path_escapes_its_folder(server, path):
    status, _, body = request(server, "GET", path)
    assert status in (400, 404)
    for secret in (b"import ", b"root:", b"def ", b"CREATE TABLE"):
        assert secret not in body


def test_static_files_are_served_with_their_types(server):
    status, headers, body = request(server, "GET", "/static/app.css")
    assert status == 200
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert b"--kind-LLM" in body


def test_the_policy_is_the_documented_one():
    from tracekit.ui._security import CSP as SERVED

    assert SERVED == CSP


def test_every_response_carries_the_security_headers(server):
    for path in ("/", "/static/js/main.js", f"/api/traces/{tid(1)}", "/nope"):
        _, headers, _ = request(server, "GET", path)
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP
    assert "'unsafe-eval'" not in CSP
    assert "script-src 'self'" in CSP
    assert "default-src 'none'" in CSP


def test_api_answers_json_even_for_traced_html(server):
    status, headers, body = request(server, "GET", f"/api/traces/{tid(1)}")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert b"<" not in body.replace(b"\\u003c", b"")  # ASCII JSON; no raw markup either way


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no proof of origin at all
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:{port}", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://127.0.0.1:{other}"},
        {"Origin": "https://127.0.0.1:{port}"},
    ],
)
def test_cross_origin_delete_is_refused(server, headers, sample_db):
    sent = {k: v.format(port=server.port, other=server.port + 1) for k, v in headers.items()}
    status, _, body = request(server, "DELETE", f"/api/traces/{tid(1)}", headers=sent)
    assert status == 403
    assert b"cross-origin" in body
    from tracekit.store import Store

    with Store(sample_db) as store:
        assert store.trace_summary(tid(1)).trace_id == tid(1)  # still there


def test_same_origin_delete_is_served(server):
    headers = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    status, _, body = request(server, "DELETE", f"/api/traces/{tid(1)}", headers=headers)
    assert status == 200
    assert tid(1).encode() in body


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_other_writes_are_refused(server, method):
    status, _, _ = request(server, method, "/api/traces")
    assert status in (403, 405)


@pytest.mark.parametrize(
    ("bound", "port", "host", "allowed"),
    [
        ("127.0.0.1", 8000, "127.0.0.1:8000", True),
        ("127.0.0.1", 8000, "localhost:8000", True),
        ("127.0.0.1", 8000, "[::1]:8000", False),
        ("::1", 8000, "[::1]:8000", True),
        ("::1", 8000, "localhost:8000", True),
        ("::1", 8000, "127.0.0.1:8000", False),
        ("localhost", 8000, "127.0.0.1:8000", True),
        ("127.0.0.1", 80, "localhost", True),
        ("127.0.0.1", 8000, "localhost", False),
        ("0.0.0.0", 8000, "192.168.1.20:8000", True),  # an address cannot be rebound
        ("0.0.0.0", 8000, "[fe80::1]:8000", True),
        ("0.0.0.0", 8000, "myhost.example:8000", False),
        ("0.0.0.0", 8000, "192.168.1.20:9000", False),
        ("192.168.1.20", 8000, "192.168.1.20:8000", True),
        ("192.168.1.20", 8000, "10.0.0.1:8000", False),
    ],
)
def test_host_policy(bound, port, host, allowed):
    from tracekit.ui._security import HostPolicy

    assert HostPolicy(bound, port).allows(host) is allowed


def test_same_origin_rule():
    from tracekit.ui._security import same_origin

    host = "127.0.0.1:8000"
    assert same_origin({"origin": "http://127.0.0.1:8000"}, host)
    assert same_origin({"sec-fetch-site": "same-origin"}, host)
    assert not same_origin({}, host)
    assert not same_origin({"origin": "http://127.0.0.1:8000", "sec-fetch-site": "none"}, host)
