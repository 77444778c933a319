"""Span record -> OpenTelemetry span attributes (GenAI conventions + OpenInference).

Pure functions over the span record of DESIGN.md, with no OpenTelemetry
import, so the mapping is tested with plain dicts and reused by any backend
that speaks OTel. Every record gets both vocabularies:

* OpenTelemetry GenAI semantic conventions (``gen_ai.operation.name``,
  ``gen_ai.request.model``, ``gen_ai.request.*`` parameters,
  ``gen_ai.usage.*``, ``gen_ai.input.messages`` / ``gen_ai.output.messages``
  as JSON in the conventions' parts format, ``gen_ai.tool.*``,
  ``gen_ai.agent.name``), read by GenAI-aware backends;
* OpenInference (``openinference.span.kind``, ``input.value``,
  ``output.value``, ``llm.*`` with flattened ``llm.input_messages.N...``,
  ``llm.token_count.*``, ``tool.name``, ``tag.tags``, ``metadata``), read by
  Phoenix and Langfuse.

The record's own attributes follow under their own keys where they do not
collide. Every value is an OTLP-legal attribute value (str, bool, int,
float, or a list of one of them); anything else becomes compact JSON. Every
string is cut to ``max_chars`` with tracekit's marker, so one huge prompt is
shortened rather than dropping the batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tracekit._serialize import Limits, big_int, clean_text, cut_string, to_jsonable

AttrValue = Any  # str | bool | int | float | a list of one of them (OTel's AttributeValue)

_INT64 = 1 << 63

# tracekit kind -> gen_ai.operation.name (kinds without one get none)
_OPERATIONS = {
    "LLM": "chat",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
}

# model_parameters key -> gen_ai.request.* attribute
_PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "stop": "gen_ai.request.stop_sequences",
    "encoding_format": "gen_ai.request.encoding_formats",
}

# record attributes consumed by the mapping (not copied under their own key)
_CONSUMED = frozenset({"model_parameters", "tags"})


# one encoder for all: json.dumps with options builds a new encoder on every call
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr).encode


class _Json:
    """A value the attribute holds as JSON text (encoded, within the cap, at the end)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _json(value: Any) -> _Json:
    return _Json(value)


