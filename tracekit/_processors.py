"""Processors: what happens to a finished span before any backend sees it.

Runs on the exporter thread, once per span, in this order:

1. payload preparation: the JSON text frozen on the hot path is loaded and
   cut to the size caps (strings, items, depth), with NaN/Infinity made valid
   JSON; text that cannot hold anything over a cap skips the walk;
2. redaction (on by default, rules in ``_redact``), in the same pass;
3. the user's own processors (``init(redact=callable)``): ``record -> record |
   None``, where None drops the record (counted).

Head sampling is decided at the root span on the hot path instead (a sampled
out trace creates no spans at all), see ``_lifecycle.admit_root``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from tracekit._redact import (
    MIN_SECRET_LEN,
    REDACTED,
    is_secret_key,
    redact_string,
    value_is_set,
)
from tracekit._serialize import (
    INT_MAX,
    INT_MIN,
    LONE_ESCAPE,
    Limits,
    big_int,
    clean_text,
    cut_string,
    to_jsonable,
)

Record = dict[str, Any]
Processor = Callable[[Record], "Record | None"]


def _clean(value: Any, limits: Limits, redact: bool, depth: int, repair: bool = True) -> Any:
    r"""One pass over loaded JSON data: cut to the caps, make it encodable, redact.

    ``repair`` False says no string can hold a lone surrogate (the JSON text
    it was loaded from had no lone ``\\udXXX`` escape): non-ASCII strings
    then skip the search for one.
    """
    t = type(value)
    if t is str:
        if len(value) > limits.max_string_chars:
            value = cut_string(value, limits.max_string_chars)
        if repair and not value.isascii():
            value = clean_text(value)
        return redact_string(value) if redact else value
    if t is int:
        return value if INT_MIN <= value <= INT_MAX else big_int(value)
    if t is float:
        return to_jsonable(value, limits)  # NaN / Infinity -> text
    if t is not dict and t is not list:
        return value if t is bool or value is None else to_jsonable(value, limits)
    if depth >= limits.max_depth:
        return f"[truncated: deeper than {limits.max_depth} levels]"
    if t is dict:
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i == limits.max_items:
                # An earlier stage already cut this dict: keep its marker (original size).
                marker = value.get("…") if len(value) == limits.max_items + 1 else None
                out["…"] = marker if isinstance(marker, str) else f"[truncated: {len(value)} keys]"
                break
            if repair and not k.isascii():
                k = clean_text(k)  # noqa: PLW2901 (the key, repaired)
            if redact and value_is_set(v) and is_secret_key(k):
                out[k] = REDACTED
            else:
                out[k] = _clean(v, limits, redact, depth + 1, repair)
        return out
    cut = [_clean(v, limits, redact, depth + 1, repair) for v in value[: limits.max_items]]
    if len(value) > limits.max_items:
        last = value[-1]
        already_cut = (
            len(value) == limits.max_items + 1
            and isinstance(last, str)
            and last.startswith("[truncated: ")
            and last.endswith(" items]")
        )
        cut.append(last if already_cut else f"[truncated: {len(value)} items]")
    return cut


def clean(value: Any, limits: Limits, redact: bool) -> Any:
    """Cut ``value`` (JSON data) to the caps, make it encodable and redact it; returns new data."""
    return _clean(value, limits, redact, 0)


def _clean_owned(value: Any, limits: Limits, redact: bool, depth: int) -> Any:
    """:func:`_clean` in place, for containers the span owns (``_serialize.copy_plain``).

    The copies hold exact dicts, lists and plain values only, each within
    ``max_items``, so no item cap applies: strings are cut, repaired and
    redacted where they stand (a redacted string repeats, so
    ``redact_string`` mostly answers from its memo), secret-named keys
    replaced, ints beyond 64 bits and non-finite floats made markers.
    """
    if depth >= limits.max_depth:
        return f"[truncated: deeper than {limits.max_depth} levels]"
    max_chars = limits.max_string_chars
    is_dict = type(value) is dict
    secret_keys = redact and is_dict
    odd_key = False
    pairs: Any = value.items() if is_dict else enumerate(value)
    for k, v in pairs:
        if is_dict and not k.isascii():
            odd_key = True
        if secret_keys and is_secret_key(k) and value_is_set(v):  # the key's verdict is cached
            value[k] = REDACTED
            continue
        t = type(v)
        if t is str:
            text = v
            if len(text) > max_chars:
                text = cut_string(text, max_chars)
            if not text.isascii():
                text = clean_text(text)
            if redact and len(text) >= MIN_SECRET_LEN:
                text = redact_string(text)
            if text is not v:
                value[k] = text
        elif t is dict or t is list:
            value[k] = _clean_owned(v, limits, redact, depth + 1)
        elif t is int:
            if not INT_MIN <= v <= INT_MAX:
                value[k] = big_int(v)
        elif t is float and not math.isfinite(v):
            value[k] = to_jsonable(v, limits)
    if odd_key:
        return {clean_text(k): v for k, v in value.items()}  # a key with a lone surrogate
    return value


def prepare_payload(
    payload: dict[str, Any] | str | None, limits: Limits, redact: bool, *, owned: bool = True
) -> dict[str, Any]:
    """A payload frozen on the hot path -> the record's inputs/outputs mapping.

    Args:
        payload: a dict owned by the span (plain values and copied
            containers of them, ``_serialize.freeze_sized``), JSON text, or None.
        limits: the size caps.
        redact: whether built-in redaction applies.
        owned: whether a dict payload may be changed in place (False for a
            span still open: its started record gets new containers).

    Returns:
        A JSON-safe dict within the caps, with no lone surrogate and no int
        beyond 64 bits (never raises).
    """
    if not payload:
        return {}
    if isinstance(payload, dict):  # ours: an exact dict or str
        if owned and len(payload) <= limits.max_items:
            return _clean_owned(payload, limits, redact, 0)  # type: ignore[no-any-return]
        return clean(payload, limits, redact)  # type: ignore[no-any-return]
    try:
        value = json.loads(payload)
    except Exception:
        return {"…": "[unreadable payload]"}
    repair = "\\ud" in payload and LONE_ESCAPE.search(payload) is not None
    value = _clean(value, limits, redact, 0, repair)
    return value if isinstance(value, dict) else {"output": value}


def enforce_record_size(record: Record, limits: Limits) -> bool:
    """Replace the payloads of a record over ``max_record_bytes`` by markers.

    Returns:
        True when something was cut (the caller counts it as ``oversize``).
    """
    size = len(json.dumps(record, separators=(",", ":")))
    if size <= limits.max_record_bytes:
        return False
    marker = f"[truncated: record of {size} bytes exceeded {limits.max_record_bytes}]"
    for field in ("inputs", "outputs", "attributes"):
        record[field] = {"…": marker}
    record["events"] = []
    return True
