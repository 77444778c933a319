"""LangChain messages and prompt values as plain chat messages.

A LangChain message is a pydantic model; recorded as is, tracekit would dump
every field of it (``additional_kwargs``, ``response_metadata``, ids...) through
its careful walker, the slowest path of the serializer, several times per run
(a prompt's output is the model's input). The handler records them instead in
the shape the OpenAI adapter records messages in, which the UI shows as a
conversation: ``{"role", "content"}`` plus ``name``, ``tool_calls`` (``id``,
``name``, ``arguments``) and ``tool_call_id`` when present. Plain data from
here on takes the JSON encoder's fast path.

Only values at the top of a run's inputs or outputs (and lists of messages
there) are converted; a message nested deeper is recorded by tracekit's
serializer like any pydantic model.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue, PromptValue

# LangChain's message types and the chat role each is.
ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
}
# The message classes whose ``type`` is not their class name, by that name: a
# streamed message is a chunk, whose type *is* its class name ("AIMessageChunk"),
# and it has the role of the message it is a piece of ("AIMessage": "ai").
_CLASS_TYPES = {
    "HumanMessage": "human",
    "AIMessage": "ai",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "function",
    "ChatMessage": "chat",
}
_CHUNK = "MessageChunk"
# The type whose role is its own ``role`` field (ChatMessage, and its chunk).
_OWN_ROLE = "chat"


def role_of(kind: str) -> str | None:
    """The chat role of a LangChain message type; None for ChatMessage's (its own field).

    ``SomethingMessageChunk`` has the role of ``SomethingMessage`` when that is
    known, else its lower-cased prefix (``DeveloperMessageChunk``: "developer"),
    so a chunk class LangChain adds later never shows as a class name. Any
    other unknown type is its own role.
    """
    if kind.endswith(_CHUNK) and len(kind) > len(_CHUNK):
        prefix = kind[: -len(_CHUNK)]
        kind = _CLASS_TYPES.get(prefix + "Message", prefix.lower())
    if kind == _OWN_ROLE:
        return None
    return ROLES.get(kind, kind)


def message(msg: BaseMessage) -> dict[str, Any]:
    """One message as ``{"role", "content", ...}``."""
    kind = msg.type
    role = role_of(kind)
    if role is None:
        role = getattr(msg, "role", kind)
    found: dict[str, Any] = {"role": role, "content": msg.content}
    if msg.name:
        found["name"] = msg.name
    calls = getattr(msg, "tool_calls", None)
    if calls:
        found["tool_calls"] = [
            {"id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
            for call in calls
        ]
    call_id = getattr(msg, "tool_call_id", None)
    if call_id:
        found["tool_call_id"] = call_id
    return found


def messages(batch: Any) -> Any:
    """A list of messages as plain dicts (anything else unchanged)."""
    if isinstance(batch, list) and batch and all(isinstance(m, BaseMessage) for m in batch):
        return [message(m) for m in batch]
    return batch


def readable(value: Any) -> Any:
    """A message, prompt value or list of messages as plain data; anything else unchanged."""
    if isinstance(value, BaseMessage):
        return message(value)
    if isinstance(value, ChatPromptValue):
        return {"messages": [message(m) for m in value.messages]}
    if isinstance(value, PromptValue):
        return value.to_string()
    if isinstance(value, list):
        return messages(value)
    return value


def readable_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """``mapping`` with each top-level value made :func:`readable` (copied only if one was)."""
    changed: dict[str, Any] | None = None
    for key, value in mapping.items():
        plain = readable(value)
        if plain is not value:
            if changed is None:
                changed = dict(mapping)
            changed[key] = plain
    return mapping if changed is None else changed


def llm_outputs(result: Any) -> dict[str, Any]:
    """What a model produced (an ``LLMResult``), as a span's outputs.

    One chat generation is ``{"message": {...}}`` with its ``finish_reason``
    when the provider reported one, as the OpenAI adapter records a
    completion; one text generation is ``{"output": text}``; several (a
    batch, or ``n > 1``) are ``{"output": [...]}``.
    """
    outputs: list[Any] = []
    reason = None
    for batch in getattr(result, "generations", None) or ():
        for generation in batch:
            msg = getattr(generation, "message", None)
            outputs.append(message(msg) if msg is not None else getattr(generation, "text", None))
            info = getattr(generation, "generation_info", None) or {}
            reason = info.get("finish_reason") or reason
    if len(outputs) != 1:
        return {"output": outputs}
    if isinstance(outputs[0], dict):
        found = {"message": outputs[0]}
        if reason is not None:
            found["finish_reason"] = reason
        return found
    return {"output": outputs[0]}
