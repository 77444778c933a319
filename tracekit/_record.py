"""The span record: its fields, how a live span becomes one, its JSON, the tree and token ownership.

Everything that knows the record's shape lives here, once:

- ``RECORD_KEYS``, DESIGN.md's field order, and ``empty_record`` (placeholders,
  tests);
- ``to_record`` (a finished span, on the exporter's per-span path) and
  ``started_record`` (a span still open, read from its live fields);
- ``encode``, the record's compact JSON with where its payloads sit in it;
- ``build_tree``, the one tree over a trace's records: children in start
  order, orphans as roots, and a span whose parent link loops back (itself,
  or a span below it) shown as a root marked ``cycle``;
- ``ownership`` / ``owned_tokens``, DESIGN's "one owner per logical call":
  the innermost span that reports usage owns it, over the tree
  ``build_tree`` draws.

``tracekit show``, ``tracekit ls`` (through the sqlite writer), the web UI,
the W&B tree and ``testing.Capture`` all use these, so they agree on spans and
tokens whatever order the records arrived in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, TypeGuard

from tracekit import _guard, _processors, _redact, _serialize, _state
from tracekit._span import IN_CLEAN, OUT_CLEAN, Span

if TYPE_CHECKING:
    from tracekit._options import Options

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
    name = span.name
    if type(name) is not str or not name.isascii():  # an adapter's name: any text (D97)
        name = _serialize.safe_str(name)
    if type(project) is not str or not project.isascii():
        project = _serialize.safe_str(project)
    # Written out rather than through empty_record: this runs once per span.
    record: dict[str, Any] = {
        "trace_id": _trace_hex(span._trace_id),
        "span_id": "%016x" % span._span_id,  # noqa: UP031
        "parent_id": "%016x" % span._parent_id if span._parent_id else None,  # noqa: UP031
        "name": name,
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
        _redact.redact_record_extras(record)
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
            "name": _serialize.safe_str(span.name),
            "kind": span.kind,
            "project": _serialize.safe_str(options.project),
            "start_ns": span.start_ns,
            "end_ns": None,
            "status": "RUNNING",
            "error": None,
            "inputs": (
                inputs if span._flags & IN_CLEAN else _prepare(inputs, limits, redact, owned=False)
            )
            if inputs
            else {},
            "outputs": {},
            "model": span._model,
            "usage": span._usage,
            "attributes": attrs,
            "events": events,
        }
        if redact and (attrs or events):
            _redact.redact_record_extras(record)
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

    Equal as JSON to ``json.dumps(record, separators=(",", ":"))`` (same keys,
    same order): orjson's when it is installed (:func:`_encode_c`), else the
    json module's text with the fixed fields formatted directly (a call into
    its encoder costs about a microsecond however small its input). The offsets
    (1-based start, length of the inputs' JSON, then of the outputs') let the
    sqlite store search payloads inside the record without keeping a second
    copy. A record whose keys are not ``RECORD_KEYS`` in order (a processor
    added or reordered fields) is encoded whole, with offsets covering it all.

    A record that cannot be encoded as it is (a processor put a value JSON
    has no form for, a lone surrogate or an int of more than 4,300 digits in
    it) is repaired in place, or replaced in place by a placeholder, as
    :func:`encode_checked` says; the caller's reads of its fields (the
    store's columns) then agree with the text. Never raises.
    """
    if _dumps is not None:
        fast = _encode_c(record)
        if fast is not None:
            return fast
    try:  # the common record, inline: this runs once per stored span
        text, spans = _encode(record)
        if not _state.config.options.processors or not _lone_escape(text):
            return text, spans
    except Exception:  # encode_checked repairs it, or makes a placeholder
        pass
    text, spans, lost = encode_checked(record)
    if lost is not None:
        _guard.log_once(
            "record:unencodable",
            "tracekit: a span record could not be encoded (%s); stored as a placeholder",
            lost,
        )
    return text, spans


