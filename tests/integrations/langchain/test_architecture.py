"""Model architecture: each component's configuration, and the root runnable's graph."""

from __future__ import annotations

import gc
from typing import TypedDict

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from lc_helpers import MODES, call
from tracekit_langchain import _graph

import tracekit

PROMPT = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])


def chain():
    return PROMPT | FakeListChatModel(responses=["ok"]) | StrOutputParser()


def edges(graph):
    return {(e["source"], e["target"], e["conditional"]) for e in graph["edges"]}


@pytest.mark.parametrize("how", [*MODES, "abatch"])  # abatch: each item's run in its own task
async def test_the_root_runnable_records_its_graph(capture, how):
    await call(chain(), how, {"topic": "Paris"})
    root = capture.span("RunnableSequence")
    graph = root["attributes"]["langchain.graph"]
    assert [n["name"] for n in graph["nodes"]] == [
        "PromptInput",
        "ChatPromptTemplate",
        "FakeListChatModel",
        "StrOutputParser",
        "StrOutputParserOutput",
    ]
    assert edges(graph) == {
        ("PromptInput", "ChatPromptTemplate", False),
        ("ChatPromptTemplate", "FakeListChatModel", False),
        ("FakeListChatModel", "StrOutputParser", False),
        ("StrOutputParser", "StrOutputParserOutput", False),
    }
    nested = [r for r in capture.records if r["parent_id"] is not None]
    assert nested
    assert all("langchain.graph" not in r["attributes"] for r in nested)


def test_repeated_names_get_numbered_ids(capture):
    double = RunnableLambda(lambda x: x * 2, name="double")
    (double | double).invoke(1)
    graph = capture.span("RunnableSequence")["attributes"]["langchain.graph"]
    ids = [n["id"] for n in graph["nodes"]]
    assert [i for i in ids if i.startswith("double:")] == ["double:1", "double:2"]
    assert len(set(ids)) == len(ids)
    assert ("double:1", "double_output:1", False) in edges(graph)


def test_a_chain_under_a_users_span_still_records_its_graph(capture):
    @tracekit.agent
    def assistant(topic):
        return chain().invoke({"topic": topic})

    assistant("Paris")
    sequence = capture.span("RunnableSequence")
    assert sequence["parent_id"] == capture.span("assistant")["span_id"]
    assert "langchain.graph" in sequence["attributes"]


class State(TypedDict, total=False):
    n: int


def loop_graph(**compile_kwargs):
    graph = StateGraph(State)
    graph.add_node("step", lambda s: {"n": s["n"] + 1})
    graph.add_node("report", lambda s: s)
    graph.add_edge(START, "step")
    route = lambda s: "report" if s["n"] >= 2 else "step"  # noqa: E731
    graph.add_conditional_edges("step", route, ["report", "step"])
    graph.add_edge("report", END)
    return graph.compile(**compile_kwargs)


async def test_a_langgraph_graph_is_an_agent_by_class_with_its_conditional_edges(capture, mode):
    await call(loop_graph(name="planner"), mode, {"n": 0})
    root = capture.span("planner")
    assert root["kind"] == "AGENT"  # by class: the name says nothing
    graph = root["attributes"]["langchain.graph"]
    assert {n["id"] for n in graph["nodes"]} == {"__start__", "step", "report", "__end__"}
    assert ("__start__", "step", False) in edges(graph)
    assert ("report", "__end__", False) in edges(graph)
    assert {e["target"] for e in graph["edges"] if e["source"] == "step"} >= {"report"}
    assert all(e["conditional"] for e in graph["edges"] if e["source"] == "step")


def test_the_graph_is_built_once_per_runnable_and_forgotten_with_it(capture, monkeypatch):
    built = []
    original = type(chain()).get_graph

    def counting(self, *args, **kwargs):
        built.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(chain()), "get_graph", counting)
    runnable = chain()
    runnable.invoke({"topic": "a"})
    runnable.invoke({"topic": "b"})
    assert len(built) == 1
    key = id(runnable)
    assert key in _graph._cache
    del runnable, built[:]
    gc.collect()
    assert key not in _graph._cache


@pytest.mark.parametrize("name", ["MyAgent", "AgentExecutor"])
def test_chains_named_like_agents_are_agents(capture, name):
    RunnableLambda(lambda x: x, name=name).invoke(1)
    assert capture.span(name)["kind"] == "AGENT"
