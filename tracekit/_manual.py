"""Manual spans: ``span()`` (sync and async), ``current_span()``, and the seed's ``log()``."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from tracekit import _config, _guard, _serialize
from tracekit._context import CURRENT, detach
from tracekit._span import (
    NON_RECORDING,
    Span,
    SpanKind,
    _as_mapping,
    finish,
    kind_name,
    payload_size,
    runtime,
    sampled_out,
    start_span,
)


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
        if not _config.is_enabled():
            return NON_RECORDING
        parent = CURRENT.get()
        if parent is NON_RECORDING:
            return NON_RECORDING
        try:
            span: Span
            if parent is None and sampled_out():
                span = NON_RECORDING
            else:
                text = None
                if self._inputs is not None and runtime.capture_inputs:
                    text = _serialize.freeze(dict(self._inputs), runtime.limits)
                span = start_span(self._name, self._kind, parent, text)
                for key, value in (self._metadata or {}).items():
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
        detach(token, span, self._parent)
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


def log(root: Span) -> None:
    """Record a hand-built span tree (the seed's API) as one trace.

    The root nests under the current span if there is one; otherwise it starts
    a new trace. Spans without an end time end now (or when their last child
    ended, if later). Logging a tree twice records it once.

    Args:
        root: the root of a tree built with ``Span(...)``/``add_child_span``.
    """
    if not _config.is_enabled() or not isinstance(root, Span) or root.end_ns:
        return
    parent = CURRENT.get()
    if parent is NON_RECORDING:
        return
    if parent is not None:
        root._trace_id, root._parent_id = parent._trace_id, parent._span_id
    elif not root._trace_id:
        if sampled_out():
            return
        root._trace_id = runtime.new_id(128) or 1
    _log_tree(root, set())


def _log_tree(span: Span, seen: set[int]) -> int:
    if id(span) in seen or span.end_ns:  # a cycle or a span logged already
        return 0
    seen.add(id(span))
    last_child_end = 0
    for child in getattr(span, "_children", None) or ():
        child._trace_id, child._parent_id = span._trace_id, span._span_id
        last_child_end = max(last_child_end, _log_tree(child, seen))
    results = getattr(span, "_results", None)
    if results:
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for result_in, result_out in results:
            inputs.update(_as_mapping(result_in, "input"))
            outputs.update(_as_mapping(result_out, "output"))
        limits = runtime.limits
        if runtime.capture_inputs:
            span._inputs = _serialize.freeze(inputs, limits)
        if runtime.capture_outputs:
            span._outputs = _serialize.freeze(outputs, limits)
    end = getattr(span, "_planned_end_ns", 0) or max(runtime.clock(), last_child_end)
    span.end_ns = max(end, span.start_ns)
    span._size = 256 + span._extra_size + payload_size(span._inputs) + payload_size(span._outputs)
    runtime.sink(span)
    return span.end_ns