_dumps: Callable[[Any], bytes] | None
_Fragment: Callable[[bytes], Any] | None
try:  # the C encoder (D105); the json module's rules below where it has no wheel
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover (CPython always has the wheel)
    _dumps = None
try:  # pre-encoded JSON orjson writes as it is (orjson 3.9+)
    from orjson import Fragment as _Fragment
except ImportError:  # pragma: no cover
    _Fragment = None

_INPUTS_KEY = ',"inputs":'
_SPLICE_FROM = 512  # payload bytes from which splicing beats a second encoding (measured)
# What follows the outputs of a record with none of the four (its offsets come from the end)
_PLAIN_TAIL = ',"model":null,"usage":null,"attributes":{},"events":[]}'
_FIELDS = len(RECORD_KEYS)


def _encode_c(record: dict[str, Any]) -> tuple[str, tuple[int, int, int, int]] | None:
    r""":func:`encode` through orjson, or None when the record needs the careful path.

    orjson writes non-ASCII text as UTF-8 rather than ``\uXXXX`` escapes (the
    text is equal as JSON, not as bytes) and refuses what it cannot encode
    exactly (an int beyond 64 bits, a lone surrogate, a non-string key, a
    type it does not know): those records take the json module's path,
    which repairs them, and so does every record when a user processor is
    configured (it may retype a field or put in a NaN, which orjson writes
    as null). The payloads are encoded first, on their own, for their
    lengths; large ones are spliced into the record's text as they are
    (``Fragment``). The inputs start after the first ``,"inputs":`` of the text:
    before them come only the fixed fields, where that sequence can only
    be a key (a JSON string cannot hold an unescaped quote), so only an
    error mapping with an ``inputs`` key (a processor's) could hold it.
    """
    dumps = _dumps
    if dumps is None:
        return None
    try:
        # Only a processor can add, remove, reorder or retype fields, or put in a NaN
        # (orjson would write null): then the json module's path checks and repairs.
        if len(record) != _FIELDS or _state.config.options.processors:
            return None
        error = record["error"]
        if error is not None and (type(error) is not dict or "inputs" in error):
            return None
        ins = dumps(record["inputs"])
        outs = dumps(record["outputs"])
        if _Fragment is None or len(ins) + len(outs) < _SPLICE_FROM:
            text = dumps(record).decode()  # small payloads: encoding them again is cheaper
        else:  # the payloads' JSON spliced in as it is, not encoded a second time
            shell = dict(record)  # the record itself is every backend's: never changed here
            shell["inputs"] = _Fragment(ins)
            shell["outputs"] = _Fragment(outs)
            text = dumps(shell).decode()
    except Exception:  # JSONEncodeError (a TypeError), KeyError: the careful path
        return None
    if text.isascii():
        in_len, out_len = len(ins), len(outs)
    else:  # offsets count characters, as SQLite's substr() does
        in_len, out_len = len(ins.decode()), len(outs.decode())
    if text.endswith(_PLAIN_TAIL):  # a span with no model, usage, attributes or events
        out_start = len(text) - len(_PLAIN_TAIL) - out_len + 1
        return text, (out_start - len(',"outputs":') - in_len, in_len, out_start, out_len)
    in_start = text.find(_INPUTS_KEY) + len(_INPUTS_KEY) + 1
    return text, (in_start, in_len, in_start + in_len + len(',"outputs":'), out_len)


def _lone_escape(text: str) -> bool:
    r"""Whether JSON text (ASCII) holds a lone surrogate's ``\udXXX`` escape.

    Only a user processor can put a lone surrogate back into a record
    (``to_record`` and the setters remove them), so the check runs only
    when one is configured: about 0.4 µs per KB of text (a backslash search
    first, then a regular expression).
    """
    return "\\" in text and _serialize.LONE_ESCAPE.search(text) is not None


