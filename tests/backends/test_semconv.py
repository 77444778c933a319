"""The record -> OTel attribute mapping with plain dicts (no OpenTelemetry needed)."""

from __future__ import annotations

import json

from tracekit.backends import _semconv


def llm_record(**extra):
    base = {
        "trace_id": "ab" * 16,
        "span_id": "01" * 8,
        "parent_id": None,
        "name": "chat",
        "kind": "LLM",
        "project": "p",
        "start_ns": 1,
        "end_ns": 2,
        "status": "OK",
        "error": None,
        "inputs": {"messages": [{"role": "user", "content": "Hi"}]},
        "outputs": {"output": "Hello"},
        "model": "some-model",
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        "attributes": {},
        "events": [],
    }
    base.update(extra)
    return base


def test_the_openai_adapters_spans_name_the_provider_in_both_vocabularies():
    attrs = _semconv.span_attributes(llm_record(name="openai.chat.completions.create"), 1000)
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "openai"
    assert attrs["llm.provider"] == attrs["llm.system"] == "openai"
    assert _semconv.is_client_call(llm_record(name="openai.chat.completions.create"))


def test_a_declared_provider_is_used_and_an_unknown_one_is_left_out():
    declared = llm_record(attributes={"ls_provider": "anthropic"})
    assert _semconv.span_attributes(declared, 1000)["gen_ai.provider.name"] == "anthropic"
    own = llm_record(attributes={"gen_ai.provider.name": "mistral_ai"})
    assert _semconv.span_attributes(own, 1000)["gen_ai.system"] == "mistral_ai"
    unknown = _semconv.span_attributes(llm_record(), 1000)
    assert "gen_ai.provider.name" not in unknown
    assert "gen_ai.system" not in unknown
    assert not _semconv.is_client_call(llm_record())  # INTERNAL: no known remote peer


def test_usage_model_and_messages_map_onto_gen_ai_and_openinference():
    attrs = _semconv.span_attributes(llm_record(), 1000)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["openinference.span.kind"] == "LLM"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (3, 5)
    assert attrs["llm.token_count.total"] == 8
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == "some-model"
    assert json.loads(attrs["gen_ai.input.messages"])[0]["role"] == "user"
    assert attrs["llm.input_messages.0.message.content"] == "Hi"


def test_ints_outside_int64_become_strings_so_the_request_stays_valid():
    big, low = 1 << 63, -(1 << 63)
    assert _semconv.attr_value(big, 100) == str(big)
    assert _semconv.attr_value(big - 1, 100) == big - 1
    assert _semconv.attr_value(low, 100) == low
    assert _semconv.attr_value(low - 1, 100) == str(low - 1)
    assert json.loads(_semconv.attr_value([1, big], 100)) == [1, big]  # JSON, not int64s
    assert _semconv.attr_value([1, 2], 100) == [1, 2]
    attrs = _semconv.span_attributes(llm_record(attributes={"seed": 1 << 70}), 1000)
    assert attrs["seed"] == str(1 << 70)


def test_long_strings_are_cut_with_the_marker_and_json_stays_valid():
    assert _semconv.attr_value("x" * 50, 10) == "x" * 10 + "…[truncated: 50 chars]"
    value = _semconv.attr_value({"text": "y" * 500}, 100)
    assert json.loads(value)["text"].startswith("y" * 10)
    assert len(value) < 200


def test_tools_agents_and_errors():
    tool = llm_record(kind="TOOL", name="search", model=None, usage=None, inputs={"q": "x"})
    attrs = _semconv.span_attributes(tool, 1000)
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == attrs["tool.name"] == "search"
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"q": "x"}
    agent = llm_record(kind="AGENT", name="planner", model=None, usage=None)
    assert _semconv.span_attributes(agent, 1000)["gen_ai.agent.name"] == "planner"
    error = {"type": "ValueError", "message": "bad", "stack": "trace"}
    assert _semconv.exception_attributes(error, 1000) == {
        "exception.type": "ValueError",
        "exception.message": "bad",
        "exception.stacktrace": "trace",
    }
    failed = _semconv.span_attributes(llm_record(error=error, status="ERROR"), 1000)
    assert failed["error.type"] == "ValueError"


def test_the_size_estimate_grows_with_the_text():
    small = _semconv.estimated_size({"a": "x"})
    assert _semconv.estimated_size({"a": "x" * 1000}) > small + 1000
