"""Embeddings (kind EMBEDDING) and the Azure clients, which share the patched resources."""

from __future__ import annotations

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
API_VERSION = "2024-10-21"


def embeddings(c):
    return c.embeddings.create


@pytest.mark.parametrize("encoding", ["default", "float"])
async def test_an_embeddings_call_is_one_embedding_span(capture, caller, encoding):
    kwargs = {"model": "text-embedding-3-small", "input": ["first text", "second text"]}
    if encoding == "float":
        kwargs["encoding_format"] = "float"
    result = await caller.run(embeddings, **kwargs)
    assert result.data[0].embedding == [0.25, -0.5, 0.75, 1.0]
    [record] = capture.records
    assert record["name"] == "openai.embeddings.create"
    assert record["kind"] == "EMBEDDING"
    assert record["status"] == "OK"
    assert record["model"] == "text-embedding-3-small"
    assert record["inputs"] == {"input": ["first text", "second text"]}
    assert record["outputs"] == {"embeddings": 2, "dimensions": 4}  # never the vectors
    assert record["usage"] == {"prompt_tokens": 8, "completion_tokens": 0, "total_tokens": 8}
    params = record["attributes"].get("model_parameters", {})
    assert params == ({"encoding_format": "float"} if encoding == "float" else {})


async def test_an_embeddings_error_is_recorded_and_raised(capture, caller):
    exc = await caller.fail(embeddings, model="error-400", input="text")
    assert type(exc) is openai.BadRequestError
    record = capture.span("openai.embeddings.create")
    assert record["kind"] == "EMBEDDING"
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "BadRequestError"


@pytest.fixture
def azure_client(server, planted_key):
    with openai.AzureOpenAI(
        azure_endpoint=server.endpoint, api_version=API_VERSION, api_key=planted_key, max_retries=0
    ) as c:
        yield c


@pytest.fixture
async def async_azure_client(server, planted_key):
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=server.endpoint, api_version=API_VERSION, api_key=planted_key, max_retries=0
    ) as c:
        yield c


@pytest.fixture(params=["sync", "async"])
def azure(request, azure_client, async_azure_client):
    return azure_client if request.param == "sync" else async_azure_client


async def _run(call):
    result = call
    if hasattr(result, "__await__"):
        result = await result
    if hasattr(result, "__aiter__"):
        return [chunk async for chunk in result]
    if hasattr(result, "__next__"):
        return list(result)
    return result


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_azure_chat_is_recorded_like_openai(capture, azure, server, planted_key, stream):
    await _run(
        azure.chat.completions.create(model="my-gpt4o-deployment", messages=MESSAGES, stream=stream)
    )
    [record] = capture.records
    assert record["name"] == "openai.chat.completions.create"
    assert record["kind"] == "LLM"
    assert record["model"] == "gpt-4o-mini-2024-07-18"  # the model behind the deployment
    assert record["attributes"]["openai.request_model"] == "my-gpt4o-deployment"
    assert record["outputs"]["message"]["content"] == "Paris is the capital of France."
    [request] = server.requests
    assert request["path"].startswith("/openai/deployments/my-gpt4o-deployment/chat/completions")
    assert f"api-version={API_VERSION}" in request["path"]
    assert request["headers"]["api-key"] == planted_key
    assert planted_key not in repr(record)


async def test_azure_embeddings_are_recorded(capture, azure):
    await _run(azure.embeddings.create(model="my-embedding-deployment", input="text"))
    record = capture.span("openai.embeddings.create")
    assert record["kind"] == "EMBEDDING"
    assert record["usage"]["prompt_tokens"] == 8


async def test_an_azure_error_is_recorded_and_raised(capture, azure):
    with pytest.raises(openai.RateLimitError):
        await _run(azure.chat.completions.create(model="error-429", messages=MESSAGES))
    assert capture.span("openai.chat.completions.create")["status"] == "ERROR"