def encode_checked(record: Any) -> tuple[str, tuple[int, int, int, int], str | None]:
    r""":func:`encode`, and why the record was replaced by a :func:`placeholder` (None if not).

    With a user processor configured, the text is also checked for a lone
    surrogate (escaped as ``\udXXX`` in the text, it would be refused as
    UTF-8 by a column or a reader: :func:`_lone_escape`). A record that
    fails is repaired (:func:`repair`) or, when
    even that cannot be encoded, replaced by a placeholder; a ``dict`` is
    changed in place to what was encoded. Never raises.
    """
    if _dumps is not None and type(record) is dict:
        fast = _encode_c(record)  # refuses what needs a repair: it comes here below
        if fast is not None:
            return fast[0], fast[1], None
    try:
        if type(record) is not dict:
            raise TypeError("not a dict")
        text, spans = _encode(record)
        if not _state.config.options.processors or not _lone_escape(text):
            return text, spans, None
        raise UnicodeError("lone surrogate")  # escaped in the text, refused by UTF-8
    except Exception as exc:
        fixed, lost = encodable(record, exc)
    if type(record) is dict:  # in place, never empty meanwhile (another backend's thread)
        record.update(fixed)
        for key in [key for key in record if key not in fixed]:
            del record[key]
    text, spans = _encode(fixed)
    return text, spans, lost


def _encode(record: dict[str, Any]) -> tuple[str, tuple[int, int, int, int]]:
    """:func:`encode` of a record that can be encoded (raises otherwise)."""
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


# -- records a backend cannot encode (D97-D99) -------------------------------------------

UNENCODABLE = "unencodable"
"""The drop reason of a span whose record was replaced by a :func:`placeholder`."""


