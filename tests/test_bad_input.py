"""Bad strings and huge integers: one bad value never costs a span, and no setter raises.

A lone surrogate (``json.loads('"\\ud800"')``, ``os.fsdecode`` of bytes that
are not UTF-8) cannot be encoded as UTF-8, and an int of more than 4,300
digits cannot be printed: before, either made SQLite, a UTF-8 terminal and the
JSON encoder refuse the whole batch, innocent spans included, and
``set_inputs({"a": 10**5000})`` raised into the application.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys

import pytest

import tracekit
from tracekit.backends import ConsoleBackend, JsonlBackend, MemoryBackend
from tracekit.store import Store

LONE = json.loads('"\\ud800"')  # a lone high surrogate, as json.loads gives it
ESCAPED = os.fsdecode(b"\xff")  # "\udcff": a file name that is not UTF-8
REPLACED = "\ufffd"
HUGE = 10**5000  # str() refuses it
NEGATIVE = -(2**70)  # beyond int64: SQLite would read it as a float, protobuf refuses it
HUGE_MARK = "[int: about 5001 digits]"
NEGATIVE_MARK = f"[int: {NEGATIVE}]"


def strings(value):
    """Every string in JSON data, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_utf8(record):
    for text in strings(record):
        text.encode("utf-8")  # raises on a lone surrogate


@tracekit.tool
def innocent(question):
    return f"answer to {question}"


@tracekit.tool(name=f"lookup {LONE}", metadata={"source": ESCAPED}, tags=[LONE])
def bad_tool(short, text, items):
    span = tracekit.current_span()
    span.set_attribute(f"path {ESCAPED}", f"file {ESCAPED}")
    span.set_model(f"model {LONE}")
    span.add_event(f"chunk {LONE}", {"delta": LONE})
    raise ValueError(f"cannot read {LONE}")


def bad_manual():
    with tracekit.span(f"manual {ESCAPED}", inputs={"q": LONE}) as span:
        span.set_outputs({"reply": f"cut emoji {LONE}", "name": ESCAPED})


def run_batch():
    innocent("first")
    with pytest.raises(ValueError, match="cannot read"):
        # a short string (the clean hot path), a long one, and one inside a list
        # (frozen as JSON text: json.loads brings the escape back as a lone surrogate)
        bad_tool(LONE, f"{'long text ' * 3}{ESCAPED}", [LONE, "fine"])
    bad_manual()
    innocent("last")
    assert tracekit.flush()


def check_records(records):
    by_name = {r["name"]: r for r in records}
    assert set(by_name) == {
        "innocent",
        f"lookup {REPLACED}",
        f"manual {REPLACED}",
    }, by_name.keys()
    assert len(records) == 4
    for record in records:
        assert_utf8(record)
    tool = by_name[f"lookup {REPLACED}"]
    assert tool["inputs"] == {
        "short": REPLACED,
        "text": f"{'long text ' * 3}{REPLACED}",
        "items": [REPLACED, "fine"],
    }
    assert tool["attributes"][f"path {REPLACED}"] == f"file {REPLACED}"
    assert tool["attributes"]["source"] == REPLACED
    assert tool["attributes"]["tags"] == [REPLACED]
    assert tool["model"] == f"model {REPLACED}"
    assert tool["events"][0]["name"] == f"chunk {REPLACED}"
    assert tool["events"][0]["attributes"] == {"delta": REPLACED}
    assert tool["status"] == "ERROR"
    assert tool["error"]["message"] == f"cannot read {REPLACED}"
    assert f"cannot read {REPLACED}" in tool["error"]["stack"]
    manual = by_name[f"manual {REPLACED}"]
    assert manual["inputs"] == {"q": REPLACED}
    assert manual["outputs"] == {"reply": f"cut emoji {REPLACED}", "name": REPLACED}


