"""Redaction, user processors and head sampling, applied once before any backend."""

from __future__ import annotations

import json

import pytest

import tracekit
from tracekit._redact import is_secret_key, redact_string

OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "API-Key",
        "apiKey",
        "openai_api_key",
        "authorization",
        "Authorization",
        "password",
        "db_password",
        "client_secret",
        "Cookie",
        "set-cookie",
        "token",
        "access_token",
        "refresh_token",
        "x-api-key",
        "private_key",
        "aws_secret_access_key",
        "credentials",
        "session_id",
    ],
)
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "max_completion_tokens",
        "tokens",
        "tokenizer",
        "query",
        "messages",
        "temperature",
        "author",
        "model",
    ],
)
def test_counters_and_ordinary_keys_are_not_secret(key):
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    "secret",
    [
        OPENAI_KEY,
        "sk-ant-api03-" + "x" * 40,
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a" * 36,
        "xoxb-1234567890-abcdefghij",
        "AIza" + "b" * 35,
        "hf_" + "c" * 34,
        "Bearer " + "d" * 40,
    ],
)
def test_provider_key_strings_are_redacted_in_place(secret):
    assert redact_string(f"the key is {secret} ok") == "the key is [REDACTED] ok"


def test_ordinary_text_is_untouched():
    text = "ask the desk for a task-list and a skeleton key"
    assert redact_string(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter22 and more", "password=[REDACTED] and more"),
        ("retry with PASSWORD = 'p@ss w0rd'!", "retry with PASSWORD = '[REDACTED]'!"),
        ("api_key: abcdef12345", "api_key: [REDACTED]"),
        ('{"client_secret": "s3cr3t value", "n": 1}', '{"client_secret": "[REDACTED]", "n": 1}'),
        ('{\\"token\\": \\"abc123xyz\\"}', '{\\"token\\": \\"[REDACTED]\\"}'),
        ("x-api-key=abcd1234efgh", "x-api-key=[REDACTED]"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [REDACTED]"),
        ("pwd=abcd", "pwd=[REDACTED]"),
        (": then password: hunter22", ": then password: [REDACTED]"),
        ("mysql://app:hunter22@db:3306/x", "mysql://app:[REDACTED]@db:3306/x"),
        ("redis://:hunter22@cache", "redis://:[REDACTED]@cache"),
        ("id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2ln", "id [REDACTED]"),
        (
            "k -----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY----- ok",
            "k [REDACTED] ok",
        ),
    ],
)
def test_secrets_inside_free_text_are_redacted(text, expected):
    assert redact_string(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=256 temperature=0.2 top_p: 1",
        "prompt_tokens: 12, completion_tokens: 30, total_tokens: 42",
        "the author: Ada Lovelace",
        "see https://example.com/docs:intro and mailto:bob@example.com",
        "key points: short answers",
        "tokenizer=cl100k_base",
        'api_key=None token=null secret=""',
        "16:20:01 INFO status=200 elapsed=0.3s",
    ],
)
def test_ordinary_pairs_and_counters_in_text_are_kept(text):
    assert redact_string(text) == text


def test_a_short_argument_holding_a_pair_is_redacted(tracekit_capture):
    @tracekit.tool
    def login(dsn):
        return "ok"

    login("pwd=abcdef")
    assert tracekit_capture.records[0]["inputs"] == {"dsn": "pwd=[REDACTED]"}


def test_a_short_return_value_or_item_holding_a_pair_is_redacted(tracekit_capture):
    @tracekit.tool
    def answer():
        return "token:abc12"

    @tracekit.tool
    def chunks():
        yield "ok"
        yield "pass=hunter"

    answer()
    list(chunks())
    first, second = tracekit_capture.records
    assert first["outputs"] == {"output": "token:[REDACTED]"}
    assert second["outputs"] == {"output": ["ok", "pass=[REDACTED]"]}


