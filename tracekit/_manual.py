"""Manual spans: ``span()`` (sync and async) and ``current_span()``."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from tracekit import _guard, _serialize
from tracekit._context import CURRENT, restore
from tracekit._lifecycle import finish, open_span
from tracekit._span import NON_RECORDING, Span, SpanKind, _as_dict, kind_name
from tracekit._state import ENABLED


def current_span() -> Span:
    """The span current here; a non-recording span (never None) outside a trace."""
    span = CURRENT.get()
    return NON_RECORDING if span is None else span


def current_trace_id() -> str | None:
    """The current trace's 32-hex-digit id, or None outside a (recorded) trace."""
    span = CURRENT.get()
    if span is None or span is NON_RECORDING:
        return None
    return span.trace_id


class SpanScope:
    """The context manager ``tracekit.span()`` returns (``with`` or ``async with``).

    Entering opens a span under the current one and makes it current; leaving
    ends it, recording an exception that escapes the block (which still
    propagates). Entering with tracing off yields a non-recording span.
    """

    __slots__ = ("_inputs", "_kind", "_metadata", "_name", "_parent", "_span", "_token")

    def __init__(
        self,
        name: str,
        kind: SpanKind | str = "CHAIN",
        inputs: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = _serialize.safe_str(name)
        self._kind = kind_name(kind)
        self._inputs = inputs
        self._metadata = metadata
        self._span: Span = NON_RECORDING
        self._parent: Span | None = None
        self._token: Token[Span | None] | None = None

    def __enter__(self) -> Span:
        parent = CURRENT.get()
        try:
            span = open_span(self._name, self._kind, parent, self._inputs)
            if span is NON_RECORDING:
                if parent is not None or not ENABLED:
                    return span  # tracing off, or inside an unrecorded trace already
                # A new trace sampled out: current for the block, so nothing in it
                # starts a trace of its own.
            elif self._metadata is not None:
                for key, value in _as_dict(self._metadata, "metadata").items():
                    span.set_attribute(key, value)
        except Exception as exc:
            _guard.internal_error(exc, "span.enter")
            return NON_RECORDING
        self._span, self._parent = span, parent
        self._token = CURRENT.set(span)
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, span = self._token, self._span
        if token is None:
            return
        self._token = None
        restore(token, span, self._parent)
        if span is NON_RECORDING:
            return
        try:
            finish(span, exc)
        except Exception as inner:
            _guard.internal_error(inner, "span.exit")

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span(
    name: str,
    kind: SpanKind | str = "CHAIN",
    inputs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> SpanScope:
    """Open a span for a block: ``with tracekit.span("retrieve", kind="RETRIEVER") as s:``.

    Args:
        name: the span name.
        kind: a :class:`SpanKind` or its name.
        inputs: the inputs mapping to record (frozen on entry).
        metadata: attributes to record.

    Returns:
        A context manager (sync and async) yielding the :class:`Span`.
    """
    return SpanScope(name, kind, inputs, metadata)