def strict_stdout(monkeypatch):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def test_lone_surrogates_are_repaired_and_cost_no_span_on_any_backend(tmp_path, monkeypatch):
    stdout = strict_stdout(monkeypatch)
    db, lines = tmp_path / "traces.db", tmp_path / "spans.jsonl"
    memory = MemoryBackend()
    tracekit.init([f"sqlite:///{db}", ConsoleBackend(), JsonlBackend(lines), memory])
    run_batch()

    check_records(memory.records)
    check_records([json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()])
    with Store(db) as store:
        traces = store.list_traces().traces
        assert len(traces) == 4
        stored = [r for t in traces for r in store.get_trace(t.trace_id)]
    check_records(stored)
    stdout.flush()
    printed = stdout.buffer.getvalue().decode("utf-8")  # strict: nothing unencodable got out
    assert printed.count("TOOL innocent") == 2
    assert f"TOOL lookup {REPLACED}" in printed
    assert f"CHAIN manual {REPLACED}" in printed
    stats = tracekit.stats()
    assert stats["exported"] == 4
    assert not any(stats["dropped"].values())
    assert stats["internal_errors"] == 0


def test_the_two_halves_of_a_surrogate_pair_are_joined(tracekit_capture):
    halves = "\ud83d\ude00"  # one emoji as two code points (surrogatepass decoding makes these)
    with tracekit.span("pair") as span:
        span.set_attribute("emoji", halves)
        span.set_inputs({"text": f"smile {halves}"})
    record = tracekit_capture.spans()[0]
    assert record["attributes"]["emoji"] == "\U0001f600"
    assert record["inputs"] == {"text": "smile \U0001f600"}


@tracekit.tool
def takes(n, nested):
    tracekit.current_span().set_attribute("count", n)
    return n


def run_big_ints():
    innocent("first")
    assert takes(HUGE, {"low": NEGATIVE, "fine": 7}) == HUGE  # the return value is untouched
    with tracekit.span("manual") as span:
        span.set_inputs({"a": HUGE})
        span.set_outputs({"b": NEGATIVE})
        span.set_attribute("big", [HUGE, NEGATIVE, 2**63 - 1])
        span.set_usage(prompt_tokens=HUGE, completion_tokens=3)
    takes(NEGATIVE, {})
    innocent("last")
    assert tracekit.flush()


def check_big_ints(records):
    assert len(records) == 5
    by_name = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
        json.dumps(record, allow_nan=False)  # and printable
    huge, negative = sorted(by_name["takes"], key=lambda r: r["start_ns"])
    assert huge["inputs"] == {"n": HUGE_MARK, "nested": {"low": NEGATIVE_MARK, "fine": 7}}
    assert huge["outputs"] == {"output": HUGE_MARK}
    assert huge["attributes"]["count"] == HUGE_MARK
    assert negative["inputs"] == {"n": NEGATIVE_MARK, "nested": {}}  # the clean hot path
    assert negative["outputs"] == {"output": NEGATIVE_MARK}
    (manual,) = by_name["manual"]
    assert manual["inputs"] == {"a": HUGE_MARK}
    assert manual["outputs"] == {"b": NEGATIVE_MARK}
    assert manual["attributes"]["big"] == [HUGE_MARK, NEGATIVE_MARK, 2**63 - 1]
    assert manual["usage"]["prompt_tokens"] == HUGE_MARK
    assert manual["usage"]["completion_tokens"] == 3


def test_ints_beyond_64_bits_become_markers_and_cost_no_span_on_any_backend(tmp_path, monkeypatch):
    stdout = strict_stdout(monkeypatch)
    db, lines = tmp_path / "traces.db", tmp_path / "spans.jsonl"
    memory = MemoryBackend()
    tracekit.init([f"sqlite:///{db}", ConsoleBackend(), JsonlBackend(lines), memory])
    run_big_ints()

    check_big_ints(memory.records)
    check_big_ints([json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()])
    with Store(db) as store:
        stored = [r for t in store.list_traces().traces for r in store.get_trace(t.trace_id)]
    check_big_ints(stored)
    stdout.flush()
    printed = stdout.buffer.getvalue().decode("utf-8")
    assert printed.count("trace ") == 5
    assert HUGE_MARK in printed
    stats = tracekit.stats()
    assert stats["exported"] == 5
    assert not any(stats["dropped"].values())


def test_ints_just_inside_64_bits_stay_ints(tracekit_capture):
    with tracekit.span("edges", inputs={"max": 2**63 - 1, "min": -(2**63)}) as span:
        span.set_attribute("over", 2**63)
    record = tracekit_capture.spans()[0]
    assert record["inputs"] == {"max": 2**63 - 1, "min": -(2**63)}
    assert record["attributes"]["over"] == "[int: 9223372036854775808]"


