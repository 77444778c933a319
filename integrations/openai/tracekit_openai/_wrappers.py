"""The span around one OpenAI request: sync and async twins over shared helpers.

:class:`SyncCall` and :class:`AsyncCall` are the wrapt wrappers installed on
the resource methods. Each opens a span (``_start``), makes it current while
the request runs, so anything the client does underneath nests under it, and
then either ends it with what the response says (``_end``) or, for
``stream=True``, hands it to tracekit's stream proxy with an accumulator, so
it ends when the stream is exhausted, closed, exited, fails or is collected.
The two twins differ only by ``await``.

The user's call runs exactly once and its exception propagates unchanged (the
same object). Our own failures never reach the caller: they go to the adapter
API's ``internal_error`` (counted in ``tracekit.stats()["internal_errors"]``,
logged once through the ``tracekit`` logger without payloads, raised only
under the pytest plugin's strict mode), and the call goes on with a partial
span or none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple

import wrapt

import tracekit
from tracekit import Span
from tracekit.integrations import (
    Accumulator,
    AsyncTracedStream,
    TracedStream,
    current,
    finish_span,
    internal_error,
    open_span,
)
from tracekit_openai import _extract
from tracekit_openai._accumulate import ChatStream, ResponsesStream, write
from tracekit_openai._extract import Found

# The span of the OpenAI call running in this context. A patched method that an
# other patched method calls (openai 1.40's beta ``parse`` calls ``create``)
# sees its caller's span still current and records nothing: one call, one span.
_RUNNING: ContextVar[Span | None] = ContextVar("tracekit_openai_running", default=None)


class Endpoint(NamedTuple):
    """How to trace one API method: span name and kind, and how to read it."""

    name: str
    kind: str
    input_keys: tuple[str, ...]
    extract: Callable[[Any], Found]
    accumulator: Callable[[str | None], Accumulator] | None = None


CHAT_CREATE = Endpoint(
    "openai.chat.completions.create",
    "LLM",
    _extract.CHAT_INPUTS,
    _extract.chat_found,
    ChatStream,
)
CHAT_PARSE = CHAT_CREATE._replace(name="openai.chat.completions.parse", accumulator=None)
BETA_CHAT_PARSE = CHAT_PARSE._replace(name="openai.beta.chat.completions.parse")
RESPONSES_CREATE = Endpoint(
    "openai.responses.create",
    "LLM",
    _extract.RESPONSES_INPUTS,
    _extract.responses_found,
    ResponsesStream,
)
RESPONSES_PARSE = RESPONSES_CREATE._replace(name="openai.responses.parse", accumulator=None)
EMBEDDINGS_CREATE = Endpoint(
    "openai.embeddings.create", "EMBEDDING", _extract.EMBEDDINGS_INPUTS, _extract.embeddings_found
)


class _Call:
    """Configuration shared by the twins: the endpoint, and openai's response types.

    ``models`` is ``openai.BaseModel``, the base of every typed response: the
    common case, told apart at once. ``unread`` are openai's ``APIResponse``
    classes, which ``with_streaming_response`` returns before the body is
    read: tracekit never reads it for the caller. ``live`` turns False on
    unpatch, so a reference bound while patched (``with_raw_response`` caches
    the bound ``create``) stops tracing too.
    """

    __slots__ = ("endpoint", "live", "models", "unread")

    def __init__(
        self, endpoint: Endpoint, models: tuple[type, ...] = (), unread: tuple[type, ...] = ()
    ) -> None:
        self.endpoint = endpoint
        self.models = models
        self.unread = unread
        self.live = True


class SyncCall(_Call):
    """The wrapper of a sync resource method (``Completions.create``...)."""

    __slots__ = ()

    def __call__(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        started = _start(self, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        span, model = started
        token = _RUNNING.set(span)
        try:
            with current(span):
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            _RUNNING.reset(token)
        return _end(self, span, model, kwargs, result, _Stream)


class AsyncCall(_Call):
    """The wrapper of an async resource method (``AsyncCompletions.create``...)."""

    __slots__ = ()

    def __call__(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        return self._run(wrapped, args, kwargs)

    async def _run(
        self, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        started = _start(self, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        span, model = started
        token = _RUNNING.set(span)
        try:
            with current(span):
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            _RUNNING.reset(token)
        return _end(self, span, model, kwargs, result, _AsyncStream)


class _Stream(TracedStream):
    """openai's ``Stream``, traced; closing its ``response`` ends the span too.

    openai's helpers (``chat.completions.stream()``, ``responses.stream()``)
    close the stream they wrap by closing ``stream.response``: routed through
    here, that ends the span when the helper's ``with`` block is left, not when
    the helper is garbage-collected.
    """

    @property
    def response(self) -> Any:
        """The HTTP response; its ``close()`` also closes this stream."""
        return _ClosingResponse(self.__wrapped__.response, self)


class _AsyncStream(AsyncTracedStream):
    """The async twin of :class:`_Stream` (``aclose()`` on the response)."""

    @property
    def response(self) -> Any:
        """The HTTP response; its ``aclose()`` also closes this stream."""
        return _AsyncClosingResponse(self.__wrapped__.response, self)


class _ClosingResponse(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An HTTP response whose ``close()`` also closes its traced stream (ending the span)."""

    def __init__(self, response: Any, stream: _Stream) -> None:
        super().__init__(response)
        self._self_stream = stream

    def close(self) -> Any:
        """Close the response, then the stream."""
        try:
            return self.__wrapped__.close()
        finally:
            self._self_stream.close()


