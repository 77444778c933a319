"""Times people type (``15m``, ``2026-11-24T10:00``) as Unix nanoseconds.

Shared by the command line (``--since``/``--until``) and the web UI's
filters, so both read a time the same way and reject the same mistakes.
"""

from __future__ import annotations

import datetime as dt
import re
import time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_INT64 = range(-(2**63), 2**63)  # what the store can compare with


def parse_time(text: str, now: float | None = None) -> int:
    """Unix nanoseconds for an ISO 8601 date or datetime, or a relative ``15m``/``2h``/``3d``.

    A relative value means "that long ago"; a date or datetime without a time
    zone is local time.

    Raises:
        ValueError: the text is neither, or names an instant outside what the
            store can hold (a signed 64-bit count of nanoseconds).
    """
    value = text.strip()
    out = -1 << 64  # a value no store can hold: reported as out of range below
    match = _RELATIVE.fullmatch(value)
    if match:
        try:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
            ns = int(((time.time() if now is None else now) - seconds) * 1_000_000) * 1000
        except OverflowError:  # 99999999999d
            ns = out
    else:
        if value[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read "Z"
            value = value[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"bad time {text!r}: use a date or datetime like 2026-11-24 or "
                "2026-11-24T10:00, or a duration ago like 15m, 2h, 3d"
            ) from None
        try:
            ns = round(moment.timestamp() * 1_000_000) * 1000
        except (OverflowError, OSError, ValueError):  # year 1 east of UTC, or year 0 locally
            ns = out
    if ns not in _INT64:
        raise ValueError(f"time {text!r} is out of range")
    return ns
