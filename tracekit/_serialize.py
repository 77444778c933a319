"""Any Python value -> JSON-safe data, never raising.

Two entry points:

* :func:`snapshot` runs on the hot path. It freezes a value at call time so a
  caller mutating its list afterwards does not change the record. Plain data
  goes through the C JSON encoder (the fastest snapshot Python has); anything
  else falls back to :func:`to_jsonable`.
* :func:`to_jsonable` is the careful walker: pydantic models, dataclasses,
  enums, bytes (invalid UTF-8 too), sets, datetimes, NaN/inf, objects whose
  ``__repr__`` raises, cycles, deep nesting and huge strings or containers all
  become JSON data, with an explicit marker wherever something was cut.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

_dumps = json.dumps  # the module's cached default encoder: the fastest path


class Limits(NamedTuple):
    """Size caps applied to traced values (DESIGN.md "Published defaults")."""

    max_string_chars: int = 100_000
    max_depth: int = 20
    max_items: int = 1_000
    max_record_bytes: int = 1 << 20


DEFAULT_LIMITS = Limits()


_CUT_MARK = re.compile(r"…\[truncated: \d+ chars\]\Z")


def cut_string(value: str, limit: int) -> str:
    """Cut ``value`` to ``limit`` characters, leaving a marker with the original size.

    A string already cut (by an earlier stage) is left alone, so the marker
    keeps the size of the original.
    """
    if len(value) <= limit or (len(value) <= limit + 40 and _CUT_MARK.search(value)):
        return value
    return f"{value[:limit]}…[truncated: {len(value)} chars]"


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    # JSON has no NaN/Infinity: keep the meaning as text so the output stays valid JSON.
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        try:
            return f"<unrepresentable {type(value).__qualname__}>"
        except Exception:
            return "<unrepresentable object>"


def _key(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(_float(value) if isinstance(value, float) else value)
    return _safe_repr(value)


def _bytes(value: bytes | bytearray | memoryview) -> str:
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def to_jsonable(value: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Convert ``value`` to JSON-safe data within ``limits``; never raises."""
    try:
        return _walk(value, limits, 0, set())
    except RecursionError:
        return "[truncated: nesting too deep]"
    except Exception:
        return _safe_repr(value)


def _walk(value: Any, limits: Limits, depth: int, path: set[int]) -> Any:
    t = type(value)
    if t is str:
        return (
            value
            if len(value) <= limits.max_string_chars
            else cut_string(value, limits.max_string_chars)
        )
    if value is None or t is bool or t is int:
        return value
    if t is float:
        return _float(value)
    if depth >= limits.max_depth:
        return f"[truncated: deeper than {limits.max_depth} levels]"
    if t is not dict and t is not list:  # plain containers skip the type tests below
        converted = _convert(value, t, limits, depth, path)
        if converted is not _MISSING:
            return converted

    # Containers and objects: cut cycles (only along the current path, so a value
    # shared by two branches is kept in both).
    ident = id(value)
    if ident in path:
        return "[cycle]"
    path.add(ident)
    try:
        return _walk_container(value, limits, depth, path)
    finally:
        path.discard(ident)


def _convert(value: Any, t: type, limits: Limits, depth: int, path: set[int]) -> Any:
    """Scalars of other types (subclasses, enums, bytes, dates); ``_MISSING`` for the rest."""
    if isinstance(value, enum.Enum):
        return _walk(value.value, limits, depth, path)
    if isinstance(value, str):
        return _walk(str.__str__(value), limits, depth, path)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _walk(_bytes(value), limits, depth, path)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    return _MISSING


