"""Nesting in both directions: runnables under tracekit spans, tracekit spans under runnables."""

from __future__ import annotations

from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from lc_helpers import call, outline, shape

import tracekit


@tracekit.tool
def shout(text: str) -> str:
    return text.upper() + "!"


@tracekit.tool
async def ashout(text: str) -> str:
    return text.upper() + "!"


def shouting_lambda():
    return RunnableLambda(shout, afunc=ashout).with_config(run_name="shouting")


def answer_chain():
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    return prompt | FakeListChatModel(responses=["yes"]) | StrOutputParser() | shouting_lambda()


async def test_a_chain_called_in_a_tracekit_span_nests_under_it(capture, mode):
    chain = answer_chain()

    @tracekit.agent
    async def agent(question):
        return await call(chain, mode, {"q": question})

    result = await agent("ok?")
    assert result in ("YES!", ["YES!"])
    assert len(capture.trace_ids()) == 1
    assert shape(capture) == outline("""
        AGENT agent
          CHAIN RunnableSequence
            CHAIN ChatPromptTemplate
            LLM FakeListChatModel
            CHAIN StrOutputParser
            CHAIN shouting
              TOOL shout
    """).replace("TOOL shout", "TOOL ashout" if mode in ("ainvoke", "astream") else "TOOL shout")


async def test_tracekit_spans_in_a_runnable_nest_under_its_span(capture, mode):
    await call(shouting_lambda(), mode, "hi")
    name = "ashout" if mode in ("ainvoke", "astream") else "shout"
    assert shape(capture) == outline(f"""
        CHAIN shouting
          TOOL {name}
    """)


async def test_a_chain_inside_a_tracekit_span_inside_a_runnable_nests_under_that_span(
    capture, mode
):
    inner = RunnableLambda(lambda x: x * 2).with_config(run_name="inner")

    @tracekit.chain
    def step(x):
        return inner.invoke(x)

    outer = RunnableLambda(step).with_config(run_name="outer")
    result = await call(outer, mode, 2)
    assert result in (4, [4])
    assert shape(capture) == outline("""
        CHAIN outer
          CHAIN step
            CHAIN inner
    """)


@tool
def lookup(city: str) -> str:
    """Look up a city."""
    return shout(city)


async def test_tracekit_spans_in_a_langchain_tool_nest_under_the_tool(capture, mode):
    await call(lookup, mode, {"city": "paris"})
    assert shape(capture) == outline("""
        TOOL lookup
          TOOL shout
    """)
