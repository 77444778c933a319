"""The span record: its fields, how a live span becomes one, and its JSON.

Everything that knows the record's shape lives here, once:

- ``RECORD_KEYS``, DESIGN.md's field order, and ``empty_record`` (placeholders,
  tests);
- ``to_record`` (a finished span, on the exporter's per-span path) and
  ``started_record`` (a span still open, read from its live fields);
- ``encode``, the record's compact JSON with where its payloads sit in it.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from tracekit import _guard, _processors
from tracekit._span import IN_CLEAN, OUT_CLEAN, Span

if TYPE_CHECKING:
    from tracekit._config import Options

RECORD_KEYS = (
    "trace_id", "span_id", "parent_id", "name", "kind", "project", "start_ns", "end_ns",
    "status", "error", "inputs", "outputs", "model", "usage", "attributes", "events",
)  # fmt: skip
"""The fields of a span record, in DESIGN.md's order (the order every record is built in)."""


def empty_record(**fields: Any) -> dict[str, Any]:
    """A record with every field at its empty value, then ``fields`` over them.

    Empty means: ids and strings ``""``, kind ``CHAIN``, times 0, status
    ``OK``, ``parent_id``/``error``/``model``/``usage`` None, and fresh empty
    payloads. The keys are ``RECORD_KEYS``, in order.

    Raises:
        TypeError: a name in ``fields`` is not a record field.
    """
    unknown = fields.keys() - set(RECORD_KEYS)
    if unknown:
        raise TypeError(f"not span record fields: {', '.join(sorted(unknown))}")
    record: dict[str, Any] = {
        "trace_id": "",
        "span_id": "",
        "parent_id": None,
        "name": "",
        "kind": "CHAIN",
        "project": "",
        "start_ns": 0,
        "end_ns": 0,
        "status": "OK",
        "error": None,
        "inputs": {},
        "outputs": {},
        "model": None,
        "usage": None,
        "attributes": {},
        "events": [],
    }
    record.update(fields)
    return record


# -- a live span -> a record ------------------------------------------------------------

_prepare = _processors.prepare_payload
_last_trace: tuple[int, str] = (0, "")


def _trace_hex(trace_id: int) -> str:
    """Format a trace id, reusing the last one: spans of a trace arrive together.

    The cache is one tuple swapped whole, so two exporter threads (an old
    pipeline finishing while a new one starts) can never see a torn pair.
    """
    global _last_trace
    last = _last_trace
    if last[0] == trace_id:
        return last[1]
    text = "%032x" % trace_id  # noqa: UP031 (twice as fast as an f-string)
    _last_trace = (trace_id, text)
    return text


def to_record(span: Span, project: str, options: Options) -> dict[str, Any]:
    """The span record of DESIGN.md for a finished span (exporter thread, once per span)."""
    limits = options.limits
    redact = options.redact
    flags = span._flags
    # Written out rather than through empty_record: this runs once per span.
    record: dict[str, Any] = {
        "trace_id": _trace_hex(span._trace_id),
        "span_id": "%016x" % span._span_id,  # noqa: UP031
        "parent_id": "%016x" % span._parent_id if span._parent_id else None,  # noqa: UP031
        "name": span.name,
        "kind": span.kind,
        "project": project,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "status": span._status,
        "error": span._error,
        "inputs": (inputs if flags & IN_CLEAN else _prepare(inputs, limits, redact))
        if (inputs := span._inputs)
        else {},
        "outputs": (outputs if flags & OUT_CLEAN else _prepare(outputs, limits, redact))
        if (outputs := span._outputs)
        else {},
        "model": span._model,
        "usage": span._usage,
        # An ended span is never changed again: its own containers can be used.
        "attributes": span._attrs or {},
        "events": span._events or [],
    }
    if redact and (span._attrs or span._events or span._error):
        _processors.redact_record_extras(record)
    if span._error and len(record["error"]["stack"]) > limits.max_string_chars:
        record["error"]["stack"] = record["error"]["stack"][-limits.max_string_chars :]
    return record