def repair(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` that every backend can encode, or raise.

    Each field goes through the careful walker (``_serialize.to_jsonable``):
    lone surrogates become U+FFFD, ints beyond 64 bits a marker string,
    values JSON has no form for their conversion, NaN text; keys become
    strings. The record fields come first, in ``RECORD_KEYS`` order.
    """
    to_jsonable = _serialize.to_jsonable
    out = {key: to_jsonable(record[key]) for key in RECORD_KEYS if key in record}
    for key in ("name", "project"):
        if key in out and type(out[key]) is not str:
            out[key] = _serialize.safe_str(out[key])
    for key, value in record.items():
        if key not in out:
            out[_serialize.safe_str(key)] = to_jsonable(value)
    return out


def _field(record: Any, key: str) -> Any:
    try:
        return record.get(key)
    except Exception:
        return None


_HEX_DIGITS = frozenset("0123456789abcdef")


def _hex_id(value: Any, digits: int) -> str | None:
    if type(value) is str and len(value) == digits and _HEX_DIGITS.issuperset(value):
        return value
    return None


def _ns(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= _serialize.INT_MAX else None


def _text(value: Any, default: str) -> str:
    return default if value is None else _serialize.safe_str(value)[:1024]


def placeholder(record: Any, why: str) -> dict[str, Any]:
    """The record stored instead of one that cannot be encoded even after :func:`repair`.

    It keeps what holds the tree together (ids, parent, name, kind, project,
    times, status, the error's type), says in
    ``attributes["tracekit.unencodable"]`` what was lost and why, and has
    markers for payloads. Never raises.
    """
    marker = f"[unencodable: {why}]"
    note = (
        f"the span record could not be encoded ({why}): its inputs, outputs, model, "
        "usage, attributes, events and error message were dropped"
    )
    try:
        status = _field(record, "status")
        if type(status) is not str or status not in ("OK", "ERROR", "RUNNING"):
            status = "ERROR"
        kind = _field(record, "kind")
        if type(kind) is not str or not (kind.isascii() and kind.isupper()):
            kind = "CHAIN"
        start = _ns(_field(record, "start_ns")) or 0
        end = _ns(_field(record, "end_ns"))
        error = _field(record, "error")
        error_type = _field(error, "type") if issubclass(type(error), Mapping) else None
        return empty_record(
            trace_id=_hex_id(_field(record, "trace_id"), 32) or "0" * 32,
            span_id=_hex_id(_field(record, "span_id"), 16) or "0" * 16,
            parent_id=_hex_id(_field(record, "parent_id"), 16),
            name=_text(_field(record, "name"), "span"),
            kind=kind,
            project=_text(_field(record, "project"), "default"),
            start_ns=start,
            end_ns=None if status == "RUNNING" else (start if end is None else end),
            status=status,
            error=None
            if status != "ERROR"
            else {"type": _text(error_type, "Error"), "message": marker, "stack": ""},
            inputs={"…": marker},
            outputs={"…": marker},
            attributes={"tracekit.unencodable": note},
        )
    except Exception:  # nothing known gets here
        return empty_record(
            trace_id="0" * 32,
            span_id="0" * 16,
            name="(unencodable span record)",
            status="ERROR",
            error={"type": "Unencodable", "message": marker, "stack": ""},
            attributes={"tracekit.unencodable": note},
        )


def encodable(record: Any, exc: BaseException) -> tuple[dict[str, Any], str | None]:
    """What to store for a record whose encoding raised ``exc``: its repair, or a placeholder.

    Returns the record to store and, for a placeholder, why (else None).
    Never raises.
    """
    why = type(exc).__name__
    try:
        fixed = repair(record)
        _encode(fixed)  # the strictest encoder of the backends' (no NaN, ASCII)
        return fixed, None
    except Exception as again:
        why = f"{why}, then {type(again).__name__}"
    return placeholder(record, why), why


# -- the tree ---------------------------------------------------------------------------


class Node(TypedDict):
    """One span of a tree: its record, its children in start order, and whether a loop was cut.

    ``cycle`` is True on a span whose ``parent_id`` named itself or a span
    below it: the link is cut there and the span is shown as a root.
    """

    record: dict[str, Any]
    children: list[Node]
    cycle: bool


def _usable(span_id: object) -> TypeGuard[str]:
    """Whether a span id can be linked to: a non-empty string (anything else makes an orphan)."""
    return type(span_id) is str and span_id != ""


def _canonical(record: Mapping[str, Any]) -> str:
    """A record's content as one string, for a total order between records (never raises)."""
    try:
        return json.dumps(record, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types, a cycle
        return repr(sorted(map(repr, record.items())))


def _not_a_record(value: object) -> dict[str, Any]:
    """The placeholder shown for something among a trace's records that is not a mapping."""
    return empty_record(
        name="(not a span record)",
        status="ERROR",
        error={"type": "NotARecord", "message": type(value).__name__, "stack": ""},
    )


def _preferred(record: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether ``record`` wins over ``other`` for one span id: the ended one, else a total order."""
    ended, other_ended = record.get("end_ns") is not None, other.get("end_ns") is not None
    if ended != other_ended:
        return ended
    return _canonical(record) < _canonical(other)


def distinct(records: Iterable[Any]) -> list[dict[str, Any]]:
    """The records the tree and the token count are made of: each a mapping, one per span id.

    Something that is not a mapping becomes a placeholder record (an orphan
    root, so it is still counted and drawn). Two records of one span id (a
    span ended in two processes after a fork, a record exported twice) keep
    one: the ended one, else the smaller by content, so the result does not
    depend on the order of ``records``. A record whose span id is not a
    non-empty string is kept as it is: nothing can name it as a parent.
    """
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for item in records:
        if type(item) is dict:
            record = item
        else:  # another mapping is read as a dict; anything else is a placeholder
            record = dict(item) if isinstance(item, Mapping) else _not_a_record(item)
        span_id = record.get("span_id")
        if _usable(span_id):
            at = seen.get(span_id)
            if at is not None:
                if _preferred(record, out[at]):
                    out[at] = record
                continue
            seen[span_id] = len(out)
        out.append(record)
    return out


def _start_key(record: Mapping[str, Any]) -> tuple[int, int, str]:
    """Start order, then span id (unique after :func:`distinct`), then content; never raises.

    A record without a usable start goes last; records without a usable span
    id are ordered by their content, so ties never depend on arrival order.
    """
    start = record.get("start_ns")
    span_id = record.get("span_id")
    tail = span_id if _usable(span_id) else "\x00" + _canonical(record)
    if type(start) is int:
        return (0, start, tail)
    return (1, 0, tail)


def _links(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Each record's parent as an index (-1: no usable parent id, or one not among the records).

    A parent id names the first record with that span id (the records are
    :func:`distinct`, so there is only one).
    """
    index: dict[str, int] = {}
    for i, record in enumerate(records):
        span_id = record.get("span_id")
        if _usable(span_id):
            index.setdefault(span_id, i)
    find = index.get
    return [find(pid, -1) if type(pid := r.get("parent_id")) is str else -1 for r in records]


def _parents(records: Sequence[Mapping[str, Any]]) -> tuple[list[int], set[int]]:
    """Each record's parent in the tree (an index, -1 for a root), and the records cut loose.

    A parent id not among the records (not stored, or in another trace)
    makes an orphan, which is a root. Following parents from a record either
    reaches a root or enters a loop; each loop is cut once, at its
    earliest-starting span, so the result does not depend on the order of
    ``records`` (which must be :func:`distinct`).
    """
    parent = _links(records)
    cut: set[int] = set()
    state = bytearray(len(records))  # 0 not seen, 1 on the current walk, 2 placed
    for first, up in enumerate(parent):
        if state[first]:
            continue
        if up < 0 or state[up] == 2:  # a root, or under a span already placed: most spans
            state[first] = 2
            continue
        state[first] = 1
        path = [first]
        i = up
        while i >= 0 and not state[i]:
            state[i] = 1
            path.append(i)
            i = parent[i]
        if i >= 0 and state[i] == 1:  # the walk came back onto itself: a loop
            loop = path[path.index(i) :]
            earliest = min(loop, key=lambda j: _start_key(records[j]))
            parent[earliest] = -1
            cut.add(earliest)
        for j in path:
            state[j] = 2
    return parent, cut


def map_tree(
    root: Any,
    convert: Callable[[Any], Any],
    children: Callable[[Any], Iterable[Any]],
    kids: Callable[[Any], list[Any]],
) -> Any:
    """Convert a tree node by node, children in order, with a stack, not recursion.

    A trace can nest deeper than Python's recursion limit. ``convert`` makes the
    new node, ``children`` lists an old node's children, ``kids`` is the list of
    a new node that receives its converted children.
    """
    top = convert(root)
    stack = [(root, top)]
    while stack:
        node, made = stack.pop()
        for child in children(node):
            new = convert(child)
            kids(made).append(new)
            stack.append((child, new))
    return top


def build_tree(records: Iterable[Any]) -> list[Node]:
    """The records of one trace as a forest: roots in start order, each with its children.

    The records are :func:`distinct` first (one per span id, placeholders
    for what is not a record); each of those appears exactly once: orphans
    (parent not among the records, or not a usable id) are roots, and a span
    whose parent link loops back is a root with ``cycle`` True (see
    :class:`Node`). Never raises, whatever the records hold.
    """
    ordered = sorted(distinct(records), key=_start_key)
    parent, cut = _parents(ordered)
    nodes: list[Node] = [
        {"record": r, "children": [], "cycle": i in cut} for i, r in enumerate(ordered)
    ]
    roots: list[Node] = []
    for i, node in enumerate(nodes):
        p = parent[i]
        (nodes[p]["children"] if p >= 0 else roots).append(node)
    return roots


def cut_links(records: Iterable[Any]) -> set[str]:
    """The span ids whose parent link :func:`build_tree` cuts (marked ``cycle``)."""
    unique = distinct(records)
    _, cut = _parents(unique)
    return {str(unique[i].get("span_id")) for i in cut}


# -- token ownership --------------------------------------------------------------------

_INT64 = 2**63


def reported_tokens(record: Mapping[str, Any]) -> int | None:
    """The tokens a record reports: ``usage.total_tokens`` of a span that has ended, else None.

    A span still open (``end_ns`` None: running, or its process died) has no
    final usage yet and reports none. Only a whole count a 64-bit column can
    hold counts (not a bool, not negative).
    """
    usage = record.get("usage")
    if not usage or record.get("end_ns") is None or not isinstance(usage, dict):
        return None
    total = usage.get("total_tokens")
    if type(total) is int and 0 <= total < _INT64:
        return total
    return None


class Ownership(NamedTuple):
    """Who owns the tokens among some records of one trace."""

    owned: dict[str, int]
    """Span id -> the tokens it owns (only owners are listed)."""
    reaches: set[str]
    """Parent ids outside the records that have usage at or below them (for a streaming writer)."""
    below: set[str] = set()  # noqa: RUF012 (a NamedTuple default, never mutated)
    """Span ids among the records that have usage below them (so own nothing)."""


def ownership(records: Iterable[Any], covered: Container[str] = ()) -> Ownership:
    """DESIGN's "one owner per logical call" over the records of one trace.

    A span that reports usage owns it unless a span below it (in the tree
    :func:`build_tree` draws, over the same :func:`distinct` records) reports
    usage too: a framework's LLM span that wraps a client library's LLM span
    reports the same tokens, and only the innermost counts.

    Args:
        records: span records of one trace, in any order.
        covered: span ids known to have usage below them among spans not in
            ``records`` (a writer that sees a trace in batches says which of
            the batch's spans have such descendants already stored).
    """
    records = distinct(records)
    tokens = [reported_tokens(r) if r.get("usage") else None for r in records]
    marked = (
        [i for i, r in enumerate(records) if _usable(sid := r.get("span_id")) and sid in covered]
        if covered
        else []
    )
    if not marked and tokens.count(None) == len(tokens):
        return Ownership({}, set(), set())  # the common batch: no usage at all
    usage = [i for i, t in enumerate(tokens) if t is not None]
    # Most traces have no loop: climb the links as they are, and cut loops only when a
    # climb meets one (the first climb into a loop goes round it, so it always sees it).
    below, reaches, looped = _climb(records, _links(records), set(), marked, usage)
    if looped:
        below, reaches, _ = _climb(records, *_parents(records), marked, usage)
    owned = {
        str(records[i].get("span_id")): t
        for i, t in enumerate(tokens)
        if t is not None and not below[i]
    }
    covered_ids = {str(records[i].get("span_id")) for i, mark in enumerate(below) if mark}
    return Ownership(owned, reaches, covered_ids)


def _climb(
    records: Sequence[Mapping[str, Any]],
    parent: list[int],
    cut: set[int],
    covered: list[int],
    usage: list[int],
) -> tuple[list[int], set[str], bool]:
    """Mark the spans that have usage below them, climbing from where the usage is.

    Each climb marks ancestors up to one already marked (an earlier climb
    went on from there) or a root. ``covered`` spans are marked themselves
    first (their usage is below them, outside the records), ``usage`` spans
    are not (a span's own usage does not cover it).

    Returns the marks (non-zero: a span below reports usage), the parent ids
    outside the records that a climb reached, and whether a climb came back
    onto itself (``parent`` has a loop: the rest is then meaningless).
    """
    below = [0] * len(records)  # the number of the climb that marked the span
    reaches: set[str] = set()
    first_usage = len(covered) + 1
    for climb, i in enumerate((*covered, *usage), 1):
        if climb < first_usage:
            if below[i]:
                continue  # reached by an earlier climb, which went on from there
            below[i] = climb
        while True:
            p = parent[i]
            if p < 0:
                pid = records[i].get("parent_id")
                if type(pid) is str and i not in cut:  # an orphan: its parent is elsewhere
                    reaches.add(pid)
                break
            mark = below[p]
            if mark:
                if mark == climb:
                    return below, reaches, True
                break  # marked by an earlier climb, which went on from there
            below[p] = climb
            i = p  # noqa: PLW2901 (the climb moves up)
    return below, reaches, False


def owned_tokens(records: Iterable[Any]) -> int:
    """A trace's total tokens, each logical call counted once (see :func:`ownership`)."""
    return sum(ownership(records).owned.values())