def _walk_container(value: Any, limits: Limits, depth: int, path: set[int]) -> Any:
    nxt = depth + 1
    if type(value) is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        max_chars = limits.max_string_chars
        for n, (k, v) in enumerate(value.items()):
            if n == limits.max_items:
                out["…"] = f"[truncated: {len(value)} keys]"
                break
            # Plain keys and values inline: most traced mappings hold nothing else.
            key = k if type(k) is str else _key(k)
            t = type(v)
            if (t is str and len(v) <= max_chars) or t is int or t is bool or v is None:
                out[key] = v
            else:
                out[key] = _walk(v, limits, nxt, path)
        return out
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # namedtuple
        return _walk_container(value._asdict(), limits, depth, path)
    if (
        type(value) is list
        or isinstance(value, (list, tuple, set, frozenset))
        or type(value).__name__ == "deque"
    ):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                items.sort()
            except Exception:
                pass
        max_chars = limits.max_string_chars
        out_list = [
            v
            if ((t := type(v)) is str and len(v) <= max_chars) or t is int or t is bool or v is None
            else _walk(v, limits, nxt, path)
            for v in items[: limits.max_items]
        ]
        if len(items) > limits.max_items:
            out_list.append(f"[truncated: {len(items)} items]")
        return out_list
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "__type__": type(value).__qualname__,
            **{
                f.name: _walk(getattr(value, f.name, None), limits, nxt, path)
                for f in dataclasses.fields(value)
            },
        }
    dumped = _model_dump(value)
    if dumped is not _MISSING:
        return _walk(dumped, limits, depth, path)
    if isinstance(value, BaseException):
        return {
            "__type__": type(value).__qualname__,
            "message": _walk(_safe_str(value), limits, nxt, path),
        }
    text = _safe_repr(value)
    return (
        text if len(text) <= limits.max_string_chars else cut_string(text, limits.max_string_chars)
    )


_MISSING = object()


def _model_dump(value: Any) -> Any:
    """Pydantic v2 ``model_dump`` / v1 ``dict`` without importing pydantic."""
    if isinstance(value, type):
        return _MISSING
    for name, kwargs in (("model_dump", {"mode": "json"}), ("dict", {})):
        method = getattr(type(value), name, None)
        if method is not None and hasattr(
            type(value), "__fields__" if name == "dict" else "model_fields"
        ):
            try:
                return method(value, **kwargs)
            except Exception:
                return _MISSING
    return _MISSING


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return _safe_repr(value)


def safe_str(value: Any) -> str:
    """``str(value)`` that never raises (falls back to a safe repr)."""
    return _safe_str(value)


_PLAIN = frozenset({str, int, float, bool, type(None)})
Payload = "dict[str, Any] | str"


# Strings longer than this are frozen as JSON text, so a dict payload's size is
# bounded by its length and the queue's byte cap needs no walk over values.
PLAIN_STR_MAX = 1024


def freeze(mapping: dict[str, Any], limits: Limits = DEFAULT_LIMITS, *, owned: bool = True) -> Any:
    """Freeze a mapping of captured values on the hot path.

    A dict whose values are all plain (str up to ``PLAIN_STR_MAX`` chars, int,
    float, bool, None) is kept as a dict: those values cannot change, so a
    shallow copy (none at all when tracekit built the dict itself, ``owned``)
    is a full snapshot, and no JSON is produced until the exporter needs it.
    Anything else is frozen as JSON text by :func:`snapshot`.
    """
    plain = _PLAIN
    if owned:
        for value in mapping.values():
            t = type(value)
            if t not in plain or (t is str and len(value) > PLAIN_STR_MAX):
                return snapshot(mapping, limits)
        return mapping
    for key, value in mapping.items():
        t = type(value)
        if type(key) is not str or t not in plain or (t is str and len(value) > PLAIN_STR_MAX):
            return snapshot(mapping, limits)
    return dict(mapping)


def snapshot(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """Freeze ``value`` as JSON text at call time; never raises.

    Plain data takes the C encoder. Values it rejects (custom objects, cycles,
    non-string keys, too deep) or whose text is larger than one record may be
    go through the careful walker, which cuts and marks. NaN/Infinity from the fast
    path are rewritten later by the payload stage (see ``_processors``).
    """
    try:
        text = _dumps(value)
    except Exception:  # TypeError (unknown type), ValueError (cycle), RecursionError
        return _dumps(to_jsonable(value, limits))
    if len(text) > limits.max_record_bytes:
        return _dumps(to_jsonable(value, limits))
    return text
