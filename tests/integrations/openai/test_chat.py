"""Chat completions: one LLM span per call, in every mode, with what the call said."""

from __future__ import annotations

import openai
import pytest
from pydantic import BaseModel

import tracekit
from tracekit.backends import MemoryBackend

HAS_CHAT_PARSE = hasattr(openai.resources.chat.completions.Completions, "parse")

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
ANSWER = {
    "message": {"role": "assistant", "content": "Paris is the capital of France."},
    "finish_reason": "stop",
}
USAGE = {
    "prompt_tokens": 21,
    "completion_tokens": 7,
    "total_tokens": 28,
    "cached_tokens": 16,
    "reasoning_tokens": 2,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_CALLS = [
    {"id": "call_paris", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"id": "call_london", "name": "get_weather", "arguments": '{"city": "London"}'},
]
ERRORS = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
}


def chat(c):
    return c.chat.completions.create


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("outcome", ["ok", "error"])
async def test_a_chat_call_is_one_llm_span(capture, caller, stream, outcome):
    model = "gpt-4o-mini" if outcome == "ok" else "error-429"
    kwargs = {"model": model, "messages": MESSAGES, "temperature": 0.2, "max_tokens": 50}
    params = {"temperature": 0.2, "max_tokens": 50}
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
        params.update(stream=True, stream_options={"include_usage": True})

    if outcome == "error":
        exc = await caller.fail(chat, **kwargs)
        assert type(exc) is openai.RateLimitError
    else:
        await caller.run(chat, **kwargs)

    [record] = capture.records
    assert record["name"] == "openai.chat.completions.create"
    assert record["kind"] == "LLM"
    assert record["parent_id"] is None
    assert record["inputs"] == {"messages": MESSAGES}
    assert record["attributes"]["model_parameters"] == params
    assert "tracekit.end_reason" not in record["attributes"]
    if outcome == "error":
        assert record["status"] == "ERROR"
        assert record["error"]["type"] == "RateLimitError"
        assert "Rate limit reached" in record["error"]["message"]
        assert record["attributes"]["openai.status_code"] == 429
        assert record["model"] == "error-429"
        assert record["outputs"] == {}
        assert record["usage"] is None
        return
    assert record["status"] == "OK"
    assert record["error"] is None
    assert record["model"] == "gpt-4o-mini-2024-07-18"
    assert record["attributes"]["openai.request_model"] == "gpt-4o-mini"
    assert record["outputs"] == ANSWER
    assert record["attributes"]["openai.finish_reasons"] == ["stop"]
    expected_id = "chatcmpl-tracekit-stream" if stream else "chatcmpl-tracekit-001"
    assert record["attributes"]["openai.response_id"] == expected_id
    assert record["usage"] == USAGE


@pytest.mark.parametrize("status", sorted(ERRORS))
async def test_each_http_error_is_recorded_as_its_openai_exception(capture, caller, status):
    exc = await caller.fail(chat, model=f"error-{status}", messages=MESSAGES)
    assert type(exc) is ERRORS[status]
    record = capture.span("openai.chat.completions.create")
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == ERRORS[status].__name__
    assert record["attributes"]["openai.status_code"] == status


async def test_the_error_raised_is_the_very_object_openai_raised(capture, caller, monkeypatch):
    """A recorder installed under the adapter sees the same exception the caller catches."""
    seen = []
    resource = type(caller.client.chat.completions)
    original = resource.__dict__["create"]

    if caller.mode == "sync":

        def recording(self, **kwargs):
            try:
                return original.__wrapped__(self, **kwargs)
            except openai.APIError as exc:
                seen.append(exc)
                raise

    else:

        async def recording(self, **kwargs):
            try:
                return await original.__wrapped__(self, **kwargs)
            except openai.APIError as exc:
                seen.append(exc)
                raise

    tracekit.integrations.unpatch(["openai"])
    monkeypatch.setattr(resource, "create", recording)
    tracekit.integrations.get("openai").patch()  # the adapter now wraps the recorder

    exc = await caller.fail(chat, model="error-500", messages=MESSAGES)
    assert seen == [exc]
    assert exc is seen[0]
    assert exc.__traceback__ is not None
    assert capture.span("openai.chat.completions.create")["status"] == "ERROR"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_parallel_tool_calls_are_recorded_in_order(capture, caller, stream):
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "tools": TOOLS, "tool_choice": "auto"}
    if stream:
        kwargs["stream"] = True
    await caller.run(chat, **kwargs)
    record = capture.span("openai.chat.completions.create")
    assert record["outputs"] == {
        "message": {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
        "finish_reason": "tool_calls",
    }
    assert record["attributes"]["openai.finish_reasons"] == ["tool_calls"]
    params = record["attributes"]["model_parameters"]
    assert params["tools"] == TOOLS
    assert params["tool_choice"] == "auto"


def test_request_parameters_are_recorded_and_transport_arguments_never(capture, client):
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.0,
        top_p=0.9,
        max_tokens=64,
        n=1,
        stop=["\n\n"],
        seed=7,
        presence_penalty=openai.NOT_GIVEN,  # openai's "not given": not a parameter
        response_format={"type": "json_object"},
        user="user-42",
        extra_headers={"X-Team-Token": "team-secret-value"},
        extra_query={"tenant": "t-secret"},
        extra_body={"tenant_secret": "b-secret"},
        timeout=30,
    )
    record = capture.span("openai.chat.completions.create")
    assert record["attributes"]["model_parameters"] == {
        "temperature": 0.0,
        "top_p": 0.9,
        "max_tokens": 64,
        "n": 1,
        "stop": ["\n\n"],
        "seed": 7,
        "response_format": {"type": "json_object"},
        "user": "user-42",
    }
    for secret in ("team-secret-value", "t-secret", "b-secret"):
        assert secret not in repr(record)