class Hostile:
    """Everything raises: str, repr, bool, len, int, attribute access."""

    def __getattribute__(self, name):
        raise RuntimeError("no attributes")

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")

    def __bool__(self):
        raise RuntimeError("no bool")

    def __len__(self):
        raise RuntimeError("no len")

    def __int__(self):
        raise RuntimeError("no int")


class HostileException(Exception):
    def __str__(self):
        raise RuntimeError("no str")


BAD_VALUES = {  # by name: pytest itself would trip over a hostile parameter
    "lone surrogate": LONE,
    "surrogateescape": ESCAPED,
    "huge int": HUGE,
    "negative int": NEGATIVE,
    "nan": math.nan,
    "inf": math.inf,
    "hostile": Hostile(),
    "list": [HUGE, LONE],
    "dict": {HUGE: LONE, LONE: HUGE},
    "nested hostile": {"a": Hostile()},
    "bytes": b"\xff\xfe",
}


SETTERS = {
    "set_inputs": lambda s, v: s.set_inputs(v),
    "set_inputs mapping": lambda s, v: s.set_inputs({"a": v, LONE: v}),
    "set_outputs": lambda s, v: s.set_outputs(v),
    "set_output": lambda s, v: s.set_output(v),
    "set_attribute": lambda s, v: s.set_attribute(v, v),
    "add_attribute": lambda s, v: s.add_attribute("k", v),
    "add_event": lambda s, v: s.add_event(v, {"v": v}, timestamp_ns=v),
    "add_event attributes": lambda s, v: s.add_event("e", v),
    "set_model": lambda s, v: s.set_model(v, param=v),
    "set_usage": lambda s, v: s.set_usage(prompt_tokens=v, completion_tokens=v, extra=v),
    "set_usage total": lambda s, v: s.set_usage(total_tokens=v),
    "record_exception": lambda s, v: s.record_exception(v),
    "record_exception hostile": lambda s, v: s.record_exception(HostileException(v)),
    "add_named_result": lambda s, v: s.add_named_result(v, {"o": v}),
}


@pytest.mark.parametrize("value", list(BAD_VALUES))
@pytest.mark.parametrize("setter", list(SETTERS))
def test_no_setter_raises_for_any_value(tracekit_capture, setter, value):
    with tracekit.span("target") as span:
        SETTERS[setter](span, BAD_VALUES[value])
    (record,) = tracekit_capture.spans()
    assert record["name"] == "target"
    assert_utf8(record)
    json.dumps(record, allow_nan=False)
    assert tracekit.stats()["internal_errors"] == 0


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_the_hand_built_tree_api_takes_any_value(tracekit_capture, name):
    value = BAD_VALUES[name]
    root = tracekit.Span(
        name=value,
        span_kind=tracekit.SpanKind.AGENT,
        attributes={"a": value},
        status_code="ERROR",
        status_message=value,
        inputs={"i": value},
    )
    child = tracekit.Span(name="child", results=[({"in": value}, {"out": value})])
    root.add_child_span(child)
    root.add_child_span(value)  # not a span: ignored
    root.add_named_result({"q": value}, {"a": value})
    tracekit.log(root)
    tracekit.log(value)  # not a span: nothing
    assert len(tracekit_capture.spans()) == 2
    for record in tracekit_capture.spans():
        assert_utf8(record)
        json.dumps(record, allow_nan=False)
    assert tracekit.stats()["internal_errors"] == 0


def test_decorated_calls_take_any_value_and_return_it_unchanged(tracekit_capture):
    @tracekit.trace
    def echo(*args, **kwargs):
        return args

    for value in BAD_VALUES.values():
        assert echo(value, **{LONE: value})[0] is value
    assert len(tracekit_capture.spans()) == len(BAD_VALUES)
    for record in tracekit_capture.spans():
        assert_utf8(record)
    assert tracekit.stats()["internal_errors"] == 0


def unencodable_start(record):
    """A user processor that breaks one record beyond repair (a time that is not a number)."""
    if record["name"] == "broken":
        record["start_ns"] = "yesterday"
    return record


