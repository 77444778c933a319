"""Every runnable becomes a span of its kind, nested as LangChain nests the runs."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel, FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel
from langchain_core.tools import tool
from lc_helpers import call, outline, shape

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Be brief."), ("human", "Tell me about {topic}")]
)


def chat_chain(*responses):
    return PROMPT | FakeListChatModel(responses=list(responses) or ["ok"]) | StrOutputParser()


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class TinyRetriever(BaseRetriever):
    """Documents whose text contains the query."""

    docs: list[str]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=d) for d in self.docs if query in d]


async def test_an_lcel_chain_is_a_tree_of_its_steps(capture, mode):
    result = await call(chat_chain("Paris is a city."), mode, {"topic": "Paris"})
    if mode in ("stream", "astream"):
        result = "".join(result)
    assert result == "Paris is a city."
    assert shape(capture) == outline("""
        CHAIN RunnableSequence
          CHAIN ChatPromptTemplate
          LLM FakeListChatModel
          CHAIN StrOutputParser
    """)
    assert len(capture.trace_ids()) == 1


async def test_chain_inputs_and_outputs_are_recorded(capture, mode):
    await call(chat_chain("Paris is a city."), mode, {"topic": "Paris"})
    sequence = capture.span("RunnableSequence")
    assert sequence["inputs"] == {"topic": "Paris"}
    assert sequence["outputs"] == {"output": "Paris is a city."}
    assert sequence["status"] == "OK"
    llm = capture.span("FakeListChatModel")
    messages = llm["inputs"]["messages"]
    assert [m["content"] for m in messages] == ["Be brief.", "Tell me about Paris"]
    assert llm["outputs"]["message"]["content"] == "Paris is a city."


async def test_a_plain_llm_is_an_llm_span(capture, mode):
    chain = RunnableLambda(lambda x: f"Q: {x}") | FakeListLLM(responses=["A"])
    await call(chain, mode, "why")
    llm = capture.span("FakeListLLM")
    assert llm["kind"] == "LLM"
    assert llm["inputs"] == {"prompts": ["Q: why"]}
    assert llm["outputs"] == {"output": "A"}


async def test_parallel_branches_nest_under_the_parallel_step(capture, mode):
    chain = RunnableParallel(
        up=RunnableLambda(lambda x: x.upper()).with_config(run_name="up"),
        low=RunnableLambda(lambda x: x.lower()).with_config(run_name="low"),
    )
    result = await call(chain, mode, "Ab")
    if mode in ("stream", "astream"):
        merged = {}
        for chunk in result:
            merged.update(chunk)
        result = merged
    assert result == {"up": "AB", "low": "ab"}
    assert shape(capture) == outline("""
        CHAIN RunnableParallel<up,low>
          CHAIN low
          CHAIN up
    """)


async def test_a_tool_is_a_tool_span(capture, mode):
    result = await call(add, mode, {"a": 2, "b": 3})
    if mode in ("stream", "astream"):
        result = result[-1]
    assert result == 5
    record = capture.span("add")
    assert record["kind"] == "TOOL"
    assert record["status"] == "OK"


async def test_a_retriever_is_a_retriever_span(capture, mode):
    retriever = TinyRetriever(docs=["red apple", "green pear", "red cherry"])
    chain = RunnableLambda(lambda q: q.strip()) | retriever
    result = await call(chain, mode, " red ")
    if mode in ("stream", "astream"):
        result = result[-1]
    assert [d.page_content for d in result] == ["red apple", "red cherry"]
    assert shape(capture) == outline("""
        CHAIN RunnableSequence
          CHAIN RunnableLambda
          RETRIEVER TinyRetriever
    """)
    assert capture.span("TinyRetriever")["inputs"] == {"query": "red"}


async def test_an_error_is_recorded_and_propagates_unchanged(capture, mode):
    boom = ValueError("boom")

    def fail(_):
        raise boom

    chain = RunnableLambda(lambda x: x) | RunnableLambda(fail).with_config(run_name="fail")
    with pytest.raises(ValueError) as raised:
        await call(chain, mode, 1)
    assert raised.value is boom
    for name in ("fail", "RunnableSequence"):
        record = capture.span(name)
        assert record["status"] == "ERROR"
        assert record["error"]["type"] == "ValueError"
        assert record["error"]["message"] == "boom"


async def test_concurrent_calls_make_one_tree_each(capture):
    chain = chat_chain(*[f"answer {i}" for i in range(8)])
    await asyncio.gather(*(chain.ainvoke({"topic": str(i)}) for i in range(8)))
    chain.batch([{"topic": str(i)} for i in range(8)])
    await chain.abatch([{"topic": str(i)} for i in range(8)])
    trace_ids = capture.trace_ids()
    assert len(trace_ids) == 24
    for trace_id in trace_ids:
        assert shape(capture, trace_id) == outline("""
            CHAIN RunnableSequence
              CHAIN ChatPromptTemplate
              LLM FakeListChatModel
              CHAIN StrOutputParser
        """)


async def test_astream_events_gives_the_same_tree_and_leaves_the_events_alone(capture):
    events = [e async for e in chat_chain("Paris is a city.").astream_events({"topic": "P"})]
    kinds = {e["event"] for e in events}
    assert {"on_chain_start", "on_chat_model_stream", "on_chain_end"} <= kinds
    assert shape(capture) == outline("""
        CHAIN RunnableSequence
          CHAIN ChatPromptTemplate
          LLM FakeListChatModel
          CHAIN StrOutputParser
    """)
    assert capture.span("RunnableSequence")["outputs"] == {"output": "Paris is a city."}


def test_fallbacks_and_retries_record_the_failure_and_the_recovery(capture):
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("first try fails")
        return x

    failing = RunnableLambda(lambda x: 1 / 0, name="broken")
    chain = failing.with_fallbacks([RunnableLambda(lambda x: x * 2, name="backup")])
    assert chain.invoke(2) == 4
    assert RunnableLambda(flaky, name="flaky").with_retry(stop_after_attempt=2).invoke(3) == 3
    by_name = {}
    for r in capture.records:
        by_name.setdefault(r["name"], []).append(r["status"])
    assert by_name["broken"] == ["ERROR"]
    assert by_name["backup"] == ["OK"]
    # the retrying run, and under it the failed attempt and the one that worked
    retry = next(r for r in capture.records if r["name"] == "flaky" and r["parent_id"] is None)
    attempts = [r for r in capture.records if r["parent_id"] == retry["span_id"]]
    assert retry["status"] == "OK"
    assert sorted(r["status"] for r in attempts) == ["ERROR", "OK"]


def test_content_capture_switches_are_respected():
    import tracekit
    from tracekit import integrations
    from tracekit.backends import MemoryBackend

    backend = MemoryBackend()
    tracekit.init(backend, integrations=["langchain"], capture_inputs=False, capture_outputs=False)
    try:
        chat_chain("secret answer").invoke({"topic": "secret question"})
        assert tracekit.flush()
    finally:
        integrations.unpatch(["langchain"])
    assert len(backend.records) == 4
    assert all(r["inputs"] == {} and r["outputs"] == {} for r in backend.records)
    assert "secret" not in str([(r["inputs"], r["outputs"]) for r in backend.records])
