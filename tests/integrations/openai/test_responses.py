"""The Responses API: create (streamed or not) and parse, sync and async."""

from __future__ import annotations

import importlib.util

import openai
import pytest
from pydantic import BaseModel

import tracekit

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openai.resources.responses") is None,
    reason="this openai has no Responses API (< 1.66)",
)

ANSWER = {
    "message": {"role": "assistant", "content": "Paris is the capital of France."},
    "finish_reason": "completed",
}
USAGE = {
    "prompt_tokens": 18,
    "completion_tokens": 9,
    "total_tokens": 27,
    "cached_tokens": 4,
    "reasoning_tokens": 2,
}
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def responses(c):
    return c.responses.create


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("outcome", ["ok", "error"])
async def test_a_responses_call_is_one_llm_span(capture, caller, stream, outcome):
    kwargs = {
        "model": "gpt-4o-mini" if outcome == "ok" else "error-401",
        "input": "Capital of France?",
        "instructions": "Answer in one sentence.",
        "max_output_tokens": 100,
    }
    if stream:
        kwargs["stream"] = True
    if outcome == "error":
        exc = await caller.fail(responses, **kwargs)
        assert type(exc) is openai.AuthenticationError
    else:
        result = await caller.run(responses, **kwargs)
        if stream:
            assert [e.type for e in result][-1] == "response.completed"
        else:
            assert result.output_text == "Paris is the capital of France."

    [record] = capture.records
    assert record["name"] == "openai.responses.create"
    assert record["kind"] == "LLM"
    assert record["inputs"] == {
        "input": "Capital of France?",
        "instructions": "Answer in one sentence.",
    }
    params = record["attributes"]["model_parameters"]
    assert params["max_output_tokens"] == 100
    assert params.get("stream", False) is stream
    if outcome == "error":
        assert record["status"] == "ERROR"
        assert record["error"]["type"] == "AuthenticationError"
        assert record["attributes"]["openai.status_code"] == 401
        return
    assert record["status"] == "OK"
    assert record["model"] == "gpt-4o-mini-2024-07-18"
    assert record["outputs"] == ANSWER
    assert record["usage"] == USAGE
    expected_id = "resp_tracekit_stream" if stream else "resp_tracekit_001"
    assert record["attributes"]["openai.response_id"] == expected_id
    assert record["attributes"]["openai.finish_reasons"] == ["completed"]


async def test_function_calls_are_recorded(capture, caller):
    await caller.run(
        responses,
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "Weather in Paris and London?"}],
        tools=TOOLS,
    )
    record = capture.span("openai.responses.create")
    assert record["inputs"]["input"] == [
        {"role": "user", "content": "Weather in Paris and London?"}
    ]
    assert record["outputs"]["message"]["tool_calls"] == [
        {"id": "call_paris", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_london", "name": "get_weather", "arguments": '{"city": "London"}'},
    ]
    assert record["attributes"]["model_parameters"]["tools"] == TOOLS


class Capital(BaseModel):
    city: str
    country: str


async def test_parse_records_the_parsed_output(capture, caller):
    response = await caller.run(
        lambda c: c.responses.parse, model="gpt-4o-mini", input="Capital?", text_format=Capital
    )
    assert response.output_parsed == Capital(city="Paris", country="France")
    [record] = capture.records
    assert record["name"] == "openai.responses.parse"
    assert record["outputs"]["message"]["parsed"] == {"city": "Paris", "country": "France"}
    assert record["attributes"]["model_parameters"]["text_format"]["name"] == "Capital"


def test_a_responses_stream_closed_early_keeps_the_text_so_far(capture, client):
    stream = client.responses.create(model="gpt-4o-mini", input="Capital?", stream=True)
    for event in stream:
        if event.type == "response.output_text.delta":
            break
    stream.close()
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert record["outputs"] == {"message": {"role": "assistant", "content": "Paris"}}
    assert record["attributes"]["openai.response_id"] == "resp_tracekit_stream"
    assert record["usage"] is None  # usage comes with response.completed


async def test_the_stream_helper_is_traced_once(capture, async_client):
    async with async_client.responses.stream(model="gpt-4o-mini", input="Capital?") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "Paris is the capital of France."
    [record] = capture.records
    assert record["name"] == "openai.responses.create"
    assert record["outputs"] == ANSWER


def test_leaving_the_stream_helper_early_ends_the_span_at_once(capture, client):
    with client.responses.stream(model="gpt-4o-mini", input="Capital?") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert record["outputs"]["message"]["content"] == "Paris"


async def test_a_responses_call_nests_under_the_current_span(capture, caller):
    with tracekit.span("turn", kind="AGENT"):
        await caller.run(responses, model="gpt-4o-mini", input="Capital?", stream=True)
    capture.assert_tree(
        """
        AGENT turn
          LLM openai.responses.create
        """
    )