class _AsyncClosingResponse(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The async twin of :class:`_ClosingResponse` (``aclose()``)."""

    def __init__(self, response: Any, stream: _AsyncStream) -> None:
        super().__init__(response)
        self._self_stream = stream

    async def aclose(self) -> Any:
        """Close the response, then the stream."""
        try:
            return await self.__wrapped__.aclose()
        finally:
            await self._self_stream.close()


def _start(call: _Call, kwargs: Mapping[str, Any]) -> tuple[Span, str | None] | None:
    """Open the call's span with its inputs, model and parameters; None: do not trace."""
    if not call.live:
        return None
    running = _RUNNING.get()
    if running is not None and running is tracekit.current_span():
        return None
    endpoint = call.endpoint
    span = None
    try:
        span = open_span(
            endpoint.name, endpoint.kind, _extract.request_inputs(kwargs, endpoint.input_keys)
        )
        if not span.is_recording:
            return None
        model = _extract.request_model(kwargs)
        params = _extract.request_params(kwargs, endpoint.input_keys)
        if model is not None:
            span.set_model(model, **params)
        elif params:
            span.set_attribute("model_parameters", params)
    except Exception as exc:
        if span is not None:
            finish_span(span)  # first: under the pytest plugin the report raises
        internal_error(exc, "openai.start")
        return None
    return span, model


def _fail(span: Span, exc: BaseException) -> None:
    """End the span with the API's error (the caller re-raises it unchanged)."""
    try:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            span.set_attribute("openai.status_code", status)
    except Exception as inner:
        finish_span(span, exc)  # first: under the pytest plugin the report raises
        internal_error(inner, "openai.fail")
    else:
        finish_span(span, exc)


def _end(
    call: _Call,
    span: Span,
    model: str | None,
    kwargs: Mapping[str, Any],
    result: Any,
    proxy: type[_Stream] | type[_AsyncStream],
) -> Any:
    """Return what the caller gets: the result, or the stream wrapped to end the span."""
    try:
        accumulator = call.endpoint.accumulator
        if (
            accumulator is not None
            and _extract.is_stream(kwargs)
            and (hasattr(result, "__next__") or hasattr(result, "__anext__"))
            and not isinstance(result, call.unread)
        ):
            return proxy(result, span, accumulator(model))
        _record(call, span, model, kwargs, result)
    except Exception as exc:
        finish_span(span)  # first: under the pytest plugin the report raises
        internal_error(exc, "openai.end")
    else:
        finish_span(span)
    return result


def _record(
    call: _Call, span: Span, model: str | None, kwargs: Mapping[str, Any], result: Any
) -> None:
    """Write a returned response onto the span.

    ``with_raw_response`` returns openai's raw response wrapper: its ``parse()``
    is cached, so reading it here hands the caller the very object its own
    ``parse()`` returns, and the body is already in memory. A raw streamed
    response, and anything ``with_streaming_response`` returns, is left unread:
    the span records the HTTP status only.
    """
    body = result
    if not isinstance(result, call.models) and hasattr(result, "http_response"):
        span.set_attribute("openai.raw_response", True)
        status = getattr(result, "status_code", None)
        if isinstance(status, int):
            span.set_attribute("openai.status_code", status)
        if isinstance(result, call.unread) or _extract.is_stream(kwargs):
            return
        body = result.parse()
    write(span, call.endpoint.extract(body), model)