def test_a_record_that_cannot_be_repaired_becomes_a_counted_placeholder(tmp_path, monkeypatch):
    stdout = strict_stdout(monkeypatch)
    lines, db = tmp_path / "spans.jsonl", tmp_path / "traces.db"
    tracekit.init(
        [JsonlBackend(lines), ConsoleBackend(), f"sqlite:///{db}"], redact=unencodable_start
    )

    @tracekit.agent
    def agent():
        innocent("before")
        with tracekit.span("broken", kind="TOOL", inputs={"q": "lost"}) as span:
            span.set_attribute("a", 1)
        innocent("after")

    agent()
    tracekit.flush()
    records = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    assert [r["name"] for r in records] == ["innocent", "broken", "innocent", "agent"]
    agent_record = records[-1]
    broken = records[1]
    # the tree stays whole: ids, parent, name, kind and status are kept
    assert broken["trace_id"] == agent_record["trace_id"]
    assert broken["parent_id"] == agent_record["span_id"]
    assert (broken["kind"], broken["status"]) == ("TOOL", "OK")
    assert broken["end_ns"] >= 0
    assert broken["inputs"] == {"…": "[unencodable: ValueError, then ValueError]"}
    assert "could not be encoded" in broken["attributes"]["tracekit.unencodable"]
    stdout.flush()
    assert "TOOL broken" in stdout.buffer.getvalue().decode("utf-8")
    with Store(db) as store:
        (trace,) = store.list_traces().traces
        stored = {r["name"]: r for r in store.get_trace(trace.trace_id)}
    assert stored["broken"]["parent_id"] == stored["agent"]["span_id"]
    assert trace.span_count == 4
    stats = tracekit.stats()
    assert stats["dropped"]["unencodable"] == 1
    assert stats["exported"] == 3


def test_the_default_store_alone_counts_its_placeholders(tmp_path):
    db = tmp_path / "traces.db"
    tracekit.init(f"sqlite:///{db}", redact=unencodable_start)

    @tracekit.agent
    def agent():
        innocent("before")
        with tracekit.span("broken", kind="TOOL", inputs={"q": "lost"}):
            pass

    agent()
    tracekit.flush()
    with Store(db) as store:
        (trace,) = store.list_traces().traces
        stored = {r["name"]: r for r in store.get_trace(trace.trace_id)}
    assert stored["broken"]["parent_id"] == stored["agent"]["span_id"]
    assert stored["broken"]["inputs"] == {"…": "[unencodable: ValueError, then ValueError]"}
    stats = tracekit.stats()
    assert stats["dropped"]["unencodable"] == 1
    assert stats["exported"] == 2
    assert stats["created"] == stats["exported"] + stats["dropped"]["unencodable"]


def leave_junk(record):
    """A user processor that leaves values JSON has no form for, and a lone surrogate."""
    record["attributes"]["obj"] = object()
    record["attributes"]["set"] = {3, 1, 2}
    record["attributes"][LONE] = ESCAPED
    record["outputs"]["big"] = HUGE
    return record


def test_a_record_a_processor_left_unencodable_is_repaired_on_every_backend(tmp_path, monkeypatch):
    stdout = strict_stdout(monkeypatch)
    db, lines = tmp_path / "traces.db", tmp_path / "spans.jsonl"
    tracekit.init([f"sqlite:///{db}", JsonlBackend(lines), ConsoleBackend()], redact=leave_junk)
    innocent("one")
    innocent("two")
    assert tracekit.flush()
    with Store(db) as store:
        stored = [r for t in store.list_traces().traces for r in store.get_trace(t.trace_id)]
    written = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    for records in (stored, written):
        assert len(records) == 2
        for record in records:
            assert record["attributes"]["set"] == [1, 2, 3]
            assert record["attributes"]["obj"].startswith("<object object")
            assert record["attributes"][REPLACED] == REPLACED
            assert record["outputs"]["big"] == HUGE_MARK
    stdout.flush()
    assert stdout.buffer.getvalue().decode("utf-8").count("TOOL innocent") == 2
    stats = tracekit.stats()
    assert stats["exported"] == 2
    assert not any(stats["dropped"].values())
