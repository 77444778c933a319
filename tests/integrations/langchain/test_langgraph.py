"""A small LangGraph graph: an AGENT span, its nodes, and tracekit spans inside the nodes."""

from __future__ import annotations

from typing import TypedDict

from langchain_core.language_models import FakeListChatModel
from langgraph.graph import END, START, StateGraph
from lc_helpers import call, outline, shape

import tracekit


@tracekit.tool
def lookup(question: str) -> str:
    return question + "!"


class State(TypedDict, total=False):
    question: str
    answer: str


def build():
    model = FakeListChatModel(responses=["forty-two"])

    def think(state: State) -> State:
        return {"question": lookup(state["question"])}

    def answer(state: State) -> State:
        return {"answer": model.invoke(state["question"]).content}

    graph = StateGraph(State)
    graph.add_node("think", think)
    graph.add_node("answer", answer)
    graph.add_edge(START, "think")
    graph.add_edge("think", "answer")
    graph.add_edge("answer", END)
    return graph.compile()


async def test_a_graph_is_an_agent_with_its_nodes_and_their_spans(capture, mode):
    result = await call(build(), mode, {"question": "why"})
    if mode in ("invoke", "ainvoke", "batch"):
        assert result == {"question": "why!", "answer": "forty-two"}
    assert len(capture.trace_ids()) == 1
    assert shape(capture) == outline("""
        AGENT LangGraph
          CHAIN answer
            LLM FakeListChatModel
          CHAIN think
            TOOL lookup
    """)
    assert capture.span("lookup")["inputs"] == {"question": "why"}


def test_unpatch_restores_langgraphs_config_context(capture):
    from langgraph._internal import _runnable

    from tracekit import integrations

    assert hasattr(_runnable._set_config_context, "__wrapped__")
    integrations.unpatch(["langchain"])
    assert not hasattr(_runnable._set_config_context, "__wrapped__")
    integrations.autopatch(["langchain"])
    assert hasattr(_runnable._set_config_context, "__wrapped__")
