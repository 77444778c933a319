"""Pure extraction: request keywords and response objects in, what a span records out.

Nothing here touches a span or imports openai. Every reader goes through
:func:`get`, which takes an attribute of an openai model object or a key of a
plain dict, so the same functions read typed responses, stream chunks, and
the dicts the unit tests pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

# Keywords that steer the HTTP request, not the model. They are never recorded:
# extra_headers can carry credentials, and extra_query/extra_body can too.
TRANSPORT_KEYS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})

# What each endpoint records as inputs; every other given keyword but the model
# is a request parameter.
CHAT_INPUTS = ("messages",)
RESPONSES_INPUTS = ("input", "instructions")
EMBEDDINGS_INPUTS = ("input",)

# openai's "argument not given" sentinels (NOT_GIVEN, omit), told by class name
# so this module needs no openai import.
_SENTINELS = frozenset({"NotGiven", "Omit"})
_FORMAT_KEYS = frozenset({"response_format", "text_format"})


class Usage(NamedTuple):
    """Token counts as the span record names them (``extra``: cached, reasoning...)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    extra: dict[str, int]


class Found(NamedTuple):
    """What one response (or one whole stream) says, ready to write onto a span."""

    outputs: dict[str, Any] | None = None
    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] | None = None
    usage: Usage | None = None
    error: str | None = None


def get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name``, or ``obj[name]`` for a dict; ``default`` when absent or None."""
    if obj is None:
        return default
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return default if value is None else value


def get_optional(obj: Any, name: str) -> Any:
    """Like :func:`get`, for a field most responses lack (``parsed``, ``output_parsed``).

    Asking a pydantic model for an attribute it does not have goes through its
    slow ``__getattr__``; a model whose class declares no such field or
    property is answered None at once.
    """
    if obj is None or isinstance(obj, dict):
        return get(obj, name)
    cls = type(obj)
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict) and name not in fields and not hasattr(cls, name):
        return None
    return get(obj, name)


def given(value: Any) -> bool:
    """Whether a keyword was really passed (not None, NOT_GIVEN or omit)."""
    return value is not None and type(value).__name__ not in _SENTINELS


def is_stream(kwargs: Mapping[str, Any]) -> bool:
    """Whether the request asked for a stream (``stream=True``)."""
    return kwargs.get("stream") is True


# -- requests ---------------------------------------------------------------------------


def request_inputs(kwargs: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The inputs of a request: the given keywords among ``keys`` (messages, input...)."""
    return {key: kwargs[key] for key in keys if given(kwargs.get(key))}


def request_model(kwargs: Mapping[str, Any]) -> str | None:
    """The model (or Azure deployment) the request names."""
    model = kwargs.get("model")
    return str(model) if given(model) else None


def request_params(kwargs: Mapping[str, Any], input_keys: Iterable[str]) -> dict[str, Any]:
    """Every given keyword that is neither an input, the model, nor transport.

    temperature, top_p, max_tokens, max_completion_tokens, tools, tool_choice,
    response_format, n, stop, seed, stream, stream_options... are all kept, and
    so is any parameter a newer openai adds. A pydantic class passed as
    ``response_format`` (``.parse``) is recorded as its name and JSON schema.
    """
    skip = TRANSPORT_KEYS.union(input_keys, ("model",))
    params: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in skip or not given(value):
            continue
        params[key] = describe_format(value) if key in _FORMAT_KEYS else value
    return params


def describe_format(value: Any) -> Any:
    """A pydantic model class as ``{"type": "json_schema", "name", "schema"}``; else as is."""
    if not isinstance(value, type):
        return value
    described: dict[str, Any] = {"type": "json_schema", "name": value.__name__}
    schema = getattr(value, "model_json_schema", None)
    if callable(schema):
        try:
            described["schema"] = schema()
        except Exception:  # a model pydantic cannot describe: the name is enough
            pass
    return described


# -- chat completions --------------------------------------------------------------------


def chat_found(completion: Any) -> Found:
    """Read a ``ChatCompletion`` (or a ``ParsedChatCompletion``)."""
    choices = [
        (get(choice, "message"), get(choice, "finish_reason"))
        for choice in get(completion, "choices", ())
    ]
    return Found(
        outputs=choices_outputs([(chat_message(m), reason) for m, reason in choices]),
        model=get(completion, "model"),
        response_id=get(completion, "id"),
        finish_reasons=[str(reason) for _, reason in choices if reason is not None],
        usage=chat_usage(get(completion, "usage")),
    )


def chat_message(message: Any) -> dict[str, Any]:
    """An assistant message: role, content, and tool calls, refusal, parsed when present."""
    out: dict[str, Any] = {
        "role": get(message, "role", "assistant"),
        "content": get(message, "content"),
    }
    refusal = get(message, "refusal")
    if refusal:
        out["refusal"] = refusal
    calls = [tool_call(call) for call in get(message, "tool_calls", ())]
    if calls:
        out["tool_calls"] = calls
    function_call = get(message, "function_call")  # the deprecated functions API
    if function_call is not None:
        out["function_call"] = {
            "name": get(function_call, "name"),
            "arguments": get(function_call, "arguments"),
        }
    parsed = get_optional(message, "parsed")  # .parse(): the response_format model instance
    if parsed is not None:
        out["parsed"] = parsed
    return out