def started_record(span: Span, options: Options) -> dict[str, Any] | None:
    """A record of a span still open: ``end_ns`` None, status RUNNING, no outputs.

    Read from the live span's fields while its owner may still be changing
    them: attributes, events and a dict of inputs are copied first (the
    preparation of payloads works in place), and None is returned, after an
    internal-error log, if the span changed under us (the next round tries
    again).
    """
    try:
        attrs = dict(span._attrs) if span._attrs else {}
        events = list(span._events) if span._events else []
        inputs = span._inputs
        if type(inputs) is dict:
            inputs = dict(inputs)
        limits, redact = options.limits, options.redact
        parent_id = span._parent_id
        record: dict[str, Any] = {
            "trace_id": _trace_hex(span._trace_id),
            "span_id": "%016x" % span._span_id,  # noqa: UP031
            "parent_id": "%016x" % parent_id if parent_id else None,  # noqa: UP031
            "name": span.name,
            "kind": span.kind,
            "project": options.project,
            "start_ns": span.start_ns,
            "end_ns": None,
            "status": "RUNNING",
            "error": None,
            "inputs": (inputs if span._flags & IN_CLEAN else _prepare(inputs, limits, redact))
            if inputs
            else {},
            "outputs": {},
            "model": span._model,
            "usage": span._usage,
            "attributes": attrs,
            "events": events,
        }
        if redact and (attrs or events):
            _processors.redact_record_extras(record)
    except Exception as exc:  # a span changing under us: try again next round
        _guard.internal_error(exc, "pipeline.started_record", reraise=False)
        return None
    record["attributes"]["tracekit.pid"] = os.getpid()  # after redaction: never a secret
    return record


# -- the record as JSON -----------------------------------------------------------------

_encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_string = json.encoder.encode_basestring_ascii  # the json module's own escaper (C)


def _value(value: Any) -> str:
    """JSON for a field that is usually None, empty or a short string."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _string(value)
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    return _encode_json(value)


def _payload_json(payload: dict[str, Any]) -> str:
    """JSON for a payload dict; formatted directly when its values are str, int, bool or None."""
    parts = []
    for key, value in payload.items():
        t = type(value)
        if t is str:
            parts.append(f"{_string(key)}:{_string(value)}")
        elif t is int:
            parts.append(f"{_string(key)}:{value}")
        elif value is None:
            parts.append(f"{_string(key)}:null")
        elif t is bool:
            parts.append(f"{_string(key)}:{'true' if value else 'false'}")
        else:  # floats, containers: the encoder's rules
            return _encode_json(payload)
    return "{" + ",".join(parts) + "}"


def encode(record: dict[str, Any]) -> tuple[str, tuple[int, int, int, int]]:
    """The record as compact JSON, and where its inputs and its outputs sit inside it.

    Equal to ``json.dumps(record, separators=(",", ":"))`` (same keys, same
    order), but the fixed fields are formatted directly: a call into the JSON
    encoder costs about a microsecond however small its input. The offsets
    (1-based start, length of the inputs' JSON, then of the outputs') let the
    sqlite store search payloads inside the record without keeping a second
    copy. A record whose keys are not ``RECORD_KEYS`` in order (a processor
    added or reordered fields) is encoded whole, with offsets covering it all.
    """
    if tuple(record) != RECORD_KEYS:
        text = _encode_json(record)
        return text, (1, len(text), 1, 0)
    inputs = _payload_json(record["inputs"])
    outputs = _payload_json(record["outputs"])
    end = record["end_ns"]
    head = (
        f'{{"trace_id":{_string(record["trace_id"])},"span_id":{_string(record["span_id"])},'
        f'"parent_id":{_value(record["parent_id"])},"name":{_string(record["name"])},'
        f'"kind":{_string(record["kind"])},"project":{_string(record["project"])},'
        f'"start_ns":{int(record["start_ns"])},"end_ns":{"null" if end is None else int(end)},'
        f'"status":{_string(record["status"])},"error":{_value(record["error"])},"inputs":'
    )
    tail = (
        f',"model":{_value(record["model"])},"usage":{_value(record["usage"])},'
        f'"attributes":{_value(record["attributes"])},"events":{_value(record["events"])}}}'
    )
    in_start = len(head) + 1
    out_start = in_start + len(inputs) + len(',"outputs":')
    text = f'{head}{inputs},"outputs":{outputs}{tail}'
    return text, (in_start, len(inputs), out_start, len(outputs))
