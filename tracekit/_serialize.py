"""Any Python value -> JSON-safe data, never raising, bounded in size and time.

Two entry points:

* :func:`snapshot` runs on the hot path. It freezes a value at call time so a
  caller mutating its list afterwards does not change the record. Plain data
  goes through the C JSON encoder (the fastest snapshot Python has); anything
  else falls back to :func:`to_jsonable`.
* :func:`to_jsonable` is the careful walker: pydantic models, dataclasses,
  enums, bytes (invalid UTF-8 too), sets, datetimes, NaN/inf, objects whose
  ``__repr__`` raises, cycles, deep nesting and huge strings or containers all
  become JSON data, with an explicit marker wherever something was cut.

Hostile objects (docs/decisions/payload.md, D99): only exact ``list``,
``dict`` and ``tuple`` are read without running their own code. Anything else
is iterated through ``islice`` (at most ``max_items + 1`` items, so an endless
``__iter__`` ends), its type is tested with ``issubclass(type(x), ...)`` (a
raising ``__class__`` or ``__getattribute__`` is never consulted), and a value
whose reading raises becomes ``"[unreadable: ErrorType]"`` while its siblings
are kept. One walk converts at most ``WALK_MAX_VALUES`` values and stops after
``WALK_BUDGET_S`` seconds, leaving a marker where it stopped.

Two repairs make every value encodable everywhere (D97, D98): a lone
surrogate in a string becomes U+FFFD (:func:`clean_text`), and an int outside
the signed 64-bit range becomes a marker string (:func:`big_int`).
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as _dt
import enum
import json
import marshal
import math
import re
import time
from collections.abc import Mapping
from itertools import islice
from typing import Any, NamedTuple

from tracekit._redact import key_verdict, unchanged_by_redaction

_dumps = json.dumps  # the module's cached default encoder: the fastest path
_marshal = marshal.dumps
_clock = time.monotonic


class Limits(NamedTuple):
    """Size caps applied to traced values (DESIGN.md "Published defaults")."""

    max_string_chars: int = 100_000
    max_depth: int = 20
    max_items: int = 1_000
    max_record_bytes: int = 1 << 20


DEFAULT_LIMITS = Limits()

WALK_MAX_VALUES = 100_000
"""Values one walk converts at most (containers and their items); then a marker."""
WALK_BUDGET_S = 0.1
"""Seconds one walk may take; the clock is read at every object and every 16th container."""

# -- strings: lone surrogates (D97) -----------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


# A lone surrogate in JSON text written by json.dumps (ASCII, lowercase hex): a high
# one not followed by a low one, or a low one not preceded by a high one.
LONE_ESCAPE = re.compile(
    r"\\ud(?:[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2}\\ud)[c-f][0-9a-f]{2})"
)


def clean_text(value: str) -> str:
    r"""``value`` with every lone surrogate replaced by U+FFFD.

    A lone surrogate (``json.loads('"\\ud800"')``, ``os.fsdecode`` of bytes
    that are not UTF-8, an emoji cut between its two halves) cannot be
    encoded as UTF-8, so SQLite, a UTF-8 terminal or protobuf would refuse
    the whole batch. Two surrogates that form a pair are joined into the one
    character they stand for. O(1) for ASCII text.
    """
    if value.isascii() or _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# -- ints beyond 64 bits (D98) ----------------------------------------------------------

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
_SHOWN_BITS = 332  # 2**332 has 100 digits: printing up to there is cheap


def big_int(value: int) -> str:
    """The marker string for an int outside the signed 64-bit range.

    ``"[int: 1180591620717411303424]"`` up to 100 digits, else
    ``"[int: about 5001 digits]"`` (``"[int: negative, about ...]"``): the
    digits of a huge int are never computed (``str()`` refuses more than
    4,300 of them and is quadratic).
    """
    value = int.__int__(value)  # an int subclass's own __int__ / __repr__ never runs
    if value.bit_length() <= _SHOWN_BITS:
        return f"[int: {int.__repr__(value)}]"
    digits = int(math.log10(abs(value))) + 1
    sign = "negative, " if value < 0 else ""
    return f"[int: {sign}about {digits} digits]"


# -- cutting ----------------------------------------------------------------------------

_CUT_MARK = re.compile(r"…\[truncated: \d+ chars\]\Z")


def cut_string(value: str, limit: int) -> str:
    """Cut ``value`` to ``limit`` characters, leaving a marker with the original size.

    A string already cut (by an earlier stage) is left alone, so the marker
    keeps the size of the original.
    """
    if len(value) <= limit or (len(value) <= limit + 40 and _CUT_MARK.search(value)):
        return value
    return f"{value[:limit]}…[truncated: {len(value)} chars]"


def _text(value: str, limit: int) -> str:
    """A string within ``limit`` characters and free of lone surrogates."""
    if len(value) > limit:
        value = cut_string(value, limit)
    return clean_text(value)


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    # JSON has no NaN/Infinity: keep the meaning as text so the output stays valid JSON.
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def unreadable(exc: BaseException) -> str:
    """The placeholder for a value whose reading raised ``exc``."""
    return f"[unreadable: {type(exc).__name__}]"


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
        if type(text) is not str:  # a __repr__ returning a str subclass
            text = str.__str__(text)
        return text
    except Exception:
        try:
            return f"<unrepresentable {type(value).__qualname__}>"
        except Exception:
            return "<unrepresentable object>"


def _key(value: Any) -> str:
    t = type(value)
    if t is str:
        return clean_text(value)
    if t is int:
        return str(value) if INT_MIN <= value <= INT_MAX else big_int(value)
    if value is None or t is bool or t is float:
        return json.dumps(_float(value) if t is float else value)
    if issubclass(t, enum.Enum):
        return _key(value.value)
    if issubclass(t, str):
        return clean_text(str.__str__(value))
    if issubclass(t, int):
        return _key(int.__int__(value))
    return clean_text(_safe_repr(value))


def _bytes(value: bytes | bytearray | memoryview) -> str:
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


# -- the careful walker -----------------------------------------------------------------


_CHECK_EVERY = 1_000  # values converted between two reads of the clock


class _Walk:
    """The state of one walk: its caps, the current path (cycles), what is left of its budget."""

    __slots__ = (
        "check_at",
        "deadline",
        "left",
        "max_chars",
        "max_depth",
        "max_items",
        "path",
        "stopped",
    )

    def __init__(self, limits: Limits) -> None:
        self.max_chars = limits.max_string_chars
        self.max_depth = limits.max_depth
        self.max_items = limits.max_items
        self.path: set[int] = set()
        self.left = WALK_MAX_VALUES  # values this walk may still convert
        self.check_at = WALK_MAX_VALUES - _CHECK_EVERY  # ``left`` at which to look again
        self.deadline = _clock() + WALK_BUDGET_S
        self.stopped: str | None = None  # the marker left everywhere once the walk ran out

    def over(self) -> str | None:
        """The marker if the walk ran out of values or time, else None (``left <= check_at``)."""
        if self.stopped is None:
            if self.left <= 0:
                self._stop(f"[truncated: walk over {WALK_MAX_VALUES} values]")
            elif _clock() > self.deadline:
                self._stop(f"[truncated: walk over {WALK_BUDGET_S * 1000:g} ms]")
            else:
                self.check_at = max(0, self.left - _CHECK_EVERY)
        return self.stopped

    def timed_out(self) -> bool:
        """Read the clock now (after user code ran: a repr, a model_dump, an iterator)."""
        if self.stopped is None and _clock() > self.deadline:
            self._stop(f"[truncated: walk over {WALK_BUDGET_S * 1000:g} ms]")
        return self.stopped is not None

    def _stop(self, marker: str) -> None:
        self.stopped = marker
        self.check_at = 1 << 62  # every later container or object gets the marker at once


def to_jsonable(value: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Convert ``value`` to JSON-safe data within ``limits``; never raises."""
    t = type(value)
    if t is str:
        if len(value) <= limits.max_string_chars and value.isascii():
            return value
    elif value is None or t is bool or (t is int and INT_MIN <= value <= INT_MAX):
        return value
    elif t is float:
        return _float(value)
    try:
        return _walk(value, _Walk(limits), 0)
    except RecursionError:
        return "[truncated: nesting too deep]"
    except Exception as exc:
        return unreadable(exc)


