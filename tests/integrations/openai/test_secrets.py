"""The API key and the auth headers reach the server, and never a record, a store file or a log.

Redaction is switched off in these tests (``redact=False``): the adapter must
not hand tracekit the key in the first place, whatever the processors would
have caught afterwards.
"""

from __future__ import annotations

import logging

import openai
import pytest

import tracekit
from tracekit import integrations
from tracekit.backends import MemoryBackend

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
AUTH_HEADER_VALUE = "tenant-credential-" + "Xy4Wv8Tq2Mn6"


def every_kind_of_call(client):
    """One of each: chat, stream, tools, error, raw, Responses, embeddings."""
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
        extra_headers={"X-Tenant-Auth": AUTH_HEADER_VALUE},
    )
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="error-401", messages=MESSAGES)
    client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    if hasattr(client, "responses"):
        client.responses.create(model="gpt-4o-mini", input="hi")
        list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    client.embeddings.create(model="text-embedding-3-small", input="hi")


def secrets(key):
    return (key, AUTH_HEADER_VALUE, "Bearer", "api-key", "Authorization", "X-Tenant-Auth")


@pytest.fixture
def unredacted_memory():
    backend = MemoryBackend()
    tracekit.init(backend, redact=False)
    integrations.autopatch(["openai"])
    yield backend
    integrations.unpatch(["openai"])


def test_the_key_goes_to_the_server_and_into_no_record(
    unredacted_memory, client, server, planted_key
):
    every_kind_of_call(client)
    tracekit.flush()
    records = unredacted_memory.records
    assert len(records) >= 6
    text = repr(records)
    for secret in secrets(planted_key):
        assert secret not in text, secret
    # ...while the server did receive it, so the client really sent it.
    headers = [r["headers"] for r in server.requests]
    assert all(h["authorization"] == f"Bearer {planted_key}" for h in headers)
    assert any(h.get("x-tenant-auth") == AUTH_HEADER_VALUE for h in headers)


def test_the_azure_key_goes_to_the_server_and_into_no_record(
    unredacted_memory, server, planted_key
):
    with openai.AzureOpenAI(
        azure_endpoint=server.endpoint, api_version="2024-10-21", api_key=planted_key
    ) as azure:
        azure.chat.completions.create(model="deployment", messages=MESSAGES)
        azure.embeddings.create(model="embedding-deployment", input="hi")
    tracekit.flush()
    assert len(unredacted_memory.records) == 2
    for secret in secrets(planted_key):
        assert secret not in repr(unredacted_memory.records), secret
    assert [r["headers"]["api-key"] for r in server.requests] == [planted_key, planted_key]


def test_no_byte_of_the_sqlite_store_holds_the_key(tmp_path, client, server, planted_key):
    tracekit.init(f"sqlite:///{tmp_path}/t.db", redact=False)
    integrations.autopatch(["openai"])
    try:
        every_kind_of_call(client)
    finally:
        tracekit.shutdown()
        integrations.unpatch(["openai"])
    files = [p for p in tmp_path.iterdir() if p.name.startswith("t.db")]
    assert tmp_path / "t.db" in files
    data = b"".join(p.read_bytes() for p in files)
    assert b"openai.chat.completions.create" in data  # the spans are there...
    for secret in secrets(planted_key):
        assert secret.encode() not in data, secret  # ...the key is not
    assert server.requests  # and the key was sent


def test_no_log_line_holds_the_key(caplog, client, planted_key):
    caplog.set_level(logging.DEBUG, logger="tracekit")
    backend = MemoryBackend()
    tracekit.init(backend, redact=False)
    integrations.autopatch(["openai"])
    try:
        every_kind_of_call(client)
        tracekit.flush()
    finally:
        integrations.unpatch(["openai"])
    ours = [r for r in caplog.records if r.name.startswith("tracekit")]
    text = "\n".join(r.getMessage() for r in ours)
    for secret in secrets(planted_key):
        assert secret not in text, secret
    assert backend.records