class Capital(BaseModel):
    city: str
    country: str


def parse_method(c):
    return c.chat.completions.parse if HAS_CHAT_PARSE else c.beta.chat.completions.parse


async def test_parse_records_the_parsed_model_once(capture, caller):
    """``.parse`` is one span with the parsed object (never also a nested ``create`` span)."""
    completion = await caller.run(
        parse_method, model="gpt-4o-mini", messages=MESSAGES, response_format=Capital
    )
    assert completion.choices[0].message.parsed == Capital(city="Paris", country="France")
    [record] = capture.records
    name = (
        "openai.chat.completions.parse" if HAS_CHAT_PARSE else "openai.beta.chat.completions.parse"
    )
    assert record["name"] == name
    assert record["kind"] == "LLM"
    assert record["outputs"]["message"]["parsed"] == {"city": "Paris", "country": "France"}
    response_format = record["attributes"]["model_parameters"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["name"] == "Capital"
    assert response_format["schema"]["required"] == ["city", "country"]
    assert record["usage"]["total_tokens"] == 42


async def test_with_raw_response_is_recorded_and_the_response_left_intact(capture, caller):
    raw = await caller.run(
        lambda c: c.chat.completions.with_raw_response.create,
        model="gpt-4o-mini",
        messages=MESSAGES,
    )
    assert raw.headers["x-request-id"] == "req_tracekit_test"
    completion = raw.parse()
    assert completion is raw.parse()  # the caller gets the object the adapter read
    assert completion.choices[0].message.content == "Paris is the capital of France."
    record = capture.span("openai.chat.completions.create")
    assert record["outputs"] == ANSWER
    assert record["usage"] == USAGE
    assert record["attributes"]["openai.raw_response"] is True
    assert record["attributes"]["openai.status_code"] == 200


def test_a_raw_stream_is_left_unread_for_the_caller(capture, client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    record = capture.span("openai.chat.completions.create")
    assert record["status"] == "OK"
    assert record["outputs"] == {}
    assert record["attributes"]["openai.raw_response"] is True
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Paris is the capital of France."


def test_with_streaming_response_is_recorded_without_reading_the_body(capture, client):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    ) as response:
        record = capture.span("openai.chat.completions.create")
        assert record["attributes"]["openai.raw_response"] is True
        assert record["outputs"] == {}
        assert response.parse().choices[0].message.content == "Paris is the capital of France."


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_call_inside_a_users_llm_function_nests_under_it(capture, caller, stream):
    @tracekit.llm(name="answer")
    async def answer(question):
        kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
        if stream:
            kwargs["stream"] = True
        return await caller.run(chat, **kwargs)

    await answer("Capital of France?")
    capture.assert_tree(
        """
        LLM answer
          LLM openai.chat.completions.create
        """
    )
    outer, inner = capture.span("answer"), capture.span("openai.chat.completions.create")
    assert inner["parent_id"] == outer["span_id"]
    assert outer["usage"] is None  # the innermost span that reports usage owns it


async def test_calls_inside_an_agent_nest_under_it(capture, caller):
    @tracekit.agent(name="planner")
    async def planner():
        await caller.run(chat, model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)
        await caller.run(chat, model="gpt-4o-mini", messages=MESSAGES, stream=True)
        with tracekit.span("check", kind="TOOL"):
            pass

    await planner()
    capture.assert_tree(
        """
        AGENT planner
          LLM openai.chat.completions.create
          LLM openai.chat.completions.create
          TOOL check
        """
    )
    assert len(capture.trace_ids()) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_with_content_capture_off_only_metadata_is_recorded(client, stream):
    backend = MemoryBackend()
    tracekit.init(backend, capture_inputs=False, capture_outputs=False)
    tracekit.integrations.autopatch(["openai"])
    result = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.2,
        stream=stream,
        stream_options={"include_usage": True} if stream else openai.NOT_GIVEN,
    )
    if stream:
        list(result)
    tracekit.flush()
    [record] = backend.records
    assert record["inputs"] == {}
    assert record["outputs"] == {}
    assert record["model"] == "gpt-4o-mini-2024-07-18"
    assert record["usage"] == USAGE
    assert record["attributes"]["model_parameters"]["temperature"] == 0.2
    assert record["attributes"]["openai.finish_reasons"] == ["stop"]