def json_within(value: Any, max_chars: int) -> str:
    """``value`` as JSON text of at most about ``max_chars``.

    Long strings inside are cut first (each with the marker), so the text
    stays valid JSON; only if that is not enough is the text itself cut.
    """
    try:
        text = _dumps(value)
    except ValueError:  # an int of more than 4,300 digits: the walker marks it
        text = _dumps(to_jsonable(value))
    if len(text) <= max_chars:
        return clean_text(text)
    inner = Limits(max_string_chars=max(16, max_chars // 2))
    text = _dumps(to_jsonable(value, inner))
    return clean_text(cut_string(text, max_chars))


def _text(value: str, max_chars: int) -> str:
    """A string attribute: cut, and free of lone surrogates (protobuf refuses the request)."""
    if len(value) <= max_chars and value.isascii():
        return value
    return clean_text(cut_string(str.__str__(value), max_chars))


def _digits(value: int) -> str:
    """An int outside int64 as its digits; past 100 digits D98's marker (no ``str()``)."""
    return int.__repr__(value) if value.bit_length() <= 332 else big_int(value)


def attr_value(value: Any, max_chars: int) -> AttrValue | None:
    """One OTLP-legal attribute value (None: leave the attribute out)."""
    kind = type(value)
    if kind is str:
        return _text(value, max_chars)
    if kind is int or kind is bool or kind is float:
        return value if kind is not int or -_INT64 <= value < _INT64 else _digits(value)
    if value is None:
        return None
    if isinstance(value, str):
        return _text(value, max_chars)
    if isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        # protobuf int64: a bigger int would fail the whole request
        return value if -_INT64 <= value < _INT64 else _digits(value)
    if isinstance(value, _Json):
        return json_within(value.value, max_chars)
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(item) for item in value}
        if kinds == {str}:
            return [_text(item, max_chars) for item in value]
        if len(kinds) == 1 and kinds <= {bool, float}:
            return list(value)
        if kinds == {int} and all(-_INT64 <= item < _INT64 for item in value):
            return list(value)
    return json_within(value, max_chars)


def provider(record: Mapping[str, Any]) -> str | None:
    """The model provider a span talked to, when the record says (``openai``...)."""
    attributes = record.get("attributes") or {}
    declared = attributes.get("ls_provider") or attributes.get("gen_ai.provider.name")
    if isinstance(declared, str) and declared:
        return declared
    name = record.get("name") or ""
    if name.startswith("openai.") or any(key.startswith("openai.") for key in attributes):
        return "openai"
    return None


def is_client_call(record: Mapping[str, Any]) -> bool:
    """A model call made over the network (OTel span kind CLIENT), else INTERNAL."""
    return record.get("kind") in ("LLM", "EMBEDDING") and provider(record) is not None


# -- messages --------------------------------------------------------------------


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        joined = "".join(text for text in texts if isinstance(text, str))
        return joined or None
    return None


def _function_of(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call's name and arguments: OpenAI nests them under ``function``."""
    function = call.get("function")
    return function if isinstance(function, dict) else call


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chat message -> GenAI ``parts`` (text, tool calls, tool responses)."""
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if message.get("role") == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}
        )
        return parts
    text = _text_of(content)
    if text is not None:
        parts.append({"type": "text", "content": text})
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = _function_of(call)
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return parts


def input_messages(record: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The chat messages a model call was given, and its system instructions if separate."""
    inputs = record.get("inputs") or {}
    messages = inputs.get("messages")
    if isinstance(messages, list):
        return [m for m in messages if isinstance(m, dict) and "role" in m], None
    # The Responses API: ``input`` (a string or a list of messages) and ``instructions``
    instructions = inputs.get("instructions")
    instructions = instructions if isinstance(instructions, str) else None
    given = inputs.get("input")
    if isinstance(given, str) and record.get("kind") == "LLM":
        return [{"role": "user", "content": given}], instructions
    if isinstance(given, list) and all(isinstance(m, dict) and "role" in m for m in given):
        return list(given), instructions
    return [], instructions


def output_messages(record: Mapping[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """``(message, finish_reason)`` pairs a model call answered with."""
    outputs = record.get("outputs") or {}
    choices = outputs.get("choices")
    pairs: list[tuple[dict[str, Any], Any]] = []
    if isinstance(choices, list):
        pairs.extend(
            (choice["message"], choice.get("finish_reason"))
            for choice in choices
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict)
        )
    elif isinstance(outputs.get("message"), dict):
        pairs.append((outputs["message"], outputs.get("finish_reason")))
    elif record.get("kind") == "LLM" and isinstance(outputs.get("output"), str):
        pairs.append(({"role": "assistant", "content": outputs["output"]}, None))
    return pairs


def _openinference_message(prefix: str, message: Mapping[str, Any], out: dict[str, Any]) -> None:
    out[f"{prefix}.message.role"] = message.get("role")
    content = message.get("content")
    if isinstance(content, list):
        for k, part in enumerate(content):
            if isinstance(part, dict):
                base = f"{prefix}.message.contents.{k}.message_content"
                out[f"{base}.type"] = part.get("type")
                out[f"{base}.text"] = part.get("text")
    elif content is not None:
        out[f"{prefix}.message.content"] = content if isinstance(content, str) else _json(content)
    if message.get("tool_call_id"):
        out[f"{prefix}.message.tool_call_id"] = message["tool_call_id"]
    for j, call in enumerate(message.get("tool_calls") or ()):
        if isinstance(call, dict):
            function = _function_of(call)
            base = f"{prefix}.message.tool_calls.{j}.tool_call"
            out[f"{base}.id"] = call.get("id")
            out[f"{base}.function.name"] = function.get("name")
            out[f"{base}.function.arguments"] = function.get("arguments")


# -- the mapping -----------------------------------------------------------------


def _io_value(values: Mapping[str, Any]) -> tuple[str | _Json, str] | None:
    """(value, mime type) for OpenInference ``input.value`` / ``output.value``."""
    if not values:
        return None
    if len(values) == 1 and isinstance(values.get("output"), str):
        return values["output"], "text/plain"
    return _json(values), "application/json"


def _llm(record: Mapping[str, Any], out: dict[str, Any]) -> None:
    attributes = record.get("attributes") or {}
    model = record.get("model")
    requested = attributes.get("openai.request_model") or model
    system = provider(record)
    embedding = record.get("kind") == "EMBEDDING"
    if system:
        out["gen_ai.provider.name"] = system
        out["gen_ai.system"] = system  # the older name, still read by some backends
        out["llm.provider"] = system
        out["llm.system"] = system
    if requested:
        out["gen_ai.request.model"] = requested
    if model:
        out["gen_ai.response.model"] = model
        out["embedding.model_name" if embedding else "llm.model_name"] = model
    if attributes.get("openai.response_id"):
        out["gen_ai.response.id"] = attributes["openai.response_id"]
    if attributes.get("openai.finish_reasons"):
        out["gen_ai.response.finish_reasons"] = attributes["openai.finish_reasons"]
    params = attributes.get("model_parameters")
    if isinstance(params, dict) and params:
        _parameters(params, out)
    usage = record.get("usage")
    if isinstance(usage, dict):
        _usage(usage, out)
    if embedding:
        given = (record.get("inputs") or {}).get("input")
        texts = [given] if isinstance(given, str) else given if isinstance(given, list) else []
        for i, text in enumerate(texts):
            if isinstance(text, str):
                out[f"embedding.embeddings.{i}.embedding.text"] = text
    else:
        _messages(record, out)


def _parameters(params: dict[str, Any], out: dict[str, Any]) -> None:
    out["llm.invocation_parameters"] = _json(params)
    for key, value in params.items():
        target = _PARAMETERS.get(key)
        if target is None or value is None or (key == "n" and value == 1):
            continue
        as_list = key in ("stop", "encoding_format") and isinstance(value, str)
        out[target] = [value] if as_list else value
    tools = params.get("tools")
    if isinstance(tools, list) and tools:
        out["gen_ai.tool.definitions"] = _json(tools)
        for i, tool in enumerate(tools):
            out[f"llm.tools.{i}.tool.json_schema"] = _json(tool)
    response_format = params.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        out["gen_ai.output.type"] = "json" if kind in ("json_object", "json_schema") else kind


def _usage(usage: dict[str, Any], out: dict[str, Any]) -> None:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    out["gen_ai.usage.input_tokens"] = prompt
    out["gen_ai.usage.output_tokens"] = completion
    out["llm.token_count.prompt"] = prompt
    out["llm.token_count.completion"] = completion
    out["llm.token_count.total"] = usage.get("total_tokens")
    if usage.get("cached_tokens"):
        out["gen_ai.usage.cache_read.input_tokens"] = usage["cached_tokens"]
        out["llm.token_count.prompt_details.cache_read"] = usage["cached_tokens"]
    if usage.get("reasoning_tokens"):
        out["llm.token_count.completion_details.reasoning"] = usage["reasoning_tokens"]


def _messages(record: Mapping[str, Any], out: dict[str, Any]) -> None:
    messages, instructions = input_messages(record)
    if messages:
        system_parts = [
            {"type": "text", "content": _text_of(m.get("content"))}
            for m in messages
            if m.get("role") in ("system", "developer") and _text_of(m.get("content"))
        ]
        if instructions:
            system_parts.insert(0, {"type": "text", "content": instructions})
        if system_parts:
            out["gen_ai.system_instructions"] = _json(system_parts)
        out["gen_ai.input.messages"] = _json(
            [
                {"role": m.get("role"), "parts": _parts(m)}
                for m in messages
                if m.get("role") not in ("system", "developer")
            ]
        )
        if instructions:
            messages = [{"role": "system", "content": instructions}, *messages]
        for i, message in enumerate(messages):
            _openinference_message(f"llm.input_messages.{i}", message, out)
    answers = output_messages(record)
    if answers:
        out["gen_ai.output.messages"] = _json(
            [
                {"role": m.get("role") or "assistant", "parts": _parts(m), "finish_reason": reason}
                for m, reason in answers
            ]
        )
        for i, (message, _) in enumerate(answers):
            _openinference_message(f"llm.output_messages.{i}", message, out)


def span_attributes(record: Mapping[str, Any], max_chars: int) -> dict[str, AttrValue]:
    """All OTel attributes for one span record (both vocabularies + the record's own)."""
    kind = record.get("kind") or "CHAIN"
    out: dict[str, Any] = {"openinference.span.kind": kind, "tracekit.kind": kind}
    operation = _OPERATIONS.get(kind)
    if operation:
        out["gen_ai.operation.name"] = operation
    inputs = record.get("inputs") or {}
    outputs = record.get("outputs") or {}
    for prefix, values in (("input", inputs), ("output", outputs)):
        pair = _io_value(values)
        if pair is not None:
            out[f"{prefix}.value"], out[f"{prefix}.mime_type"] = pair
    name = record.get("name")
    if kind == "TOOL":
        out["gen_ai.tool.name"] = name
        out["tool.name"] = name
        out["gen_ai.tool.type"] = "function"
        if inputs:
            out["gen_ai.tool.call.arguments"] = _json(inputs)
        if outputs:
            out["gen_ai.tool.call.result"] = out.get("output.value")
    elif kind == "AGENT":
        out["gen_ai.agent.name"] = name
        out["agent.name"] = name
    if kind in ("LLM", "EMBEDDING") or record.get("model"):
        _llm(record, out)
    error = record.get("error")
    if isinstance(error, dict) and error.get("type"):
        out["error.type"] = error["type"]
    attributes = record.get("attributes") or {}
    tags = attributes.get("tags")
    if isinstance(tags, list) and tags:
        out["tag.tags"] = [str(tag) for tag in tags]
    metadata = {
        key: value
        for key, value in attributes.items()
        if "." not in key and key not in _CONSUMED and key not in out
    }
    if metadata:
        out["metadata"] = _json(metadata)
    for key, value in attributes.items():
        if key not in _CONSUMED and key not in out:
            out[key] = value
    result: dict[str, AttrValue] = {}
    for key, value in out.items():
        legal = attr_value(value, max_chars)
        if legal is not None:
            result[key] = legal
    return result


def event_attributes(attributes: Any, max_chars: int) -> dict[str, AttrValue]:
    """A record event's attributes as OTel attribute values."""
    if not isinstance(attributes, dict):
        return {}
    result: dict[str, AttrValue] = {}
    for key, value in attributes.items():
        legal = attr_value(value, max_chars)
        if legal is not None:
            result[str(key)] = legal
    return result


def exception_attributes(error: Mapping[str, Any], max_chars: int) -> dict[str, AttrValue]:
    """The OTel ``exception`` event's attributes for a record's error."""
    return event_attributes(
        {
            "exception.type": error.get("type"),
            "exception.message": error.get("message"),
            "exception.stacktrace": error.get("stack") or None,
        },
        max_chars,
    )


def estimated_size(attributes: Mapping[str, AttrValue]) -> int:
    """A cheap upper-bound guess of a span's encoded size, to split requests."""
    size = 256
    for key, value in attributes.items():
        size += len(key) + 8
        if isinstance(value, str):
            size += len(value) * 2  # UTF-8: most text is 1-3 bytes a character
        elif isinstance(value, list):
            size += sum(len(v) * 2 if isinstance(v, str) else 10 for v in value)
        else:
            size += 10
    return size
