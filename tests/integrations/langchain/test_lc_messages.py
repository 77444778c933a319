"""LangChain messages and prompt values are recorded as plain chat messages."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, LLMResult
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from tracekit_langchain import _messages


def test_messages_become_role_and_content():
    assert _messages.message(HumanMessage("hi")) == {"role": "user", "content": "hi"}
    assert _messages.message(SystemMessage("be brief")) == {"role": "system", "content": "be brief"}
    assert _messages.message(ChatMessage(role="critic", content="no")) == {
        "role": "critic",
        "content": "no",
    }
    assert _messages.message(HumanMessage("hi", name="ann")) == {
        "role": "user",
        "content": "hi",
        "name": "ann",
    }


def test_tool_calls_and_tool_results_are_kept():
    call = {"id": "call_1", "name": "weather", "args": {"city": "Paris"}}
    assert _messages.message(AIMessage("", tool_calls=[call])) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}],
    }
    assert _messages.message(ToolMessage("18C", tool_call_id="call_1")) == {
        "role": "tool",
        "content": "18C",
        "tool_call_id": "call_1",
    }


def test_prompt_values_and_lists_become_plain_data_and_other_values_stay():
    chat = ChatPromptValue(messages=[SystemMessage("s"), HumanMessage("h")])
    assert _messages.readable(chat) == {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "h"}]
    }
    assert _messages.readable(StringPromptValue(text="plain")) == "plain"
    assert _messages.readable([HumanMessage("h")]) == [{"role": "user", "content": "h"}]
    mixed = [HumanMessage("h"), "text"]
    assert _messages.readable(mixed) is mixed
    inputs = {"question": "q", "n": 1}
    assert _messages.readable_mapping(inputs) is inputs
    converted = _messages.readable_mapping({"question": "q", "last": AIMessage("a")})
    assert converted == {"question": "q", "last": {"role": "assistant", "content": "a"}}


def test_llm_outputs_are_one_message_a_text_or_a_list():
    one = LLMResult(
        generations=[
            [ChatGeneration(message=AIMessage("a"), generation_info={"finish_reason": "stop"})]
        ]
    )
    assert _messages.llm_outputs(one) == {
        "message": {"role": "assistant", "content": "a"},
        "finish_reason": "stop",
    }
    text = LLMResult(generations=[[Generation(text="t")]])
    assert _messages.llm_outputs(text) == {"output": "t"}
    two = LLMResult(generations=[[ChatGeneration(message=AIMessage("a"))], [Generation(text="b")]])
    assert _messages.llm_outputs(two) == {"output": [{"role": "assistant", "content": "a"}, "b"]}


def test_a_streamed_message_chunk_has_the_role_of_its_message():
    assert _messages.message(AIMessageChunk(content="a")) == {"role": "assistant", "content": "a"}
    assert _messages.message(HumanMessageChunk(content="h"))["role"] == "user"
    assert _messages.message(SystemMessageChunk(content="s"))["role"] == "system"
    assert _messages.message(ToolMessageChunk(content="t", tool_call_id="call_1")) == {
        "role": "tool",
        "content": "t",
        "tool_call_id": "call_1",
    }
    assert _messages.message(FunctionMessageChunk(content="f", name="fn")) == {
        "role": "function",
        "content": "f",
        "name": "fn",
    }
    assert _messages.message(FunctionMessage(content="f", name="fn"))["role"] == "function"
    assert _messages.message(ChatMessageChunk(content="c", role="critic"))["role"] == "critic"
    streamed = ChatGenerationChunk(message=AIMessageChunk(content="a"))
    assert _messages.llm_outputs(LLMResult(generations=[[streamed]])) == {
        "message": {"role": "assistant", "content": "a"}
    }


class DeveloperMessageChunk(BaseMessageChunk):
    """A chunk class the adapter has no entry for (as a newer LangChain may add)."""

    type: Literal["DeveloperMessageChunk"] = "DeveloperMessageChunk"


class AIMessageChunkTyped(BaseMessageChunk):
    """A chunk whose type names a known message: it takes that message's role."""

    type: Literal["AIMessageChunk"] = "AIMessageChunk"


def test_any_message_chunk_class_has_a_role_not_its_class_name():
    assert _messages.message(DeveloperMessageChunk(content="d")) == {
        "role": "developer",
        "content": "d",
    }
    assert _messages.message(AIMessageChunkTyped(content="a"))["role"] == "assistant"
    # the rule, for every chunk type: the role of its message, else the lower-cased prefix
    assert _messages.role_of("HumanMessageChunk") == "user"
    assert _messages.role_of("ToolMessageChunk") == "tool"
    assert _messages.role_of("ChatMessageChunk") is None  # its own role field
    assert _messages.role_of("RemoveMessageChunk") == "remove"
    assert _messages.role_of("MessageChunk") == "MessageChunk"  # no prefix: left as it is
    assert _messages.role_of("critic") == "critic"
