"""The live span and span kinds: one constructor for a span's fields, and its setters.

A :class:`Span` is mutable while it is open. When it ends it is handed to the
pipeline as it is; the exporter thread turns it into the span record of
DESIGN.md (``_record.to_record``), so the traced call never pays for that.
Opening and ending spans is :mod:`tracekit._lifecycle`; the seed's tree API
(``tracekit.log``) is :mod:`tracekit._seed`.
Inputs and outputs are frozen when they are captured: a dict of short plain
values is kept as it is (those values cannot change), anything else becomes
JSON text (``_serialize``), so later mutation by the caller cannot change them.
"""

from __future__ import annotations

import enum
import json
import traceback
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from tracekit import _guard, _serialize
from tracekit._state import runtime


class SpanKind(str, enum.Enum):
    """What a span stands for. The seed's four kinds plus RETRIEVER and EMBEDDING."""

    AGENT = "AGENT"
    TOOL = "TOOL"
    LLM = "LLM"
    CHAIN = "CHAIN"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"

    def __str__(self) -> str:
        return self.value


_KINDS = frozenset(k.value for k in SpanKind)


def kind_name(kind: SpanKind | str) -> str:
    """Normalise a kind given as ``SpanKind`` or string; ValueError if unknown."""
    value = kind.value if isinstance(kind, SpanKind) else str(kind).upper()
    if value not in _KINDS:
        raise ValueError(f"unknown span kind {kind!r}; expected one of {', '.join(sorted(_KINDS))}")
    return value


# Flags kept in Span._flags.
CLOSED = 1  # a generator closed (or garbage-collected) before it was exhausted
CANCELLED = 2  # an asyncio task cancelled while the span was open
FORKED = 4  # open in the parent when the process forked: the child never exports it
ABANDONED = 8  # still open past the open-span caps: exported as abandoned
IN_CLEAN = 16  # inputs need no preparation by the exporter (see _wrappers._capture)
OUT_CLEAN = 32  # same for outputs

END_REASON = "tracekit.end_reason"