def _walk(value: Any, w: _Walk, depth: int) -> Any:
    t = type(value)
    if t is str:
        return value if len(value) <= w.max_chars and value.isascii() else _text(value, w.max_chars)
    if value is None or t is bool:
        return value
    if t is int:
        return value if -9223372036854775808 <= value <= 9223372036854775807 else big_int(value)
    if t is float:
        return _float(value)
    if depth >= w.max_depth:
        return f"[truncated: deeper than {w.max_depth} levels]"
    if w.left <= w.check_at and w.over() is not None:
        return w.stopped
    try:
        if t is not dict and t is not list:  # plain containers skip the type tests below
            converted = _convert(value, t, w, depth)
            if converted is not _MISSING:
                return converted
        # Containers and objects: cut cycles (only along the current path, so a value
        # shared by two branches is kept in both).
        ident = id(value)
        path = w.path
        if ident in path:
            return "[cycle]"
        path.add(ident)
        try:
            return _walk_container(value, t, w, depth)
        finally:
            path.discard(ident)
    except RecursionError:
        raise  # too deep for this thread's stack: to_jsonable marks the whole value
    except Exception as exc:  # one hostile value: a placeholder, its siblings are kept
        return unreadable(exc)


def _convert(value: Any, t: type, w: _Walk, depth: int) -> Any:
    """Scalars of other types (subclasses, enums, bytes, dates); ``_MISSING`` for the rest.

    Types are tested on ``type(value)``: ``isinstance`` would consult the
    object's own ``__class__``, which can be anything.
    """
    if issubclass(t, enum.Enum):
        return _walk(value.value, w, depth)
    if issubclass(t, str):
        return _walk(str.__str__(value), w, depth)
    if issubclass(t, int):  # bool cannot be subclassed: t is an int subclass here
        return _walk(int.__int__(value), w, depth)
    if issubclass(t, float):
        return _float(float.__float__(value))
    if issubclass(t, (bytes, bytearray, memoryview)):
        return _walk(_bytes(value), w, depth)
    if issubclass(t, (_dt.datetime, _dt.date, _dt.time)):
        return _walk(value.isoformat(), w, depth)
    if issubclass(t, _dt.timedelta):
        return _walk(value.total_seconds(), w, depth)
    return _MISSING


