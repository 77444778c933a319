"""A model's own request (an OpenAI call, here a decorated function) nests under its span."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LLM, BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from lc_helpers import call, outline, shape

import tracekit


@tracekit.llm
def provider_request(prompt: str) -> str:
    """Stands in for the provider client call a real model makes (OpenAI's create)."""
    return f"echo: {prompt}"


@tracekit.llm
async def aprovider_request(prompt: str) -> str:
    return f"echo: {prompt}"


class RequestingChatModel(BaseChatModel):
    """A chat model that, like ChatOpenAI, makes its request inside ``_generate``."""

    @property
    def _llm_type(self) -> str:
        return "requesting"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        text = provider_request(str(messages[-1].content))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        text = await aprovider_request(str(messages[-1].content))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class RequestingLLM(LLM):
    """A plain LLM making its request inside ``_call``."""

    @property
    def _llm_type(self) -> str:
        return "requesting-llm"

    def _call(self, prompt: str, stop=None, run_manager=None, **kwargs: Any) -> str:
        return provider_request(prompt)


def request_name(mode):
    return "aprovider_request" if mode in ("ainvoke", "astream") else "provider_request"


async def test_a_chat_models_request_nests_under_the_chat_model(capture, mode):
    chain = RequestingChatModel() | (lambda m: m.content)
    await call(chain, mode, "hi")
    assert shape(capture) == outline(f"""
        CHAIN RunnableSequence
          LLM RequestingChatModel
            LLM {request_name(mode)}
          CHAIN RunnableLambda
    """)


async def test_an_llms_request_nests_under_the_llm(capture, mode):
    await call(RequestingLLM(), mode, "hi")
    assert shape(capture) == outline("""
        LLM RequestingLLM
          LLM provider_request
    """)


class StreamingRequestingChatModel(RequestingChatModel):
    """A chat model that streams natively, making its request in ``_stream``/``_astream``."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        text = provider_request(str(messages[-1].content))
        for word in text.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        text = await aprovider_request(str(messages[-1].content))
        for word in text.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))


async def test_a_native_streams_request_nests_under_the_chat_model(capture, mode):
    await call(StreamingRequestingChatModel(), mode, "hi")
    assert shape(capture) == outline(f"""
        LLM StreamingRequestingChatModel
          LLM {request_name(mode)}
    """)


async def test_between_chunks_the_callers_span_is_current(capture):
    model = StreamingRequestingChatModel()
    with tracekit.span("caller") as caller:
        seen = [tracekit.current_span() for _ in model.stream("a b c")]
        async for _ in model.astream("a b c"):
            seen.append(tracekit.current_span())
    assert len(seen) >= 8  # "echo: a b c": four words a stream, maybe an empty last chunk
    assert all(span is caller for span in seen)


async def test_an_unsampled_models_request_stays_unrecorded(mode):
    # The model's span is not recording: its request must not start a trace of its own.
    from tracekit import integrations
    from tracekit.backends import MemoryBackend

    backend = MemoryBackend()
    tracekit.init(backend, sample_rate=0.0, integrations=["langchain"])
    try:
        await call(StreamingRequestingChatModel(), mode, "hi")
        await call(RequestingChatModel(), mode, "hi")
        await call(RequestingLLM(), mode, "hi")
        assert tracekit.flush()
    finally:
        integrations.unpatch(["langchain"])
    assert backend.records == []


def test_a_multi_prompt_llm_calls_requests_nest_under_the_first_prompts_span(capture):
    @tracekit.agent
    def agent():
        return RequestingLLM().batch(["a", "b"])

    assert agent() == ["echo: a", "echo: b"]
    assert shape(capture) == outline("""
        AGENT agent
          LLM RequestingLLM
            LLM provider_request
            LLM provider_request
          LLM RequestingLLM
    """)
