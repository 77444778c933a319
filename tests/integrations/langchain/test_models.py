"""Chat models and LLMs: model name, invocation parameters, token usage, streamed tokens."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from lc_helpers import call

USAGE = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}


class NamedChatModel(FakeListChatModel):
    """A fake chat model that reports a model name and parameters, as provider models do."""

    model_name: str = "fake-model-1"
    temperature: float = 0.2
    api_key: str = "sk-tracekit-test-Qm7Zx2Lp9Vw4Rt6Yk3Nb8Hc5"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "temperature": self.temperature,
            "api_key": self.api_key,
        }


class UsageChatModel(GenericFakeChatModel):
    """A fake chat model that, like provider models, streams its usage on the last chunk."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        words = "hello there world".split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=word if last else word + " ",
                    usage_metadata=USAGE if last else None,
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


async def test_model_name_and_parameters_are_recorded(capture, mode):
    await call(NamedChatModel(responses=["hi"]), mode, "hello")
    record = capture.span("NamedChatModel")
    assert record["kind"] == "LLM"
    assert record["model"] == "fake-model-1"
    params = record["attributes"]["model_parameters"]
    assert params["temperature"] == 0.2
    assert "api_key" not in params
    assert "sk-tracekit-test" not in str(record)


async def test_usage_metadata_of_the_message_is_the_span_usage(capture, mode):
    model = UsageChatModel(
        messages=iter([AIMessage(content="hello there world", usage_metadata=USAGE)])
    )
    await call(model, mode, "hi")
    record = capture.span("UsageChatModel")
    assert record["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert record["outputs"]["message"]["content"] == "hello there world"


async def test_streamed_chunks_are_accumulated_and_counted(capture):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="one two three")]))
    chunks = [chunk.content for chunk in model.stream("hi")]
    assert "".join(chunks) == "one two three"
    record = capture.span("GenericFakeChatModel")
    assert record["outputs"]["message"]["content"] == "one two three"
    assert record["attributes"]["langchain.streamed_chunks"] == len(chunks)


async def test_a_model_error_is_recorded(capture):
    model = GenericFakeChatModel(messages=iter([]))  # exhausted: the call raises StopIteration
    with pytest.raises(StopIteration):
        model.invoke("hi")
    record = capture.span("GenericFakeChatModel")
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "StopIteration"