def tool_call(call: Any) -> dict[str, Any]:
    """One tool call as ``{"id", "name", "arguments"}`` (plus ``type`` unless a function)."""
    kind = get(call, "type", "function")
    if kind == "custom":
        custom = get(call, "custom")
        return {
            "id": get(call, "id"),
            "type": kind,
            "name": get(custom, "name"),
            "arguments": get(custom, "input"),
        }
    function = get(call, "function")
    return {
        "id": get(call, "id"),
        "name": get(function, "name"),
        "arguments": get(function, "arguments"),
    }


def choices_outputs(choices: list[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    """Chat outputs: ``{"message", "finish_reason"}``, or ``{"choices": [...]}`` if n > 1."""
    if len(choices) == 1:
        message, reason = choices[0]
        return {"message": message, "finish_reason": reason}
    return {
        "choices": [
            {"index": index, "message": message, "finish_reason": reason}
            for index, (message, reason) in enumerate(choices)
        ]
    }


def chat_usage(usage: Any) -> Usage | None:
    """Chat (and embeddings) usage, with cached and reasoning tokens when reported."""
    if usage is None:
        return None
    extra: dict[str, int] = {}
    _count(extra, "cached_tokens", get(get(usage, "prompt_tokens_details"), "cached_tokens"))
    _count(
        extra, "reasoning_tokens", get(get(usage, "completion_tokens_details"), "reasoning_tokens")
    )
    return Usage(
        _int(get(usage, "prompt_tokens")),
        _int(get(usage, "completion_tokens")),
        _int(get(usage, "total_tokens")),
        extra,
    )


# -- the Responses API ---------------------------------------------------------------------


def responses_found(response: Any) -> Found:
    """Read a Responses API ``Response`` (or a ``ParsedResponse``)."""
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in get(response, "output", ()):
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content", ()):
                part_kind = get(part, "type")
                if part_kind == "output_text":
                    texts.append(get(part, "text", ""))
                elif part_kind == "refusal":
                    refusals.append(get(part, "refusal", ""))
        elif kind == "function_call":
            calls.append(
                {
                    "id": get(item, "call_id"),
                    "name": get(item, "name"),
                    "arguments": get(item, "arguments"),
                }
            )
        elif kind == "custom_tool_call":
            calls.append(
                {
                    "id": get(item, "call_id"),
                    "type": kind,
                    "name": get(item, "name"),
                    "arguments": get(item, "input"),
                }
            )
        elif isinstance(kind, str) and kind.endswith("_call"):  # built-in tools: web search...
            calls.append({"id": get(item, "id"), "type": kind})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    if calls:
        message["tool_calls"] = calls
    parsed = get_optional(response, "output_parsed")  # responses.parse(): the text_format
    if parsed is not None:
        message["parsed"] = parsed
    status = get(response, "status")
    reason = get(get(response, "incomplete_details"), "reason") if status == "incomplete" else None
    finish = reason or status
    error = None
    if status == "failed":
        error = str(get(get(response, "error"), "message", "the response failed"))
    return Found(
        outputs={"message": message, "finish_reason": finish},
        model=get(response, "model"),
        response_id=get(response, "id"),
        finish_reasons=[str(finish)] if finish is not None else None,
        usage=responses_usage(get(response, "usage")),
        error=error,
    )


def responses_usage(usage: Any) -> Usage | None:
    """Responses API usage (input/output tokens) under the span record's names."""
    if usage is None:
        return None
    extra: dict[str, int] = {}
    _count(extra, "cached_tokens", get(get(usage, "input_tokens_details"), "cached_tokens"))
    _count(extra, "reasoning_tokens", get(get(usage, "output_tokens_details"), "reasoning_tokens"))
    return Usage(
        _int(get(usage, "input_tokens")),
        _int(get(usage, "output_tokens")),
        _int(get(usage, "total_tokens")),
        extra,
    )


# -- embeddings --------------------------------------------------------------------------


def embeddings_found(response: Any) -> Found:
    """Read a ``CreateEmbeddingResponse``: how many vectors and their size, never the vectors."""
    data = list(get(response, "data", ()))
    first = get(data[0], "embedding") if data else None
    dimensions = len(first) if isinstance(first, (list, tuple)) else None
    usage = get(response, "usage")
    return Found(
        outputs={"embeddings": len(data), "dimensions": dimensions},
        model=get(response, "model"),
        usage=None
        if usage is None
        else Usage(_int(get(usage, "prompt_tokens")), 0, _int(get(usage, "total_tokens")), {}),
    )


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _count(into: dict[str, int], key: str, value: Any) -> None:
    number = _int(value)
    if number is not None:
        into[key] = number
