"""A span's life: the one way to start one, the one sampling rule, and the ways it ends.

Every live span is built and registered by :func:`start_span`: the
decorators call it directly, ``tracekit.span()`` and the adapter API through
:func:`open_span`. The head-sampling rule lives in :func:`admit_root` alone,
used by those two and by the seed's ``log()``. Ending hands the span to the
pipeline's sink exactly once (:func:`end_span`), or first records why it
ended early (:func:`end_with_exception`).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from typing import Any

from tracekit._span import (
    CANCELLED,
    CLOSED,
    FORKED,
    NON_RECORDING,
    Span,
    SpanKind,
    freeze_mapping,
    kind_name,
    set_end_reason,
    set_error,
    setup,
)
from tracekit._state import ENABLED, config, open_spans, runtime

_new = Span.__new__
_random = random.random


def admit_root() -> bool:
    """Whether a new trace is kept, decided once at its root: head sampling, then room.

    A trace sampled in is refused whole while the queue is nearly full
    (``Pipeline.admit_spans``/``admit_bytes``, D109): like a trace sampled
    out it costs nothing more, and the room left goes to the traces already
    started, so they are stored whole. The refusal is counted (its root as
    one ``queue_full`` span); sampling out is not a loss (D9).
    """
    rate = runtime.sample_rate
    if rate < 1.0 and _random() >= rate:
        return False
    pipeline = config.pipeline
    if pipeline is None or (
        len(pipeline._queue) < pipeline.admit_spans
        and pipeline._bytes_in - pipeline._bytes_out < pipeline.admit_bytes
    ):
        return True
    pipeline.refuse_root()
    return False


def start_span(
    name: str,
    kind: str,
    parent: Span | None,
    inputs: dict[str, Any] | str | None = None,
    flags: int = 0,
    attrs: dict[str, Any] | None = None,
    attrs_size: int = 0,
) -> Span:
    """Build a live span under ``parent`` (None: a new trace) and register it as open.

    The caller has admitted it: tracing is on, ``parent`` is recording, and a
    new trace passed :func:`admit_root`. :func:`open_span` does all that; the
    decorators do it inline, before capturing the call's inputs, so a
    sampled-out root costs no capture.

    Args:
        name: the span's name.
        kind: a kind name (see ``_span.kind_name``).
        parent: the span to nest under; None starts a trace.
        inputs: the frozen inputs (``_serialize.freeze_sized``), or None.
        flags: initial flags (``IN_CLEAN`` when the inputs need no preparation).
        attrs: initial attributes, owned by the span from now on.
        attrs_size: the approximate bytes they and the inputs' strings and
            copied containers hold (for the queue's byte cap).
    """
    rt = runtime
    if parent is None:
        trace_id, parent_id = rt.new_id(128) or 1, 0
    else:
        trace_id, parent_id = parent._trace_id, parent._span_id
    span = _new(Span)
    setup(span, name, kind, trace_id, parent_id, rt.new_id(64) or 1, inputs, rt.clock())
    if flags:
        span._flags = flags
    if attrs is not None:
        span._attrs = attrs
    if attrs_size:
        span._extra_size = attrs_size
    open_spans[span._span_id] = span
    return span


def open_span(
    name: str, kind: SpanKind | str, parent: Span | None, inputs: Mapping[str, Any] | None
) -> Span:
    """Open a span with the inputs as given (``tracekit.span()``, the adapter API).

    Returns :data:`NON_RECORDING` when tracing is off, under a non-recording
    parent, or when the new trace is sampled out; the inputs are read and
    frozen only when the span records. Raises what a bad kind or a hostile
    mapping raises: the callers guard it.
    """
    if not ENABLED or parent is NON_RECORDING:
        return NON_RECORDING
    if parent is None and not admit_root():
        return NON_RECORDING
    frozen, size = None, 0
    if inputs is not None and runtime.capture_inputs:
        frozen, size = freeze_mapping(inputs, "input")  # a hostile mapping is read bounded
    return start_span(name, kind_name(kind), parent, frozen, attrs_size=size)


def end_span(span: Span) -> None:
    """End ``span`` now and hand it to the pipeline (exactly once)."""
    if span.end_ns:
        return
    rt = runtime
    span.end_ns = rt.clock()
    open_spans.pop(span._span_id, None)
    if span._flags & FORKED:
        return
    inputs, outputs = span._inputs, span._outputs
    # span_size() inlined: this runs once per traced call.
    span._size = (
        SPAN_BYTES
        + span._extra_size
        + (0 if inputs is None else len(inputs) if type(inputs) is str else 232 + 48 * len(inputs))
        + (
            0
            if outputs is None
            else len(outputs)
            if type(outputs) is str
            else 232 + 48 * len(outputs)
        )
    )
    rt.sink(span)
    if span._parent_id == 0 and rt.flush_root is not None:
        rt.flush_root()


SPAN_BYTES = 448
"""What a queued span holds beyond its payloads (the object, its ids and times), measured."""


def payload_size(payload: dict[str, Any] | str | None) -> int:
    """Approximate bytes a frozen payload holds (for the queue's byte cap).

    JSON text counts its length; a dict counts its own object and 48 bytes a
    key (its strings and copied containers are counted when frozen, in the
    span's ``_extra_size``). Measured with tracemalloc: a queued span's real
    memory is at most what :func:`span_size` counts, so the byte cap bounds
    the queue's memory (D106).
    """
    if payload is None:
        return 0
    return len(payload) if type(payload) is str else 232 + 48 * len(payload)


def span_size(span: Span) -> int:
    """The bytes a finished span counts in the queue (see :func:`payload_size`)."""
    return SPAN_BYTES + span._extra_size + payload_size(span._inputs) + payload_size(span._outputs)


def finish(span: Span, exc: BaseException | None = None) -> None:
    """End ``span``: normally, or because ``exc`` left it (see :func:`end_with_exception`)."""
    if exc is None:
        end_span(span)
    else:
        end_with_exception(span, exc)


def end_with_exception(span: Span, exc: BaseException) -> None:
    """End ``span`` because ``exc`` left it, recording why.

    ``GeneratorExit`` means the code was closed early (status stays OK, end
    reason "closed"); a cancelled asyncio task is an error with end reason
    "cancelled"; anything else is an error. A span that has ended already
    (exported as abandoned meanwhile) is left as it was exported.
    """
    if span.end_ns:
        return
    if isinstance(exc, GeneratorExit):
        span._flags |= CLOSED
        set_end_reason(span, "closed")
    else:
        set_error(span, exc)
        # asyncio is looked up, not imported: without it no CancelledError exists.
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None and isinstance(exc, asyncio.CancelledError):
            span._flags |= CANCELLED
            set_end_reason(span, "cancelled")
    end_span(span)


def is_inside(span: Span, ancestor: Span) -> bool:
    """Whether ``span`` descends from ``ancestor`` (walked up through the open spans)."""
    if span._trace_id != ancestor._trace_id:
        return False
    target = ancestor._span_id
    parent_id = span._parent_id
    while parent_id:
        if parent_id == target:
            return True
        parent = open_spans.get(parent_id)
        if parent is None:
            return False
        parent_id = parent._parent_id
    return False