_deque = collections.deque
_SEQUENCES = (list, tuple, set, frozenset, _deque)


def _count(value: Any, seen: int, limit: int) -> str:
    """How many items a cut container had: its ``len()`` when that can be believed."""
    try:
        size = len(value)
    except Exception:
        size = -1
    if type(size) is int and size > limit:
        return str(size)
    return f"more than {limit}"  # an iterator that yields more than len() says, or no len()


def _take(iterable: Any, w: _Walk, limit: int) -> tuple[list[Any], str | None]:
    """Up to ``limit + 1`` items of an object that may run code while iterated.

    Returns the items and a marker when iterating raised or ran out of time
    (the items read until then are kept).
    """
    items: list[Any] = []
    append = items.append
    try:
        for n, item in enumerate(islice(iter(iterable), limit + 1)):
            append(item)
            if n & 63 == 63 and w.timed_out():
                return items, w.stopped
    except RecursionError:
        raise
    except Exception as exc:
        return items, unreadable(exc)
    return items, None


def _walk_container(value: Any, t: type, w: _Walk, depth: int) -> Any:
    """Containers (exact ones first: they are most of what is traced) and other objects."""
    if t is dict:
        return _walk_mapping(value, t, w, depth + 1)
    if t is list or t is tuple:
        return _walk_sequence(value, t, w, depth + 1)
    if issubclass(t, Mapping):
        return _walk_mapping(value, t, w, depth + 1)
    if issubclass(t, tuple) and hasattr(t, "_asdict"):  # namedtuple
        return _walk_mapping(value._asdict(), dict, w, depth + 1)
    if issubclass(t, _SEQUENCES):
        return _walk_sequence(value, t, w, depth + 1)
    return _walk_object(value, t, w, depth)


# The inline tests below spell INT_MIN/INT_MAX out: constants cost less than globals.


