"""Render span records as a readable tree for a terminal (console backend, CLI).

Traced text is untrusted: control characters (ANSI escapes included) are
shown as visible escapes, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tracekit._record import Node, build_tree, owned_tokens

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
    """A span's duration, or ``running`` / ``unfinished`` for a span still open (no ``end_ns``)."""
    if record.get("end_ns") is None:
        return "unfinished" if record.get("status") == "UNFINISHED" else "running"
    return duration(record["start_ns"], record["end_ns"])


def preview(value: Any, width: int = 80) -> str:
    """One line of JSON-ish text, cut to ``width`` characters."""
    if isinstance(value, dict) and set(value) == {"output"}:
        value = value["output"]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _line(record: dict[str, Any]) -> str:
    parts = [
        f"{clean(str(record['kind']))} {clean(str(record['name']))}",
        span_duration(record),
    ]
    if record.get("model"):
        parts.append(clean(str(record["model"])))
    usage = record.get("usage")
    if usage:
        parts.append(f"{usage.get('total_tokens', 0)} tokens")
    reason = (record.get("attributes") or {}).get("tracekit.end_reason")
    if record["status"] == "ERROR":
        error = record.get("error") or {}
        parts.append(
            f"ERROR {clean(str(error.get('type', '')))}: {preview(error.get('message', ''), 60)}"
        )
    elif record["status"] in ("RUNNING", "UNFINISHED"):
        parts.append(record["status"])
    else:
        parts.append("OK")
    if reason:
        parts.append(f"({reason})")
    return "  ".join(parts)


def render_trace(records: Iterable[dict[str, Any]], *, details: bool = True) -> str:
    """Render the records of one trace as an indented tree.

    The tree and the token total are ``_record``'s: every record is drawn
    once (a span whose parent link loops back is drawn as a root, marked),
    and each logical call's tokens are counted once.

    Args:
        records: span records of one trace, in any order.
        details: add one line of inputs and outputs under each span.
    """
    spans = list(records)
    if not spans:
        return ""
    roots = build_tree(spans)
    first = roots[0]["record"]
    total = owned_tokens(spans)
    project = clean(str(first.get("project")))
    head = f"trace {clean(str(first.get('trace_id')))}  project {project}  {len(spans)} spans"
    if total:
        head += f"  {total} tokens"
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
