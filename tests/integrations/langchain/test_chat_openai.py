"""ChatOpenAI with the OpenAI adapter also on: one tree, the request under the model, tokens once.

The real ``langchain-openai`` client talks to the OpenAI adapter tests' local
server (``tests/integrations/openai/server.py``) on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import httpx
import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from lc_helpers import call

from tracekit import integrations
from tracekit._record import owned_tokens
from tracekit.backends._semconv import span_attributes

SERVER = Path(__file__).resolve().parents[1] / "openai" / "server.py"
KEY = "sk-tracekit-test-" + "Lc4Zx2Lp9Vw4Rt6Yk3Nb8Hc5"


def _server_class():
    name = "tracekit_openai_test_server"  # the name the OpenAI tests load it under
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SERVER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].OpenAIServer


@pytest.fixture(scope="module")
def server():
    with _server_class()() as running:
        yield running


@pytest.fixture
def both(capture):
    """The langchain adapter (from ``capture``) and the openai adapter, both patched."""
    integrations.autopatch(["openai"])
    yield capture
    integrations.unpatch(["openai"])


@pytest.mark.parametrize(
    "mode",
    [
        "invoke",
        "ainvoke",
        "batch",
        "abatch",
        "stream",
        "astream",
    ],
)
async def test_the_openai_request_nests_under_chat_openai_and_counts_once(both, server, mode):
    # An async HTTP client of this test's event loop (langchain-openai caches a shared one).
    async with httpx.AsyncClient() as http_async_client:
        model = ChatOpenAI(
            base_url=server.url,
            api_key=KEY,
            model="gpt-4o-mini",
            max_retries=0,
            temperature=0.3,
            http_async_client=http_async_client,
            stream_usage=True,  # streamed: usage on the last chunk, as invoke reports it
        )
        await call(model, mode, "What is the capital of France?")
    both.assert_tree("""
        LLM ChatOpenAI
          LLM openai.chat.completions.create
    """)
    chat = both.span("ChatOpenAI")
    assert chat["model"] == "gpt-4o-mini"
    assert chat["attributes"]["model_parameters"]["temperature"] == 0.3
    assert chat["usage"]["total_tokens"] == 28
    configured = chat["attributes"]["langchain.parameters"]
    assert configured["model_name"] == "gpt-4o-mini"
    assert configured["temperature"] == 0.3
    assert configured["openai_api_key"] == "[REDACTED]"
    assert owned_tokens(both.records) == 28
    assert KEY not in str(both.records)


def test_an_unmodified_langchain_script_yields_one_tree_per_top_level_call(server):
    # The acceptance criterion: init with both adapters, then plain LangChain code.
    import tracekit
    from tracekit.backends import MemoryBackend

    backend = MemoryBackend()
    tracekit.init(backend, integrations=["langchain", "openai"])
    try:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.tools import tool

        @tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            return f"sunny in {city}"

        model = ChatOpenAI(base_url=server.url, api_key=KEY, model="gpt-4o-mini", max_retries=0)
        prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
        planner = prompt | model.bind_tools([get_weather])
        answer = prompt | model | StrOutputParser()

        plan = planner.invoke({"question": "Weather in Paris and London?"})
        results = [get_weather.invoke(call) for call in plan.tool_calls]
        final = answer.invoke({"question": f"Summarise: {[r.content for r in results]}"})
        assert final == "Paris is the capital of France."
        assert tracekit.flush()
    finally:
        integrations.unpatch(["langchain", "openai"])

    records = backend.records
    by_trace: dict[str, list[dict]] = {}
    for record in records:
        by_trace.setdefault(record["trace_id"], []).append(record)
    # planner, two tool calls, answer: four top-level calls, four trees
    assert len(by_trace) == 4
    for spans in by_trace.values():
        ids = {s["span_id"] for s in spans}
        roots = [s for s in spans if s["parent_id"] is None]
        assert len(roots) == 1
        assert all(s["parent_id"] in ids for s in spans if s["parent_id"] is not None)
    roots = sorted((r for r in records if r["parent_id"] is None), key=lambda r: r["start_ns"])
    assert [(r["kind"], r["name"]) for r in roots] == [
        ("CHAIN", "RunnableSequence"),
        ("TOOL", "get_weather"),
        ("TOOL", "get_weather"),
        ("CHAIN", "RunnableSequence"),
    ]
    planned = by_trace[roots[0]["trace_id"]]
    chat = next(s for s in planned if s["name"] == "ChatOpenAI")
    assert chat["outputs"]["message"]["tool_calls"][0] == {
        "id": "call_paris",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    request = next(s for s in planned if s["name"] == "openai.chat.completions.create")
    assert request["parent_id"] == chat["span_id"]
    assert owned_tokens(planned) == 100  # the tool-calling completion, counted once
    assert roots[1]["inputs"] == {"city": "Paris"}
    assert roots[1]["outputs"]["output"] == {
        "role": "tool",
        "content": "sunny in Paris",
        "name": "get_weather",
        "tool_call_id": "call_paris",
    }
    assert "langchain.graph" in roots[0]["attributes"]


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_streamed_chat_model_records_its_message_as_the_assistant(both, server, mode):
    # A stream's message is an AIMessageChunk: the span, and what OTLP and W&B
    # are given from it, must say "assistant", never the chunk's class name.
    async with httpx.AsyncClient() as http_async_client:
        model = ChatOpenAI(
            base_url=server.url,
            api_key=KEY,
            model="gpt-4o-mini",
            max_retries=0,
            http_async_client=http_async_client,
        )
        prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
        chain = prompt | model
        chunks = await call(chain, mode, {"q": "What is the capital of France?"})
    assert all(type(chunk).__name__ == "AIMessageChunk" for chunk in chunks)
    assert "".join(chunk.content for chunk in chunks) == "Paris is the capital of France."
    chat = both.span("ChatOpenAI")
    assert [m["role"] for m in chat["inputs"]["messages"]] == ["system", "user"]
    assert chat["outputs"]["message"] == {
        "role": "assistant",
        "content": "Paris is the capital of France.",
    }
    assert both.span("RunnableSequence")["outputs"]["output"]["role"] == "assistant"
    assert "MessageChunk" not in json.dumps(both.records)
    otlp = span_attributes(chat, 10_000)
    assert otlp["llm.output_messages.0.message.role"] == "assistant"
    assert json.loads(otlp["gen_ai.output.messages"])[0]["role"] == "assistant"
