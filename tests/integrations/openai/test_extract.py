"""Extraction and accumulation as pure functions, fed plain dicts (the shapes of the API)."""

from __future__ import annotations

import openai
from tracekit_openai._accumulate import ChatStream, ResponsesStream, write
from tracekit_openai._extract import (
    CHAT_INPUTS,
    RESPONSES_INPUTS,
    Usage,
    chat_found,
    describe_format,
    embeddings_found,
    request_inputs,
    request_params,
    responses_found,
)

import tracekit


def test_inputs_params_and_what_is_never_a_parameter():
    kwargs = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "tools": [],
        "seed": None,
        "top_p": openai.NOT_GIVEN,
        "stop": getattr(openai, "omit", openai.NOT_GIVEN),  # omit: openai >= 1.98
        "extra_headers": {"Authorization": "Bearer x"},
        "extra_query": {"k": "v"},
        "extra_body": {"k": "v"},
        "timeout": 3,
    }
    assert request_inputs(kwargs, CHAT_INPUTS) == {"messages": [{"role": "user", "content": "hi"}]}
    assert request_params(kwargs, CHAT_INPUTS) == {"temperature": 0.3, "tools": []}
    assert request_inputs({"input": "x", "instructions": None}, RESPONSES_INPUTS) == {"input": "x"}


def test_a_format_class_is_described_by_name_and_schema():
    class NotPydantic:
        pass

    assert describe_format(NotPydantic) == {"type": "json_schema", "name": "NotPydantic"}
    assert describe_format({"type": "json_object"}) == {"type": "json_object"}


def test_several_choices_are_kept_apart():
    found = chat_found(
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "a"},
                    "finish_reason": "stop",
                },
                {
                    "index": 1,
                    "message": {"role": "assistant", "content": None, "refusal": "no"},
                    "finish_reason": "content_filter",
                },
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": None, "total_tokens": 5},
        }
    )
    assert found.outputs == {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"},
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "no"},
                "finish_reason": "content_filter",
            },
        ]
    }
    assert found.finish_reasons == ["stop", "content_filter"]
    assert found.usage == Usage(3, None, 5, {})


def test_custom_tool_calls_and_the_deprecated_function_call():
    found = chat_found(
        {
            "choices": [
                {
                    "message": {
                        "content": None,
                        "tool_calls": [
                            {"id": "t1", "type": "custom", "custom": {"name": "sql", "input": "x"}}
                        ],
                        "function_call": {"name": "f", "arguments": "{}"},
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    message = found.outputs["message"]
    assert message["tool_calls"] == [
        {"id": "t1", "type": "custom", "name": "sql", "arguments": "x"}
    ]
    assert message["function_call"] == {"name": "f", "arguments": "{}"}


def tool_delta(index, call_id=None, name=None, arguments=None, choice=0):
    function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
    call = {"index": index, "function": function, **({"id": call_id} if call_id else {})}
    return {"choices": [{"index": choice, "delta": {"tool_calls": [call]}}]}


def test_a_chat_stream_folds_interleaved_parallel_tool_calls_and_choices():
    acc = ChatStream("gpt-4o")
    chunks = [
        {
            "id": "s1",
            "model": "gpt-4o-x",
            "choices": [{"index": 0, "delta": {"role": "assistant"}}],
        },
        tool_delta(1, "b", "g", "{"),
        tool_delta(0, "a", "f", "[1"),
        tool_delta(1, name="g", arguments="}"),
        tool_delta(0, arguments="]"),
        {"choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": "stop"}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    for chunk in chunks:
        acc.add(chunk)
    found = acc.found()
    assert found.outputs["choices"][0]["message"]["tool_calls"] == [
        {"id": "a", "name": "f", "arguments": "[1]"},
        {"id": "b", "name": "g", "arguments": "{}"},  # a repeated name is not doubled
    ]
    assert found.outputs["choices"][1]["message"]["content"] == "other"
    assert found.finish_reasons == ["tool_calls", "stop"]
    assert (found.response_id, found.model, found.usage) == ("s1", "gpt-4o-x", None)


def test_an_empty_chat_stream_has_no_outputs():
    assert ChatStream(None).found().outputs is None


def test_responses_incomplete_failed_and_tool_items():
    base = {"id": "r", "model": "m"}
    incomplete = responses_found(
        {**base, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    )
    assert incomplete.finish_reasons == ["max_output_tokens"]
    assert incomplete.outputs["message"]["content"] is None
    failed = responses_found({**base, "status": "failed", "error": {"message": "boom"}})
    assert failed.error == "boom"
    tools = responses_found(
        {
            **base,
            "status": "completed",
            "output": [
                {"type": "web_search_call", "id": "ws1"},
                {"type": "custom_tool_call", "call_id": "c1", "name": "sql", "input": "q"},
                {"type": "message", "content": [{"type": "refusal", "refusal": "no"}]},
            ],
        }
    )
    assert tools.outputs["message"]["tool_calls"] == [
        {"id": "ws1", "type": "web_search_call"},
        {"id": "c1", "type": "custom_tool_call", "name": "sql", "arguments": "q"},
    ]
    assert tools.outputs["message"]["refusal"] == "no"


def test_a_responses_stream_error_event_is_kept():
    acc = ResponsesStream("m")
    acc.add({"type": "response.created", "response": {"id": "r1", "model": "m-1"}})
    acc.add({"type": "response.output_text.delta", "delta": "Hel"})
    acc.add({"type": "error", "message": "overloaded"})
    found = acc.found()
    assert found.outputs == {"message": {"role": "assistant", "content": "Hel"}}
    assert (found.response_id, found.model, found.error) == ("r1", "m-1", "overloaded")


def test_base64_embeddings_have_no_dimensions_to_count():
    found = embeddings_found({"data": [{"embedding": "AAAA"}], "model": "e", "usage": None})
    assert found.outputs == {"embeddings": 1, "dimensions": None}
    assert found.usage is None


def test_a_failed_response_marks_the_span_as_an_error(tracekit_capture):
    with tracekit.span("call", kind="LLM") as span:
        write(span, responses_found({"status": "failed", "error": {"message": "boom"}}), "m")
    record = tracekit_capture.span("call")
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "ResponseFailed"
    assert record["error"]["message"] == "boom"