class Span:
    """A unit of work: an agent step, a tool call, a chain, an LLM request.

    Spans are made for you by the decorators, ``tracekit.span()`` and the
    integrations. You can also build a tree by hand exactly as in the W&B
    Prompts tutorial and record it with :func:`tracekit.log`::

        parent = tracekit.Span(name="Example Span", span_kind=tracekit.SpanKind.AGENT)
        child = tracekit.Span(name="Tool 1", span_kind=tracekit.SpanKind.TOOL)
        child.add_named_result({"input": "..."}, {"response": "1998"})
        parent.add_child_span(child)
        tracekit.log(parent)

    Setters on a span that has already ended do nothing.
    """

    __slots__ = (
        "__weakref__",
        "_attrs",
        "_children",  # hand-built spans only (seed API)
        "_error",
        "_events",
        "_extra_size",
        "_flags",
        "_inputs",
        "_model",
        "_outputs",
        "_parent_id",
        "_planned_end_ns",  # hand-built spans only: the end time given, 0 if none
        "_results",  # hand-built spans only (seed API)
        "_size",
        "_span_id",
        "_status",
        "_trace_id",
        "_usage",
        "end_ns",
        "kind",
        "name",
        "start_ns",
    )

    _attrs: dict[str, Any] | None
    _children: list[Span] | None
    _error: dict[str, str] | None
    _events: list[dict[str, Any]] | None
    _extra_size: int  # approximate JSON bytes of attributes and events
    _flags: int
    _inputs: dict[str, Any] | str | None
    _model: str | None
    _outputs: dict[str, Any] | str | None
    _parent_id: int
    _planned_end_ns: int
    _results: list[tuple[Any, Any]] | None
    _size: int
    _span_id: int
    _status: str
    _trace_id: int
    _usage: dict[str, int] | None
    end_ns: int
    kind: str
    name: str
    start_ns: int

    def __init__(
        self,
        name: str | None = None,
        span_kind: SpanKind | str | None = None,
        *,
        span_id: str | None = None,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        status_code: str | None = None,
        status_message: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        results: Iterable[Any] | None = None,
        child_spans: Iterable[Span] | None = None,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Build a span by hand (the seed's tree API); record it with ``tracekit.log``.

        Args:
            name: the span's name.
            span_kind: a :class:`SpanKind` or its name; CHAIN when omitted.
            span_id: an explicit 16-hex-digit id (generated otherwise).
            start_time_ms: start time in epoch milliseconds (default: now).
            end_time_ms: end time in epoch milliseconds (default: when logged).
            status_code: ``"SUCCESS"``/``"OK"`` or ``"ERROR"``.
            status_message: the error message when ``status_code`` is ERROR.
            attributes: initial attributes.
            results: seed ``Result`` objects or ``(inputs, outputs)`` pairs.
            child_spans: initial children.
            inputs: initial inputs mapping.
            outputs: initial outputs mapping.
        """
        setup(
            self,
            _serialize.safe_str(name) if name is not None else "span",
            kind_name(span_kind) if span_kind is not None else "CHAIN",
            0,
            0,
            _parse_id(span_id) if span_id else (runtime.new_id(64) or 1),
            None,
            _ms_to_ns(start_time_ms) if start_time_ms is not None else runtime.clock(),
        )
        if end_time_ms is not None:
            self._planned_end_ns = _ms_to_ns(end_time_ms)
        if status_code is not None and _serialize.safe_str(status_code).upper() == "ERROR":
            self._status = "ERROR"
            message = "" if status_message is None else _serialize.safe_str(status_message)
            message = _serialize.cut_string(message, runtime.limits.max_string_chars)
            self._error = {"type": "Error", "message": message, "stack": ""}
        if attributes is not None:
            for key, value in _as_dict(attributes, "attributes").items():
                self.set_attribute(key, value)
        cap = runtime.limits.max_items
        for result in _first(results, cap):
            try:
                pair = (
                    result
                    if issubclass(type(result), tuple)
                    else (getattr(result, "inputs", None), getattr(result, "outputs", None))
                )
                result_in, result_out = pair[0], pair[1]
            except Exception as exc:  # a hostile result object: a placeholder for it
                result_in = result_out = {"…": _serialize.unreadable(exc)}
            self.add_named_result(
                {} if result_in is None else result_in, {} if result_out is None else result_out
            )
        for child in _first(child_spans, cap):
            self.add_child_span(child)
        if inputs is not None:
            self.set_inputs(inputs)
        if outputs is not None:
            self.set_outputs(outputs)

    # -- identity ------------------------------------------------------------------

    @property
    def trace_id(self) -> str | None:
        """The 32-hex-digit trace id (None for a hand-built span not yet logged)."""
        return f"{self._trace_id:032x}" if self._trace_id else None

    @property
    def span_id(self) -> str:
        """The 16-hex-digit span id."""
        return f"{self._span_id:016x}"

    @property
    def parent_id(self) -> str | None:
        """The parent's span id, or None for a root span."""
        return f"{self._parent_id:016x}" if self._parent_id else None

    @property
    def is_recording(self) -> bool:
        """True: this span will be exported (see :func:`tracekit.current_span`)."""
        return True

    @property
    def status(self) -> str:
        """``"OK"`` or ``"ERROR"``."""
        return self._status

    def __repr__(self) -> str:
        return f"<tracekit.Span {self.kind} {self.name!r} span_id={self.span_id}>"

    # -- setters -------------------------------------------------------------------

    # Every setter takes any value and never raises: a value it cannot read is
    # recorded as a placeholder (docs/decisions/payload.md, D99).

    def set_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Replace the span's inputs (frozen now); nothing with ``capture_inputs=False``."""
        if not self.end_ns and runtime.capture_inputs:
            try:
                self._inputs, size = freeze_mapping(inputs, "input")
                self._extra_size += size  # a replaced payload stays counted: an upper bound
            except Exception as exc:
                _guard.internal_error(exc, "span.set_inputs")
                return
            self._flags &= ~IN_CLEAN  # new values: the exporter must prepare them

    def set_outputs(self, outputs: Mapping[str, Any]) -> None:
        """Replace the outputs with ``outputs``; nothing with ``capture_outputs=False``."""
        if not self.end_ns and runtime.capture_outputs:
            try:
                self._outputs, size = freeze_mapping(outputs, "output")
                self._extra_size += size  # a replaced payload stays counted: an upper bound
            except Exception as exc:
                _guard.internal_error(exc, "span.set_outputs")
                return
            self._flags &= ~OUT_CLEAN

    def set_output(self, value: Any) -> None:
        """Record one value as ``{"output": value}``; nothing with ``capture_outputs=False``."""
        if not self.end_ns and runtime.capture_outputs:
            try:
                self._outputs, size = freeze_output(value)
                self._extra_size += size  # a replaced payload stays counted: an upper bound
            except Exception as exc:
                _guard.internal_error(exc, "span.set_output")
                return
            self._flags &= ~OUT_CLEAN

    def set_usage(
        self,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        **extra: int,
    ) -> None:
        """Record token usage. ``total_tokens`` defaults to prompt + completion.

        Extra counters (``cached_tokens``, ``reasoning_tokens``...) are kept too.
        """
        if self.end_ns:
            return
        prompt = _int(prompt_tokens)
        completion = _int(completion_tokens)
        total = _int(total_tokens) if total_tokens is not None else prompt + completion
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": total,
        }
        for key, value in extra.items():
            if value is not None:
                usage[_serialize.safe_str(key)] = _int(value)
        for key, value in usage.items():
            if not _serialize.INT_MIN <= value <= _serialize.INT_MAX:
                usage[key] = _serialize.big_int(value)  # a marker string (D98)
        self._usage = usage

    def set_model(self, name: str, **params: Any) -> None:
        """Record the model name and, optionally, its request parameters.

        Parameters go to the ``model_parameters`` attribute.
        """
        if self.end_ns:
            return
        self._model = _serialize.safe_str(name)
        if params:
            self.set_attribute("model_parameters", params)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; the value is converted to JSON-safe data now."""
        if self.end_ns:
            return
        attrs = self._attrs
        if attrs is None:
            attrs = self._attrs = {}
        value = _serialize.to_jsonable(value, runtime.limits)
        attrs[key if type(key) is str and key.isascii() else _serialize.safe_str(key)] = value
        self._extra_size += _approx_size(value)

    def add_attribute(self, key: str, value: Any) -> None:
        """Seed-compatible alias of :meth:`set_attribute`."""
        self.set_attribute(key, value)

    def add_event(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        timestamp_ns: int | None = None,
    ) -> None:
        """Add a timestamped event (a log line, a retry, a streamed chunk...)."""
        if self.end_ns:
            return
        event = {
            "name": _serialize.safe_str(name),
            "time_ns": _time_ns(timestamp_ns),
            "attributes": {} if attributes is None else _as_dict(attributes, "attributes"),
        }
        if self._events is None:
            self._events = []
        self._events.append(event)
        self._extra_size += 64 + _approx_size(event["attributes"])

    def record_exception(self, exc: BaseException) -> None:
        """Mark the span as failed with ``exc`` (type, message and stack)."""
        if not self.end_ns:
            set_error(self, exc)

    # -- the seed's tree API -------------------------------------------------------

    def add_named_result(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """Add one named inputs/outputs pair (seed API); pairs are merged in order."""
        if self.end_ns:
            return
        limits = runtime.limits
        results = self._results
        if results is None:
            results = self._results = []
        results.append(
            (_serialize.to_jsonable(inputs, limits), _serialize.to_jsonable(outputs, limits))
        )

    def add_child_span(self, child: Span) -> None:
        """Attach ``child`` under this span (seed API); anything but a span is ignored."""
        if not issubclass(type(child), Span):
            return
        children = self._children
        if children is None:
            children = self._children = []
        children.append(child)

    @property
    def child_spans(self) -> list[Span]:
        """The hand-built children of this span."""
        return list(self._children or ())


class NonRecordingSpan(Span):
    """The span you get outside any trace: every setter does nothing.

    ``tracekit.current_span()`` returns it instead of None, so user code never
    has to branch. It is also what is current inside an unsampled trace and on
    the exporter thread (where tracing is suppressed).
    """

    __slots__ = ()

    def __init__(self) -> None:
        setup(self, "", "CHAIN", 0, 0, 0, None, 0)
        # Marked as ended: every setter of Span already ignores an ended span.
        self.end_ns = 1

    @property
    def is_recording(self) -> bool:
        """False: nothing set on this span is kept."""
        return False

    @property
    def span_id(self) -> str:
        """All zeros, the W3C invalid span id."""
        return "0" * 16

    def __repr__(self) -> str:
        return "<tracekit.NonRecordingSpan>"

    def add_child_span(self, child: Span) -> None:
        pass


def setup(
    span: Span,
    name: str,
    kind: str,
    trace_id: int,
    parent_id: int,
    span_id: int,
    inputs: dict[str, Any] | str | None,
    start_ns: int,
) -> None:
    """Set every field of ``span``: the one place a span's fields are initialised.

    ``Span(...)`` (the seed's constructor), ``NonRecordingSpan()`` and
    ``_lifecycle.start_span`` (the hot path) all come here, so no field is ever
    unset and no reader needs ``getattr(span, ..., None)``.
    """
    span.name = name
    span.kind = kind
    span._trace_id = trace_id
    span._parent_id = parent_id
    span._span_id = span_id
    span._inputs = inputs
    span._outputs = None
    span._status = "OK"
    span._error = None
    span._model = None
    span._usage = None
    span._attrs = None
    span._events = None
    span._children = None
    span._results = None
    span._flags = 0
    span._extra_size = 0
    span._size = 0
    span._planned_end_ns = 0
    span.end_ns = 0
    span.start_ns = start_ns


NON_RECORDING = NonRecordingSpan()


def error_type(exc: BaseException) -> str:
    """The recorded error type: the exception class name."""
    return _serialize.safe_str(type(exc).__name__)


def set_error(span: Span, exc: BaseException) -> None:
    """Record ``exc`` on ``span``: status ERROR with type, message and stack.

    Never raises, whatever ``exc`` is (an exception whose ``__str__`` raises
    or whose text holds a lone surrogate included).
    """
    span._status = "ERROR"
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ""
    limit = runtime.limits.max_string_chars
    message = _serialize.cut_string(_serialize.safe_str(exc), limit)
    span._error = {
        "type": error_type(exc),
        "message": message,
        "stack": _serialize.clean_text(stack[-limit:]),
    }


def set_end_reason(span: Span, reason: str) -> None:
    """Record why a span ended early ("closed", "cancelled", "abandoned")."""
    if span._attrs is None:
        span._attrs = {}
    span._attrs[END_REASON] = reason


def _approx_size(value: Any) -> int:
    """Bytes a JSON-safe value takes as JSON (exact for strings, measured otherwise)."""
    t = type(value)
    if t is str:
        return len(value) + 2
    if value is None or t is bool or t is int or t is float:
        return 8
    try:
        return len(json.dumps(value))
    except Exception:
        return 1024


def _int(value: Any) -> int:
    """A token count as an int (0 when ``value`` is not a number); never raises."""
    if type(value) is int:
        return value
    if value is None:
        return 0
    try:
        return int.__int__(int(value))  # any int subclass __int__ returns, made exact
    except Exception:  # not a number, NaN, infinity, a hostile __int__
        return 0


def _ms_to_ns(value: Any) -> int:
    """Epoch milliseconds (the seed's times) -> nanoseconds; now when not a number."""
    try:
        ns = int(value * 1_000_000)
    except Exception:
        return runtime.clock()
    return ns if 0 <= ns <= _serialize.INT_MAX else runtime.clock()


def _time_ns(value: Any) -> int:
    """An event's time: ``value`` if it is a nanosecond time a record can hold, else now."""
    if type(value) is int and 0 <= value <= _serialize.INT_MAX:
        return value
    if value is not None:
        try:
            ns = int.__int__(int(value))
            if 0 <= ns <= _serialize.INT_MAX:
                return ns
        except Exception:
            pass
    return runtime.clock()


def _first(values: Any, cap: int) -> Iterable[Any]:
    """At most ``cap`` items of an iterable given by the caller (an endless one ends)."""
    if values is None:
        return ()
    try:
        return list(islice(iter(values), cap))
    except Exception as exc:
        _guard.log_once(
            f"span.items:{type(exc).__name__}",
            "tracekit: a span's items could not be read (%s); left out",
            type(exc).__name__,
        )
        return ()


def _as_dict(value: Any, default_key: str) -> dict[str, Any]:
    """A mapping given by the caller as JSON-safe data (``to_jsonable``: bounded, never raises)."""
    converted = _serialize.to_jsonable(value, runtime.limits)
    return converted if type(converted) is dict else {default_key: converted}


def freeze_output(value: Any) -> tuple[dict[str, Any] | str, int]:
    """Freeze a single return value as ``{"output": value}``, and its size beyond the keys."""
    frozen, size, _ = _serialize.freeze_sized({"output": value}, runtime.limits)
    return frozen, size


def freeze_mapping(value: Any, default_key: str) -> tuple[dict[str, Any] | str, int]:
    """Freeze inputs or outputs given as a mapping (anything else is ``{default_key: value}``).

    Never runs an unbounded amount of the caller's code: a dict subclass or
    another mapping is read by the careful walker (``_serialize.snapshot``).
    Returns the frozen payload and the bytes its strings and copied
    containers hold (the span adds them to its size for the queue's byte cap).
    """
    t = type(value)
    if t is dict:
        frozen, size, _ = _serialize.freeze_sized(value, runtime.limits, owned=False)
        return frozen, size
    return _serialize.snapshot(_as_mapping(value, default_key), runtime.limits), 0


def _as_mapping(value: Any, default_key: str) -> Any:
    t = type(value)
    return value if t is dict or issubclass(t, Mapping) else {default_key: value}


def _parse_id(value: Any) -> int:
    try:
        return int(value, 16) or 1
    except Exception:
        return runtime.new_id(64) or 1
