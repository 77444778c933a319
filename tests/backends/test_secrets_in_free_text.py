"""Secrets written inside text never reach a backend: every byte of every output is searched.

A user's application leaks secrets into free text all the time: an exception
message with a connection string, a log line with ``password=...``, a prompt
that pastes a JWT. The built-in redaction (on by default) runs once before
every backend, so the store (its database, WAL and shared-memory files), the
JSONL file, the console's stdout and the OTLP request bodies must hold none
of them, in any field: inputs, outputs, errors, attributes, metadata, events,
model parameters, and the started record of a span still open.
"""

from __future__ import annotations

import json
from pathlib import Path

import tracekit
from tracekit._redact import redact_string

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ0cmFjZWtpdC10ZXN0LXVzZXIiLCJpYXQiOjE3OTk5OTk5OTl9"
    ".q8Vx3kT9mZ2pL7wR4yN6bH1cF5dJ0sA8eU3iO7"
)
PASSWORD = "Pw7uniqueHunter2"
API_KEY = "ak9QzX3mP7vBw2"
DB_PASSWORD = "Db5ecretPassZ"
CLIENT_SECRET = "Cs4uniqueValueQ"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
BASIC = "dXNlcjpzM2NyM3RQYXNzd29yZA=="
SECRETS = (JWT, PASSWORD, API_KEY, DB_PASSWORD, CLIENT_SECRET, PEM_BODY, BASIC)

TEXT = (
    f"login failed: user=bob password={PASSWORD} api_key: {API_KEY}; token {JWT}; "
    f"dsn postgresql://svc:{DB_PASSWORD}@db.internal:5432/app; "
    f'config {{"client_secret": "{CLIENT_SECRET}", "max_tokens": 256}}; '
    f"Authorization: Basic {BASIC}\n"
    f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
)


def test_every_free_text_rule_redacts_and_keeps_the_rest_readable():
    out = redact_string(TEXT)
    for secret in SECRETS:
        assert secret not in out
    # what is not a secret stays: the user, the host, the counter, the keys' names
    assert "user=bob password=[REDACTED]" in out
    assert "postgresql://svc:[REDACTED]@db.internal:5432/app" in out
    assert '"max_tokens": 256' in out
    assert '"client_secret": "[REDACTED]"' in out


def _traced_work() -> None:
    @tracekit.tool(metadata={"runbook": TEXT})
    def lookup(query: str, messages: list[dict[str, str]]) -> str:
        span = tracekit.current_span()
        span.set_attribute("note", TEXT)
        span.set_model("gpt-4o-mini", system_prompt=TEXT, temperature=0.1)
        span.add_event("retry", {"detail": TEXT})
        return f"answer after {TEXT}"

    @tracekit.chain
    def fails(dsn: str) -> None:
        raise ConnectionError(f"could not connect: {dsn}")

    @tracekit.agent
    def agent() -> None:
        lookup(TEXT, [{"role": "system", "content": TEXT}, {"role": "user", "content": "hi"}])
        try:
            fails(TEXT)
        except ConnectionError:
            pass

    agent()


def _everything(folder: Path, stdout: str, bodies: list[bytes]) -> dict[str, bytes]:
    blobs = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    blobs["stdout"] = stdout.encode()
    for n, body in enumerate(bodies):
        blobs[f"otlp request {n}"] = body
    return blobs


def _assert_no_secret(blobs: dict[str, bytes]) -> None:
    for name, data in blobs.items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret[:12]}... found in {name}"


def test_no_planted_secret_reaches_any_byte_of_any_backend(tmp_path, receiver, capfd):
    folder = tmp_path / "out"
    store = folder / "store" / "traces.db"
    jsonl = folder / "spans.jsonl"
    otlp = "otlp+http://" + receiver.url.split("://", 1)[1]
    tracekit.init([f"sqlite:///{store}", f"jsonl:///{jsonl}", "console", otlp])

    _traced_work()
    assert tracekit.flush()
    receiver.wait_for_spans(3)
    # Before shutdown: the store's WAL holds the batch as written.
    stdout = capfd.readouterr().out
    written = _everything(folder, stdout, receiver.bodies)
    assert any(p.endswith("-wal") for p in written)
    _assert_no_secret(written)

    # A span still open at shutdown is stored as started (inputs and attributes so far).
    with tracekit.span("still running", inputs={"prompt": TEXT}) as running:
        running.set_attribute("note", TEXT)
        tracekit.shutdown()
    stdout += capfd.readouterr().out
    final = _everything(folder, stdout, receiver.bodies)
    _assert_no_secret(final)

    # The data did go through: redacted, not missing.
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert {r["name"] for r in records} >= {"agent", "lookup", "fails"}
    assert b"[REDACTED]" in final["store/traces.db"]
    assert b"[REDACTED]" in final["stdout"]
    assert all(b"[REDACTED]" in body for body in receiver.bodies)
    lookup = next(r for r in records if r["name"] == "lookup")
    assert lookup["attributes"]["runbook"].startswith("login failed: user=bob password=[REDACTED]")
    assert lookup["attributes"]["model_parameters"]["temperature"] == 0.1
    with tracekit.store.Store(store) as reader:
        stored = [r for r in reader.iter_records() if r["name"] == "still running"]
    assert [r["status"] for r in stored] == ["RUNNING"]
    assert "password=[REDACTED]" in stored[0]["inputs"]["prompt"]
    fails = next(r for r in records if r["name"] == "fails")
    assert "postgresql://svc:[REDACTED]@db.internal" in fails["error"]["message"]