def _walk_mapping(value: Any, t: type, w: _Walk, nxt: int) -> dict[str, Any]:
    max_items = w.max_items
    max_chars = w.max_chars
    out: dict[str, Any] = {}
    problem = None
    if t is dict:  # exact: reading it runs no code of the caller's
        pairs: Any = value.items()
        size = len(value)
    else:  # items() may be endless or raise: bounded, and kept up to the failure
        pairs, problem = _take(value.items(), w, max_items)
        size = len(pairs)
    room = min(max_items, w.left)
    for n, (k, v) in enumerate(pairs):
        if n == room:
            out["…"] = (
                f"[truncated: {size if t is dict else _count(value, n, max_items)} keys]"
                if n == max_items
                else w.stopped or f"[truncated: walk over {WALK_MAX_VALUES} values]"
            )
            break
        # Plain keys and values inline: most traced mappings hold nothing else.
        key = k if type(k) is str and k.isascii() else _key(k)
        tv = type(v)
        if (
            (tv is str and len(v) <= max_chars and v.isascii())
            or (tv is int and -9223372036854775808 <= v <= 9223372036854775807)
            or tv is bool
            or v is None
        ):
            out[key] = v
        else:
            out[key] = converted = _walk(v, w, nxt)
            if w.stopped is not None and converted is w.stopped:  # out of values or time
                out["…"] = converted
                break
    w.left -= min(size, room)
    if problem is not None:
        out["…"] = problem
    return out


def _walk_sequence(value: Any, t: type, w: _Walk, nxt: int) -> list[Any]:
    max_items = w.max_items
    max_chars = w.max_chars
    problem = None
    exact = t is list or t is tuple
    if exact:  # cannot run code of the caller's
        items = value[: max_items + 1]
        total = len(value)
    elif t is set or t is frozenset or t is _deque:
        exact = True
        items = list(value)  # exact: cannot run code of the caller's
        total = len(items)
    else:
        items, problem = _take(value, w, max_items)
        total = len(items)
    if t is set or t is frozenset or (not exact and issubclass(t, (set, frozenset))):
        try:
            items.sort()
        except Exception:
            pass
        items = items[: max_items + 1]
    room = min(max_items, w.left)
    out = [
        v
        if ((tv := type(v)) is str and len(v) <= max_chars and v.isascii())
        or (tv is int and -9223372036854775808 <= v <= 9223372036854775807)
        or tv is bool
        or v is None
        else _walk(v, w, nxt)
        for v in items[:room]
    ]
    stopped = w.stopped
    if stopped is not None and stopped in out:  # out of values or time: cut there
        del out[out.index(stopped) + 1 :]
        return out
    w.left -= len(out)
    if problem is not None:
        out.append(problem)
    elif total > room:
        if room < max_items:
            out.append(f"[truncated: walk over {WALK_MAX_VALUES} values]")
        elif exact:
            out.append(f"[truncated: {total} items]")
        else:
            out.append(f"[truncated: {_count(value, total, max_items)} items]")
    return out


def _walk_object(value: Any, t: type, w: _Walk, depth: int) -> Any:
    """Dataclasses, pydantic models, exceptions, and anything else by its repr."""
    if dataclasses.is_dataclass(t) and not issubclass(t, type):
        out = {"__type__": t.__qualname__}
        for f in dataclasses.fields(t):
            try:
                field = getattr(value, f.name, None)
            except Exception as exc:  # a hostile __getattribute__: this field only
                out[f.name] = unreadable(exc)
                continue
            out[f.name] = _walk(field, w, depth + 1)
        return out
    dumped = _model_dump(value, t)
    if w.timed_out():
        return w.stopped
    if dumped is not _MISSING:
        return _walk(dumped, w, depth)
    if issubclass(t, BaseException):
        return {"__type__": t.__qualname__, "message": _walk(_safe_str(value), w, depth + 1)}
    text = _safe_repr(value)
    w.timed_out()
    return _text(text, w.max_chars)


_MISSING = object()


def _model_dump(value: Any, t: type) -> Any:
    """Pydantic v2 ``model_dump`` / v1 ``dict`` without importing pydantic."""
    if issubclass(t, type):
        return _MISSING
    for name, kwargs in (("model_dump", {"mode": "json"}), ("dict", {})):
        method = getattr(t, name, None)
        if method is not None and hasattr(t, "__fields__" if name == "dict" else "model_fields"):
            try:
                return method(value, **kwargs)
            except Exception:
                return _MISSING
    return _MISSING


def _safe_str(value: Any) -> str:
    try:
        text = str(value)
        return text if type(text) is str else str.__str__(text)
    except Exception:
        return _safe_repr(value)


def safe_str(value: Any) -> str:
    """``str(value)`` that never raises (falls back to a safe repr); lone surrogates repaired."""
    if type(value) is str:
        return clean_text(value)
    if type(value) is int and not INT_MIN <= value <= INT_MAX:
        return big_int(value)
    return clean_text(_safe_str(value))


