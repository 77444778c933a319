"""Fold streamed chunks into one result, and write a result onto a span.

One accumulator per streaming call, fed by tracekit's stream proxy chunk by
chunk as the caller receives them (``add``), asked once for what it adds up
to when the stream ends, however it ends (``finish``):

* :class:`ChatStream`: chat completion chunks. Content and refusal are
  joined per choice; tool calls (parallel ones too) are kept by their index
  and their argument fragments concatenated; finish reasons per choice; usage
  from the final chunk, which the API sends only with
  ``stream_options={"include_usage": True}``.
* :class:`ResponsesStream`: Responses API events. The text deltas are joined,
  and ``response.completed`` (or ``.incomplete``/``.failed``) carries the
  whole response with its usage, read like a non-streamed one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracekit_openai._extract import (
    Found,
    chat_usage,
    choices_outputs,
    get,
    responses_found,
)

if TYPE_CHECKING:
    from tracekit import Span


class ResponseFailed(Exception):
    """Recorded on a span whose Responses API response came back with status "failed"."""


def write(span: Span, found: Found, request_model: str | None) -> None:
    """Write an extracted result onto ``span``.

    The record's model becomes the one that answered (``gpt-4o-2024-08-06``
    for a request naming ``gpt-4o``, or the model behind an Azure deployment);
    the name the request used is kept as ``openai.request_model`` when it differs.
    """
    if found.outputs is not None:
        span.set_outputs(found.outputs)
    if found.model and found.model != request_model:
        span.set_model(found.model)
        if request_model:
            span.set_attribute("openai.request_model", request_model)
    usage = found.usage
    if usage is not None:
        span.set_usage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            **usage.extra,
        )
    if found.response_id:
        span.set_attribute("openai.response_id", found.response_id)
    if found.finish_reasons:
        span.set_attribute("openai.finish_reasons", found.finish_reasons)
    if found.error is not None:
        span.record_exception(ResponseFailed(found.error))


class _Choice:
    """One choice of a chat stream, as its deltas arrive."""

    __slots__ = ("content", "finish_reason", "function_call", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def add(self, delta: Any) -> None:
        role = get(delta, "role")
        if role:
            self.role = role
        content = get(delta, "content")
        if content:
            self.content.append(content)
        refusal = get(delta, "refusal")
        if refusal:
            self.refusal.append(refusal)
        for call in get(delta, "tool_calls", ()):
            index = get(call, "index", len(self.tool_calls))
            entry = self.tool_calls.get(index)
            if entry is None:
                entry = self.tool_calls[index] = {"id": None, "name": None, "arguments": []}
            _merge_call(entry, get(call, "id"), get(call, "function"))
        function_call = get(delta, "function_call")
        if function_call is not None:
            if self.function_call is None:
                self.function_call = {"id": None, "name": None, "arguments": []}
            _merge_call(self.function_call, None, function_call)

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content else None,
        }
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c["id"], "name": c["name"], "arguments": "".join(c["arguments"])}
                for _, c in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = {
                "name": self.function_call["name"],
                "arguments": "".join(self.function_call["arguments"]),
            }
        return message


def _merge_call(entry: dict[str, Any], call_id: Any, function: Any) -> None:
    if call_id:
        entry["id"] = call_id
    name = get(function, "name")
    if name and not entry["name"]:  # sent whole in the first delta; some servers repeat it
        entry["name"] = name
    arguments = get(function, "arguments")
    if arguments:
        entry["arguments"].append(arguments)


class ChatStream:
    """Accumulator for ``chat.completions.create(stream=True)``."""

    __slots__ = ("_choices", "_id", "_model", "_request_model", "_usage")

    def __init__(self, request_model: str | None) -> None:
        self._request_model = request_model
        self._choices: dict[int, _Choice] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._usage: Any = None

    def add(self, chunk: Any) -> None:
        """Take one ``ChatCompletionChunk``."""
        if self._id is None:
            self._id = get(chunk, "id")
        model = get(chunk, "model")
        if model:
            self._model = model
        usage = get(chunk, "usage")
        if usage is not None:
            self._usage = usage
        for choice in get(chunk, "choices", ()):
            index = get(choice, "index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            delta = get(choice, "delta")
            if delta is not None:
                state.add(delta)
            reason = get(choice, "finish_reason")
            if reason:
                state.finish_reason = reason

    def found(self) -> Found:
        """What the chunks so far add up to."""
        ordered = [self._choices[index] for index in sorted(self._choices)]
        return Found(
            outputs=choices_outputs([(c.message(), c.finish_reason) for c in ordered])
            if ordered
            else None,
            model=self._model,
            response_id=self._id,
            finish_reasons=[c.finish_reason for c in ordered if c.finish_reason],
            usage=chat_usage(self._usage),
        )

    def finish(self, span: Span) -> None:
        """Write the result onto the span (the stream ended, however it ended)."""
        write(span, self.found(), self._request_model)


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_START_EVENTS = frozenset({"response.created", "response.in_progress"})


class ResponsesStream:
    """Accumulator for ``responses.create(stream=True)``."""

    __slots__ = ("_error", "_final", "_id", "_model", "_request_model", "_text")

    def __init__(self, request_model: str | None) -> None:
        self._request_model = request_model
        self._text: list[str] = []
        self._final: Any = None
        self._id: str | None = None
        self._model: str | None = None
        self._error: str | None = None

    def add(self, event: Any) -> None:
        """Take one Responses API stream event."""
        kind = get(event, "type")
        if kind == "response.output_text.delta":
            self._text.append(get(event, "delta", ""))
        elif kind in _FINAL_EVENTS:
            self._final = get(event, "response")
        elif kind in _START_EVENTS:
            response = get(event, "response")
            self._id = get(response, "id", self._id)
            self._model = get(response, "model", self._model)
        elif kind == "error":
            self._error = str(get(event, "message", "error event"))

    def found(self) -> Found:
        """The final response when it arrived; else the text so far."""
        if self._final is not None:
            found = responses_found(self._final)
        else:
            content = "".join(self._text) if self._text else None
            found = Found(
                outputs={"message": {"role": "assistant", "content": content}},
                model=self._model,
                response_id=self._id,
            )
        return found if self._error is None else found._replace(error=self._error)

    def finish(self, span: Span) -> None:
        """Write the result onto the span (the stream ended, however it ended)."""
        write(span, self.found(), self._request_model)
