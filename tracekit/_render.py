"""Render span records as a readable tree for a terminal (console backend, CLI).

Traced text is untrusted: control characters (ANSI escapes included) are
shown as visible escapes, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


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


def owned_tokens(records: Iterable[dict[str, Any]]) -> int:
    """A trace's total tokens, each counted once: by the innermost span reporting it.

    A framework's LLM span that wraps a client library's LLM span reports the
    same usage; it owns it only if no span below it reported usage.
    """
    spans = list(records)
    has_usage = {
        r["span_id"]: isinstance((r.get("usage") or {}).get("total_tokens"), int) for r in spans
    }
    parent_of = {r["span_id"]: r["parent_id"] for r in spans}
    below: set[str] = set()  # spans with a descendant that reports usage
    for span_id, reports in has_usage.items():
        if not reports:
            continue
        parent, seen = parent_of.get(span_id), 0
        while parent is not None and parent not in below and seen < len(spans):
            below.add(parent)
            parent, seen = parent_of.get(parent), seen + 1
    return sum(
        r["usage"]["total_tokens"]
        for r in spans
        if has_usage[r["span_id"]] and r["span_id"] not in below
    )


def render_trace(records: Iterable[dict[str, Any]], *, details: bool = True) -> str:
    """Render the records of one trace as an indented tree.

    Args:
        records: span records of one trace, in any order.
        details: add one line of inputs and outputs under each span.
    """
    spans = sorted(records, key=lambda r: (r["start_ns"], r["span_id"]))
    if not spans:
        return ""
    ids = {r["span_id"] for r in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in spans:
        parent = r["parent_id"] if r["parent_id"] in ids else None
        children.setdefault(parent, []).append(r)
    total = owned_tokens(spans)
    project = clean(str(spans[0]["project"]))
    head = f"trace {clean(str(spans[0]['trace_id']))}  project {project}  {len(spans)} spans"
    if total:
        head += f"  {total} tokens"
    lines = [head]

    def walk(node: dict[str, Any], prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_line(node)}")
        inner = prefix + ("   " if last else "│  ")
        kids = children.get(node["span_id"], [])
        if details:
            bar = "│  " if kids else "   "
            if node.get("inputs"):
                lines.append(f"{inner}{bar}in:  {preview(node['inputs'])}")
            if node.get("outputs"):
                lines.append(f"{inner}{bar}out: {preview(node['outputs'])}")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1)

    roots = children.get(None, [])
    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return "\n".join(lines)