# -- the hot path -----------------------------------------------------------------------

_PLAIN = frozenset({str, int, float, bool, type(None)})
Payload = "dict[str, Any] | str"


COPY_MAX_VALUES = 10_000
"""Values one :func:`copy_plain` copies at most; a larger argument is frozen as JSON text."""


class NotPlain(Exception):
    """Raised by :func:`copy_plain` for a value it does not copy (the caller snapshots it)."""


_NOT_PLAIN = NotPlain()
_CONTAINERS = frozenset({dict, list, tuple})
_unchanged = unchanged_by_redaction
_key_verdict = key_verdict


def str_is_clean(value: str, max_chars: int) -> bool:
    """Whether the exporter's pass would leave a string as it is (IN_CLEAN / OUT_CLEAN).

    ASCII (no lone surrogate to repair), within ``max_chars`` (no cut), and
    known unchanged by redaction (``_redact.unchanged_by_redaction``).
    """
    return value.isascii() and len(value) <= max_chars and _unchanged(value)


def copy_plain(value: Any, limits: Limits) -> tuple[list[Any] | dict[str, Any], int, bool]:
    """A deep copy of exact dicts, lists and tuples of plain values, its size, and if it is clean.

    The hot path's snapshot of a container argument (chat messages, tool
    arguments, retrieved documents): the caller may change the container
    after the call, so its containers are copied; strings, numbers, bools
    and None cannot change, so they are shared. No JSON is produced (the
    exporter prepares and encodes the copy once: NaN, ints beyond 64 bits and
    long strings are its to mark and cut). A tuple becomes a list, as in JSON.

    Returns:
        The copy; the bytes its strings and containers hold (for the queue's
        byte cap); and whether the exporter may use it as it is: every
        string ASCII, within ``max_string_chars`` and known unchanged by
        redaction (``_redact.unchanged_by_redaction``), every key known not
        secret-named, every number finite and within 64 bits.

    Raises:
        NotPlain: anything else inside (a subclass, an object, a non-string
            key), a container of more than ``max_items`` items, nesting to
            ``max_depth`` (a cycle too) or more than :data:`COPY_MAX_VALUES`
            values: the caller freezes the value as JSON text
            (:func:`snapshot`), which cuts and marks. It reads exact builtins
            only, so no code of the caller's runs.
    """
    if type(value) not in _CONTAINERS:
        raise _NOT_PLAIN
    budget = [COPY_MAX_VALUES, 0, 1]  # values left, bytes, clean
    copied = _copy(value, limits.max_depth - 1, limits.max_items, limits.max_string_chars, budget)
    return copied, budget[1], budget[2] == 1


# The inline tests below spell the 64-bit bounds out: constants cost less than globals.


def _copy(value: Any, left: int, max_items: int, max_chars: int, budget: list[int]) -> Any:
    # The container is copied first, in one C call (atomic under the GIL: another
    # thread changing it meanwhile cannot make this fail or tear), then walked.
    if left <= 0 or len(value) > max_items:  # before copying a huge one
        raise _NOT_PLAIN
    is_dict = type(value) is dict
    out: Any = value.copy() if is_dict else list(value)
    n = len(out)
    budget[0] -= n
    if n > max_items or budget[0] < 0:
        raise _NOT_PLAIN
    size = 64 + 48 * n  # the container itself (a small dict is 232 bytes, a list 56 + 8n)
    clean = budget[2]
    for k, v in out.items() if is_dict else enumerate(out):
        t = type(v)
        if t is str:
            size += len(v)
            if clean and not ((len(v) < 8 and v.isascii()) or str_is_clean(v, max_chars)):
                clean = 0
        elif t is dict or t is list or t is tuple:
            budget[2] = clean
            out[k] = _copy(v, left - 1, max_items, max_chars, budget)  # an existing key
            clean = budget[2]
        elif t is int:
            if not -9223372036854775808 <= v <= 9223372036854775807:
                clean = 0
        elif t is float:
            if v - v != 0.0:  # NaN or an infinity: the exporter writes it as text
                clean = 0
        elif t is not bool and v is not None:
            raise _NOT_PLAIN
        if is_dict:
            if type(k) is not str:
                raise _NOT_PLAIN
            # not judged yet, secret-named, or with a lone surrogate to repair
            if clean and (_key_verdict(k) is not False or not k.isascii()):
                clean = 0
            size += len(k)
    budget[1] += size
    budget[2] = clean
    return out


