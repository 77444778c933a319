"""Render span records as a readable tree for a terminal (console backend, CLI).

Traced text is untrusted: control characters (ANSI escapes included) are
shown as visible escapes, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tracekit._record import Node, build_tree, distinct, owned_tokens

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Shown after a span drawn as a root because its parent link loops back (build_tree's cycle).
CYCLE_NOTE = "parent loop: its parent is itself or below it"


def clean(text: str) -> str:
    """Neutralise control and bidi characters so traced text cannot drive the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def duration(start_ns: int, end_ns: int) -> str:
    """A short human duration: 850 µs, 12.3 ms, 1.24 s, 2m05s."""
    ns = max(0, end_ns - start_ns)
    if ns < 1_000_000:
        return f"{ns / 1_000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    if ns < 60_000_000_000:
        return f"{ns / 1_000_000_000:.2f} s"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    return f"{minutes}m{seconds:02d}s"


def span_duration(record: dict[str, Any]) -> str:
    """A span's duration, or ``running`` / ``unfinished`` for a span still open (no ``end_ns``).

    ``?`` when the times are not whole numbers (a record a processor or the
    disk damaged): drawing a trace never fails on one span.
    """
    start, end = record.get("start_ns"), record.get("end_ns")
    if end is None:
        return "unfinished" if record.get("status") == "UNFINISHED" else "running"
    if type(start) is not int or type(end) is not int:
        return "?"
    return duration(start, end)


def preview(value: Any, width: int = 80) -> str:
    """One line of JSON-ish text, cut to ``width`` characters."""
    if isinstance(value, dict) and set(value) == {"output"}:
        value = value["output"]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _line(record: dict[str, Any]) -> str:
    """One span's line; any field may be missing or of the wrong type (never raises on it)."""
    parts = [
        f"{clean(str(record.get('kind', '?')))} {clean(str(record.get('name', '?')))}",
        span_duration(record),
    ]
    if record.get("model"):
        parts.append(clean(str(record["model"])))
    usage = record.get("usage")
    if usage and isinstance(usage, dict):
        parts.append(f"{clean(str(usage.get('total_tokens', 0)))} tokens")
    attributes = record.get("attributes")
    reason = attributes.get("tracekit.end_reason") if isinstance(attributes, dict) else None
    status = record.get("status")
    if status == "ERROR":
        error = record.get("error")
        error = error if isinstance(error, dict) else {}
        parts.append(
            f"ERROR {clean(str(error.get('type', '')))}: {preview(error.get('message', ''), 60)}"
        )
    elif status in ("RUNNING", "UNFINISHED"):
        parts.append(status)
    else:
        parts.append("OK")
    if reason:
        parts.append(f"({clean(str(reason))})")
    return "  ".join(parts)


def render_trace(records: Iterable[dict[str, Any]], *, details: bool = True, lost: int = 0) -> str:
    """Render the records of one trace as an indented tree.

    The tree and the token total are ``_record``'s: every record is drawn
    once (a span whose parent link loops back is drawn as a root, marked),
    and each logical call's tokens are counted once.

    Args:
        records: span records of one trace, in any order.
        details: add one line of inputs and outputs under each span.
        lost: spans of the trace tracekit lost: the header says it is incomplete (D110).
    """
    spans = distinct(records)  # what the tree draws: one record per span id
    if not spans:
        return ""
    roots = build_tree(spans)
    first = roots[0]["record"]
    total = owned_tokens(spans)
    project = clean(str(first.get("project")))
    head = f"trace {clean(str(first.get('trace_id')))}  project {project}  {len(spans)} spans"
    if total:
        head += f"  {total} tokens"
    if lost:
        head += f"  incomplete: {lost} {'span' if lost == 1 else 'spans'} lost"
    lines = [head]
    # Iterative, depth first: a trace can nest deeper than Python's recursion limit.
    stack: list[tuple[Node, str, bool]] = [
        (root, "", i == len(roots) - 1) for i, root in reversed(list(enumerate(roots)))
    ]
    while stack:
        node, prefix, last = stack.pop()
        record = node["record"]
        line = _line(record) + (f"  ({CYCLE_NOTE})" if node["cycle"] else "")
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{line}")
        inner = prefix + ("   " if last else "│  ")
        kids = node["children"]
        if details:
            bar = "│  " if kids else "   "
            if record.get("inputs"):
                lines.append(f"{inner}{bar}in:  {preview(record['inputs'])}")
            if record.get("outputs"):
                lines.append(f"{inner}{bar}out: {preview(record['outputs'])}")
        stack.extend((kid, inner, i == len(kids) - 1) for i, kid in reversed(list(enumerate(kids))))
    return "\n".join(lines)