def test_redaction_everywhere_in_the_record(tracekit_capture):
    @tracekit.llm
    def call(prompt, api_key, max_tokens, headers, config):
        span = tracekit.current_span()
        span.set_attribute("authorization", "Bearer " + "z" * 30)
        span.set_attribute("note", f"used {OPENAI_KEY}")
        span.add_event("request", {"password": "hunter22"})
        span.set_usage(prompt_tokens=5, completion_tokens=7)
        raise PermissionError(f"Incorrect API key provided: {OPENAI_KEY}")

    with pytest.raises(PermissionError):
        call(
            f"my key is {OPENAI_KEY}",
            api_key=OPENAI_KEY,
            max_tokens=256,
            headers={"Authorization": "Bearer abc", "Accept": "json"},
            config=[{"secret": "s3cr3t", "retries": 2}],
        )
    (record,) = tracekit_capture.records
    text = json.dumps(record)
    assert OPENAI_KEY not in text
    assert "hunter22" not in text
    assert "s3cr3t" not in text
    assert record["inputs"]["api_key"] == "[REDACTED]"
    assert record["inputs"]["prompt"] == "my key is [REDACTED]"
    assert record["inputs"]["max_tokens"] == 256
    assert record["inputs"]["headers"] == {"Authorization": "[REDACTED]", "Accept": "json"}
    assert record["inputs"]["config"] == [{"secret": "[REDACTED]", "retries": 2}]
    assert record["attributes"]["authorization"] == "[REDACTED]"
    assert record["events"][0]["attributes"] == {"password": "[REDACTED]"}
    assert record["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    assert "[REDACTED]" in record["error"]["message"]


def test_empty_secret_values_are_kept(tracekit_capture):
    @tracekit.trace
    def connect(password=None, token=""):
        return None

    connect()
    assert tracekit_capture.records[0]["inputs"] == {"password": None, "token": ""}


def test_redaction_can_be_turned_off(tracekit_capture):
    tracekit.init(tracekit_capture.backend, redact=False)

    @tracekit.trace
    def f(api_key):
        return None

    f(OPENAI_KEY)
    assert tracekit_capture.records[0]["inputs"]["api_key"] == OPENAI_KEY


def test_user_redact_callable_runs_after_builtin_and_can_drop(tracekit_capture):
    def mask_emails(record):
        if record["name"] == "drop-me":
            return None
        record["inputs"] = {
            k: ("<email>" if "@" in str(v) else v) for k, v in record["inputs"].items()
        }
        return record

    tracekit.init(tracekit_capture.backend, redact=mask_emails)

    @tracekit.trace
    def f(to, api_key):
        return None

    @tracekit.trace(name="drop-me")
    def g():
        return None

    f("ann@example.com", OPENAI_KEY)
    g()
    assert [r["name"] for r in tracekit_capture.records] == ["f"]
    assert tracekit_capture.records[0]["inputs"] == {"to": "<email>", "api_key": "[REDACTED]"}
    assert tracekit.stats()["dropped"]["filtered"] == 1


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 40)])
def test_head_sampling_keeps_or_drops_whole_traces(tracekit_capture, rate, expected):
    tracekit.init(tracekit_capture.backend, sample_rate=rate)

    @tracekit.tool
    def child():
        return tracekit.current_span().is_recording

    @tracekit.agent
    def root():
        return child()

    results = [root() for _ in range(20)]
    assert len(tracekit_capture.records) == expected
    assert results == [rate == 1.0] * 20


def test_partial_sampling_never_splits_a_trace(tracekit_capture):
    tracekit.init(tracekit_capture.backend, sample_rate=0.5)

    @tracekit.tool
    def child():
        return None

    @tracekit.agent
    def root():
        child()

    for _ in range(200):
        root()
    records = tracekit_capture.records
    roots = [r for r in records if r["name"] == "root"]
    assert 0 < len(roots) < 200
    kept = {r["trace_id"] for r in roots}
    assert {r["trace_id"] for r in records if r["name"] == "child"} == kept


def test_bad_sample_rate_is_a_clear_error():
    with pytest.raises(ValueError, match="sample_rate"):
        tracekit.init("memory", sample_rate=1.5)


@pytest.mark.parametrize("secret", ["sk-abcdefghijklmnop", "xoxb-1234567890"])
def test_shortest_key_shapes_are_redacted_even_in_short_plain_inputs(tracekit_capture, secret):
    @tracekit.trace
    def f(note, count=1):
        return secret

    f(secret)
    record = tracekit_capture.records[0]
    assert record["inputs"] == {"note": "[REDACTED]", "count": 1}
    assert record["outputs"] == {"output": "[REDACTED]"}


def test_clean_fast_path_still_cuts_and_redacts_what_it_must(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_string_chars=10, max_items=1)

    @tracekit.trace
    def f(a, b):
        return "abcdefghijkl"

    f("0123456789abc", 2)
    record = tracekit_capture.records[0]
    assert record["inputs"] == {"a": "0123456789…[truncated: 13 chars]", "…": "[truncated: 2 keys]"}
    assert record["outputs"] == {"output": "abcdefghij…[truncated: 12 chars]"}


def test_inputs_replaced_inside_a_span_are_still_redacted(tracekit_capture):
    @tracekit.trace
    def f(text):
        tracekit.current_span().set_inputs({"api_key": "abc", "text": f"key {OPENAI_KEY}"})
        tracekit.current_span().set_output(f"also {OPENAI_KEY}")
        return "ignored"

    f("short")
    record = tracekit_capture.records[0]
    assert record["inputs"] == {"api_key": "[REDACTED]", "text": "key [REDACTED]"}
    assert OPENAI_KEY not in json.dumps(record)


def test_generator_items_respect_a_depth_of_one(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_depth=1)

    @tracekit.chain
    def gen():
        yield 1
        yield 2

    assert list(gen()) == [1, 2]
    assert tracekit_capture.records[0]["outputs"] == {"output": "[truncated: deeper than 1 levels]"}


def test_the_redaction_memo_stays_bounded_and_gives_the_same_answers():
    from tracekit import _redact

    secret = "password=hunter22 in a log line"
    assert redact_string(secret) == redact_string(secret) == "password=[REDACTED] in a log line"
    for n in range(_redact._SEEN_MAX_STRINGS + 10):
        redact_string(f"an ordinary log line number {n}")
    assert len(_redact._seen) <= _redact._SEEN_MAX_STRINGS
    assert _redact._seen.chars <= _redact._SEEN_MAX_CHARS
    assert redact_string(secret) == "password=[REDACTED] in a log line"
