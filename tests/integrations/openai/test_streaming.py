"""Streamed chat completions: the span ends exactly once, however the stream ends."""

from __future__ import annotations

import gc

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
FULL_TEXT = "Paris is the capital of France."


def stream_kwargs(**extra):
    return {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, **extra}


def content(record):
    return record["outputs"]["message"]["content"]


def chat_helper(client):
    """``chat.completions.stream()``; in ``beta`` in older openai releases."""
    completions = client.chat.completions
    return completions if hasattr(completions, "stream") else client.beta.chat.completions


@pytest.mark.parametrize("include_usage", [True, False], ids=["include_usage", "no_usage"])
async def test_usage_comes_from_the_final_chunk_only_when_asked_for(
    capture, caller, server, include_usage
):
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = await caller.run(lambda c: c.chat.completions.create, **stream_kwargs(**extra))
    assert (chunks[-1].usage is not None) is include_usage  # what the server sent
    record = capture.span("openai.chat.completions.create")
    assert content(record) == FULL_TEXT
    assert record["status"] == "OK"
    if include_usage:
        assert record["usage"] == {
            "prompt_tokens": 21,
            "completion_tokens": 7,
            "total_tokens": 28,
            "cached_tokens": 16,
            "reasoning_tokens": 2,
        }
    else:
        assert record["usage"] is None


def test_a_stream_closed_early_ends_its_span_once_as_closed(capture, client):
    stream = client.chat.completions.create(**stream_kwargs())
    chunks = iter(stream)
    next(chunks)  # the role chunk
    next(chunks)  # "Paris"
    stream.close()
    stream.close()
    [record] = capture.records
    assert record["status"] == "OK"
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert content(record) == "Paris"
    assert stream.response.is_closed


async def test_an_async_stream_closed_early_ends_its_span_once_as_closed(capture, async_client):
    stream = await async_client.chat.completions.create(**stream_kwargs())
    async for _ in stream:
        break
    await stream.close()
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert record["status"] == "OK"


def test_an_abandoned_stream_ends_its_span_when_collected(capture, client):
    stream = client.chat.completions.create(**stream_kwargs())
    next(iter(stream))
    assert capture.records == []  # still open: the caller holds the stream
    del stream
    gc.collect()
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert record["status"] == "OK"


async def test_an_abandoned_async_stream_ends_its_span_when_collected(capture, async_client):
    stream = await async_client.chat.completions.create(**stream_kwargs())
    await stream.__anext__()
    del stream
    gc.collect()
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"


@pytest.mark.parametrize("consume", ["all", "one"])
def test_a_stream_used_as_a_context_manager(capture, client, consume):
    with client.chat.completions.create(**stream_kwargs()) as stream:
        for _ in stream:
            if consume == "one":
                break
    [record] = capture.records
    if consume == "all":
        assert "tracekit.end_reason" not in record["attributes"]
        assert content(record) == FULL_TEXT
    else:
        assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert stream.response.is_closed


@pytest.mark.parametrize("consume", ["all", "one"])
async def test_an_async_stream_used_as_a_context_manager(capture, async_client, consume):
    async with await async_client.chat.completions.create(**stream_kwargs()) as stream:
        async for _ in stream:
            if consume == "one":
                break
    [record] = capture.records
    if consume == "all":
        assert content(record) == FULL_TEXT
        assert "tracekit.end_reason" not in record["attributes"]
    else:
        assert record["attributes"]["tracekit.end_reason"] == "closed"


async def test_an_error_in_the_middle_of_a_stream_is_recorded_and_raised(capture, caller):
    with pytest.raises(openai.APIError, match="while streaming") as raised:
        await caller.run(lambda c: c.chat.completions.create, **stream_kwargs(model="stream-error"))
    [record] = capture.records
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == type(raised.value).__name__
    assert content(record) == "Paris"  # what arrived before the error


def test_the_stream_still_behaves_as_openais_stream(capture, client):
    stream = client.chat.completions.create(**stream_kwargs())
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"] == "text/event-stream"
    chunks = list(stream)
    assert [type(c).__name__ for c in chunks] == ["ChatCompletionChunk"] * len(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FULL_TEXT
    assert list(stream) == []  # exhausted, as openai's own stream is
    assert len(capture.records) == 1


async def test_the_async_stream_still_behaves_as_openais_stream(capture, async_client):
    stream = await async_client.chat.completions.create(**stream_kwargs())
    assert isinstance(stream, openai.AsyncStream)
    assert stream.response.status_code == 200
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FULL_TEXT
    assert len(capture.records) == 1


def test_the_stream_helper_is_traced_through_create(capture, client):
    with chat_helper(client).stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == FULL_TEXT
    [record] = capture.records
    assert record["name"] == "openai.chat.completions.create"
    assert content(record) == FULL_TEXT
    assert record["attributes"]["model_parameters"]["stream"] is True


def test_leaving_the_stream_helper_early_ends_the_span_at_once(capture, client):
    with chat_helper(client).stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _ in stream:
            break
    [record] = capture.records  # ended by the helper's close, not by garbage collection
    assert record["attributes"]["tracekit.end_reason"] == "closed"


async def test_leaving_the_async_stream_helper_early_ends_the_span_at_once(capture, async_client):
    async with chat_helper(async_client).stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        async for _ in stream:
            break
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"


def test_closing_the_http_response_ends_the_span(capture, client):
    stream = client.chat.completions.create(**stream_kwargs())
    next(iter(stream))
    stream.response.close()
    [record] = capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert stream.response.is_closed


def test_streams_open_at_once_are_recorded_apart(capture, client):
    first = client.chat.completions.create(**stream_kwargs())
    second = client.chat.completions.create(
        **stream_kwargs(tools=[{"type": "function", "function": {"name": "get_weather"}}])
    )
    list(second)
    list(first)
    records = capture.spans("openai.chat.completions.create")
    assert [r["outputs"]["finish_reason"] for r in records] == ["tool_calls", "stop"]
    assert records[0]["parent_id"] is None
    assert records[1]["parent_id"] is None
