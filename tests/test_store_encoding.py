"""The store writes each record as exactly the JSON json.dumps would produce."""

from __future__ import annotations

import json

import pytest

from tracekit.backends.sqlite import _encode


def record(**changes):
    base = {
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "parent_id": None,
        "name": 'Café "quoted"\n\u2028',
        "kind": "TOOL",
        "project": "p",
        "start_ns": 1,
        "end_ns": 2,
        "status": "OK",
        "error": None,
        "inputs": {"q": "Crème brûlée", "n": 1.5},
        "outputs": {},
        "model": None,
        "usage": None,
        "attributes": {},
        "events": [],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    "rec",
    [
        record(),
        record(parent_id="c" * 16, end_ns=None, status="RUNNING"),
        record(
            error={"type": "E", "message": 'bad "x"', "stack": "a\\b"},
            model="gpt-4o",
            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            attributes={"tags": ["a"], "nested": {"k": None}},
            events=[{"name": "e", "time_ns": 5, "attributes": {}}],
        ),
        record(trace_id='"not hex"'),  # a processor may change values
        {**record(), "extra": 1},  # or add fields
    ],
)
def test_encoding_equals_json_dumps(rec):
    text, search = _encode(rec)
    assert text == json.dumps(rec, separators=(",", ":"))
    assert json.loads(text) == rec


def test_search_text_holds_name_inputs_outputs_lowercased_and_escaped():
    _, search = _encode(record(outputs={"output": "ANSWER"}))
    assert 'caf\\u00e9 \\"quoted\\"' in search
    assert "cr\\u00e8me" in search
    assert '"answer"' in search
    assert "tool" not in search  # kinds and ids are not searched
