"""The store writes each record as the JSON json.dumps would produce, and finds its payloads in it.

Both encoders: orjson's (the default, D105) and the json module's (where orjson has no wheel).
"""

from __future__ import annotations

import json

import pytest

from tracekit import _record
from tracekit._record import empty_record
from tracekit._record import encode as _encode


@pytest.fixture(params=["orjson", "json"], autouse=True)
def encoder(request, monkeypatch):
    if request.param == "json":
        monkeypatch.setattr(_record, "_dumps", None)
    return request.param


def record(**changes):
    values = {
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "name": 'Café "quoted"\n\u2028',
        "kind": "TOOL",
        "project": "p",
        "start_ns": 1,
        "end_ns": 2,
        "inputs": {"q": "Crème brûlée", "n": 1.5},
    }
    return empty_record(**{**values, **changes})


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
            outputs={"output": "ANSWER"},
        ),
        record(trace_id='"not hex"'),  # a processor may change values
        record(inputs={"s": "x", "i": -3, "b": True, "f": False, "n": None, "big": 10**30}),
        record(inputs={"nested": {"a": [1, "b"]}, "t": "ok"}, outputs={"output": [1, 2]}),
        record(inputs={"quote": '"', "backslash": "\\", "ctl": "\x00\x1f", "u": "\ud800"}),
    ],
)
def test_encoding_equals_json_dumps_and_locates_the_payloads(rec, encoder):
    text, (in_start, in_len, out_start, out_len) = _encode(rec)
    if encoder == "json" or "\\ud800" in json.dumps(rec):  # the careful path: exactly json's
        assert text == json.dumps(rec, separators=(",", ":"))
    assert json.loads(text) == json.loads(json.dumps(rec))
    assert json.loads(text[in_start - 1 : in_start - 1 + in_len]) == rec["inputs"]
    assert json.loads(text[out_start - 1 : out_start - 1 + out_len]) == rec["outputs"]


def test_a_record_with_extra_fields_is_encoded_whole_and_searched_whole():
    rec = {**record(), "extra": 1}
    text, (in_start, in_len, _, out_len) = _encode(rec)
    assert json.loads(text) == rec
    assert (in_start, in_len, out_len) == (1, len(text), 0)


def test_a_nan_a_processor_puts_in_is_stored_as_the_json_path_writes_it(tmp_path):
    import tracekit
    from tracekit.store import Store

    def add_nan(record):
        record["inputs"]["ratio"] = float("nan")
        return record

    db = tmp_path / "t.db"
    tracekit.init(f"sqlite:///{db}", redact=add_nan)

    @tracekit.tool
    def measure(q):
        return q

    measure("x")
    tracekit.flush()
    tracekit.shutdown()
    with Store(db) as store:
        (summary,) = store.list_traces().traces
        (stored,) = store.get_trace(summary.trace_id)
    assert stored["inputs"]["ratio"] == "NaN"  # a marker, never a silent null
