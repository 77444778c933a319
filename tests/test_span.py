"""The span record, manual spans, and the seed's hand-built tree API."""

from __future__ import annotations

import json
import re
import time

import pytest

import tracekit
from tracekit import _record

RECORD_KEYS = [
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "project",
    "start_ns",
    "end_ns",
    "status",
    "error",
    "inputs",
    "outputs",
    "model",
    "usage",
    "attributes",
    "events",
]


def test_record_has_exactly_the_design_fields(tracekit_capture):
    @tracekit.agent
    def run(q):
        return child(q)

    @tracekit.tool
    def child(q):
        return q

    before = time.time_ns()
    run("x")
    after = time.time_ns()
    child_record, root = tracekit_capture.records
    for record in (root, child_record):
        assert list(record) == RECORD_KEYS == list(_record.RECORD_KEYS)  # DESIGN's, one definition
        assert re.fullmatch(r"[0-9a-f]{32}", record["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{16}", record["span_id"])
        assert before <= record["start_ns"] <= record["end_ns"] <= after
        assert record["project"] == "default"
        assert record["status"] == "OK"
        assert record["error"] is None
        assert record["model"] is None
        assert record["usage"] is None
        assert record["events"] == []
        json.dumps(record, allow_nan=False)  # JSON-safe as it is
    assert root["parent_id"] is None
    assert child_record["parent_id"] == root["span_id"]
    assert child_record["trace_id"] == root["trace_id"]


def test_deterministic_fixture_gives_sequential_ids_and_clock(tracekit_deterministic):
    @tracekit.trace
    def f():
        return 1

    f()
    (record,) = tracekit_deterministic.records
    assert record["trace_id"] == "0" * 31 + "1"
    assert record["span_id"] == "0" * 15 + "2"
    assert record["end_ns"] - record["start_ns"] == 1_000_000


def test_project_is_recorded(tracekit_capture):
    tracekit.init(tracekit_capture.backend, project="search-bot")

    @tracekit.trace
    def f():
        return 1

    f()
    assert tracekit_capture.records[0]["project"] == "search-bot"


def test_manual_span_with_every_setter(tracekit_capture):
    with tracekit.span(
        "retrieve", kind="RETRIEVER", inputs={"query": "q"}, metadata={"index": "docs"}
    ) as s:
        assert s.is_recording
        s.set_model("gpt-4o-mini", temperature=0.3, max_tokens=100)
        s.set_usage(prompt_tokens=12, completion_tokens=3, cached_tokens=4)
        s.set_attribute("hits", 2)
        s.add_event("cache.miss", {"key": "q"})
        s.set_outputs({"documents": ["a", "b"]})
    (record,) = tracekit_capture.records
    assert record["name"] == "retrieve"
    assert record["kind"] == "RETRIEVER"
    assert record["inputs"] == {"query": "q"}
    assert record["outputs"] == {"documents": ["a", "b"]}
    assert record["model"] == "gpt-4o-mini"
    assert record["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "cached_tokens": 4,
    }
    assert record["attributes"] == {
        "index": "docs",
        "model_parameters": {"temperature": 0.3, "max_tokens": 100},
        "hits": 2,
    }
    (event,) = record["events"]
    assert event["name"] == "cache.miss"
    assert event["attributes"] == {"key": "q"}
    assert record["start_ns"] <= event["time_ns"] <= record["end_ns"]


def test_set_output_and_explicit_total(tracekit_capture):
    with tracekit.span("llm", kind=tracekit.SpanKind.LLM) as s:
        s.set_output("answer")
        s.set_usage(prompt_tokens=1, completion_tokens=2, total_tokens=10)
    record = tracekit_capture.records[0]
    assert record["outputs"] == {"output": "answer"}
    assert record["usage"]["total_tokens"] == 10


def test_manual_spans_nest_with_decorated_functions(tracekit_capture):
    @tracekit.tool
    def inner():
        return 1

    @tracekit.agent
    def outer():
        with tracekit.span("step"):
            inner()

    outer()
    tracekit_capture.assert_tree(
        """
        AGENT outer
          CHAIN step
            TOOL inner
        """
    )


def test_manual_span_records_the_exception_and_lets_it_propagate(tracekit_capture):
    with pytest.raises(ZeroDivisionError), tracekit.span("divide"):
        1 / 0  # noqa: B018
    record = tracekit_capture.records[0]
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "ZeroDivisionError"


async def test_async_with_span(tracekit_capture):
    async with tracekit.span("async-step") as s:
        s.set_output(1)
        assert tracekit.current_span() is s
    assert tracekit.current_span().is_recording is False
    assert tracekit_capture.records[0]["outputs"] == {"output": 1}


def test_record_exception_marks_error_without_raising(tracekit_capture):
    with tracekit.span("tolerant") as s:
        try:
            raise TimeoutError("slow")
        except TimeoutError as exc:
            s.record_exception(exc)
    record = tracekit_capture.records[0]
    assert record["status"] == "ERROR"
    assert record["error"]["message"] == "slow"


def test_setters_after_end_are_ignored(tracekit_capture):
    with tracekit.span("done") as s:
        pass
    s.set_output("late")
    s.set_attribute("late", 1)
    record = tracekit_capture.records[0]
    assert record["outputs"] == {}
    assert record["attributes"] == {}


def test_span_when_tracing_is_off_yields_a_non_recording_span():
    with tracekit.span("off") as s:
        assert s.is_recording is False
        s.set_output("ignored")


# -- the seed's tree API ----------------------------------------------------------------


def test_wandb_prompts_tutorial_code_runs_unchanged(tracekit_capture):
    """The W&B Prompts "Trace" tutorial, with only the import changed."""
    import tracekit as wandb_trace  # the only change: `from wandb.sdk.data_types import trace_tree`

    parent = wandb_trace.Span(name="Example Span", span_kind=wandb_trace.SpanKind.AGENT)
    child = wandb_trace.Span(name="Tool 1", span_kind=wandb_trace.SpanKind.TOOL)
    child.add_named_result({"input": "search: google founded in year"}, {"response": "1998"})
    parent.add_child_span(child)
    child2 = wandb_trace.Span(name="LLM 1", span_kind=wandb_trace.SpanKind.LLM)
    child2.add_named_result({"input": "calculate: 2023 - 1998"}, {"response": "25"})
    parent.add_child_span(child2)
    parent.add_named_result({"user": "calculate: 2023 - 1998"}, {"response": "25 years old"})
    wandb_trace.log(parent)

    tracekit_capture.assert_tree(
        """
        AGENT Example Span
          TOOL Tool 1
          LLM LLM 1
        """
    )
    root = tracekit_capture.span("Example Span")
    tool = tracekit_capture.span("Tool 1")
    assert root["inputs"] == {"user": "calculate: 2023 - 1998"}
    assert root["outputs"] == {"response": "25 years old"}
    assert tool["inputs"] == {"input": "search: google founded in year"}
    assert tool["outputs"] == {"response": "1998"}
    assert tool["parent_id"] == root["span_id"]
    assert {r["trace_id"] for r in tracekit_capture.records} == {root["trace_id"]}
    assert all(r["end_ns"] >= r["start_ns"] for r in tracekit_capture.records)
    assert root["end_ns"] >= tool["end_ns"]


def test_seed_constructor_arguments(tracekit_capture):
    child = tracekit.Span(
        name="failed tool", span_kind="TOOL", status_code="ERROR", status_message="boom"
    )
    root = tracekit.Span(
        name="root",
        span_kind=tracekit.SpanKind.CHAIN,
        start_time_ms=1_700_000_000_000,
        end_time_ms=1_700_000_001_500,
        attributes={"model": "demo"},
        child_spans=[child],
    )
    root.add_attribute("extra", True)
    tracekit.log(root)
    root_record = tracekit_capture.span("root")
    assert root_record["start_ns"] == 1_700_000_000_000_000_000
    assert root_record["end_ns"] == 1_700_000_001_500_000_000
    assert root_record["attributes"] == {"model": "demo", "extra": True}
    failed = tracekit_capture.span("failed tool")
    assert failed["status"] == "ERROR"
    assert failed["error"]["message"] == "boom"


def test_named_results_merge_in_order(tracekit_capture):
    span = tracekit.Span(name="multi")
    span.add_named_result({"a": 1}, {"x": 1})
    span.add_named_result({"b": 2}, {"x": 2})
    tracekit.log(span)
    record = tracekit_capture.records[0]
    assert record["inputs"] == {"a": 1, "b": 2}
    assert record["outputs"] == {"x": 2}


def test_logging_a_tree_twice_records_it_once(tracekit_capture):
    span = tracekit.Span(name="once")
    tracekit.log(span)
    tracekit.log(span)
    assert len(tracekit_capture.records) == 1


def test_log_inside_a_span_nests_the_tree_under_it(tracekit_capture):
    @tracekit.agent
    def run():
        tracekit.log(tracekit.Span(name="hand-built", span_kind="TOOL"))

    run()
    assert (
        tracekit_capture.span("hand-built")["parent_id"] == tracekit_capture.span("run")["span_id"]
    )


def test_log_before_init_does_nothing():
    tracekit.log(tracekit.Span(name="ignored"))
    assert tracekit.stats()["created"] == 0


def test_content_capture_switches_govern_manual_setters_too(tracekit_capture):
    """What adapters record goes through the same switches as decorators."""
    tracekit.init(tracekit_capture.backend, capture_inputs=False, capture_outputs=False)
    with tracekit.span("call", kind="LLM", inputs={"prompt": "secret plan"}) as s:
        s.set_inputs({"prompt": "secret plan"})
        s.set_outputs({"answer": "classified"})
        s.set_output("classified")
        s.set_model("m", temperature=0)
        s.set_usage(prompt_tokens=1, completion_tokens=2)
    seed = tracekit.Span(name="seed")
    seed.add_named_result({"q": "secret"}, {"a": "classified"})
    tracekit.log(seed)
    for record in tracekit_capture.records:
        assert record["inputs"] == {}
        assert record["outputs"] == {}
    assert tracekit_capture.span("call")["usage"]["total_tokens"] == 3  # metadata still kept