def freeze_sized(
    mapping: dict[str, Any], limits: Limits = DEFAULT_LIMITS, *, owned: bool = True
) -> tuple[Any, int, bool]:
    """Freeze a mapping of captured values on the hot path; its size; whether it is clean.

    A dict of plain values (str, int, float, bool, None) and of exact dicts,
    lists and tuples of them is kept as a dict: its containers are copied
    (:func:`copy_plain`), its other values cannot change, and no JSON is
    produced until the exporter needs it. The dict itself is copied too
    unless tracekit built it (``owned``). Anything else (a dict subclass
    included: its ``items()`` is its own code) is frozen as JSON text by
    :func:`snapshot`, and so is a payload larger than one record (the
    careful walk cuts it).

    The size is what the span adds to the queue beyond the 64 bytes a key
    counts (``_lifecycle.end_span``); JSON text counts its own length there.
    Clean (by :func:`copy_plain`'s rules, for every value and key) means the
    exporter may use the dict as it is (the span's IN_CLEAN / OUT_CLEAN).
    """
    if not owned:
        if type(mapping) is not dict or len(mapping) > limits.max_items:
            return snapshot(mapping, limits), 0, False  # read bounded, cut and marked
        # the caller's dict, copied in one C call (another thread may change it)
        mapping = mapping.copy()
        if any(type(key) is not str for key in mapping):
            return snapshot(mapping, limits), 0, False
    out = mapping
    size = 0
    clean = len(mapping) <= limits.max_items
    for key, value in mapping.items():
        t = type(value)
        if type(key) is not str or (clean and not (key.isascii() and _key_verdict(key) is False)):
            clean = False
        if t is str:
            size += len(value)
            if clean and not str_is_clean(value, limits.max_string_chars):
                clean = False
        elif t in _CONTAINERS:
            try:
                value, more, inner = copy_plain(value, limits)  # noqa: PLW2901 (the copy)
            except NotPlain:
                return snapshot(mapping, limits), 0, False
            size += more
            clean = clean and inner
            out[key] = value  # an existing key: the dict is ours
        elif t is int:
            if not INT_MIN <= value <= INT_MAX:
                clean = False
        elif t is float:
            if value - value != 0.0:
                clean = False
        elif t is not bool and value is not None:
            return snapshot(mapping, limits), 0, False
    if size > limits.max_record_bytes:  # cut by the careful walk, not queued whole
        return snapshot(mapping, limits), 0, False
    return out, size, clean


def _encoder_safe(value: Any) -> bool:
    """Whether the C encoder can take ``value`` without running any code of the caller's.

    It iterates a list or tuple subclass and calls a dict subclass's
    ``items()``, so one with an endless ``__iter__`` would never return.
    ``marshal`` accepts exact builtins only and runs no Python code: it tells
    (in about a fifth of the encoder's time) that a container holds nothing
    else. Values of other types make the encoder fail anyway.
    """
    t = type(value)
    if t is dict or t is list or t is tuple:
        try:
            _marshal(value)
        except Exception:  # a subclass, an object, too deep (a cycle)
            return False
        return True
    return t in _PLAIN


def snapshot(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """Freeze ``value`` as JSON text at call time; never raises.

    Plain data (exact builtins only, see :func:`_encoder_safe`) takes the C
    encoder. Anything else, values it rejects (cycles, non-string keys, too
    deep, ints of more than 4,300 digits) and text larger than one record
    may be go through the careful walker, which cuts and marks. NaN/Infinity,
    lone surrogates and ints beyond 64 bits from the fast path are rewritten
    later by the payload stage (see ``_processors``).
    """
    if _encoder_safe(value):
        try:
            text = _dumps(value)
        except Exception:  # ValueError (cycle, int too long), RecursionError, TypeError (keys)
            return _careful(value, limits)
        if len(text) > limits.max_record_bytes:
            return _careful(value, limits)
        return text
    return _careful(value, limits)


def _careful(value: Any, limits: Limits) -> str:
    try:
        return _dumps(to_jsonable(value, limits))
    except Exception as exc:  # nothing known gets here: a marker rather than an error
        return _dumps({"…": unreadable(exc)})
