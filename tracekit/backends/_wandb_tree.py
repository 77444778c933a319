"""Span records of one trace -> the shape of a W&B trace tree, and its model dictionary.

Pure functions over span records (no wandb import): the wandb backend turns
the nested dicts built here into ``wandb.sdk.data_types.trace_tree.Span``
objects. Grouping finished spans into traces lives here too
(:class:`TraceAssembler`): a trace is complete when its root span (no
parent) arrives; spans of a trace whose root never comes are released as an
incomplete tree when they get too old or too many, and at shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from tracekit._record import Node, build_tree, map_tree

# W&B trace trees know four kinds (the seed's); tracekit's other two map onto the nearest
WANDB_KINDS = {
    "LLM": "LLM",
    "CHAIN": "CHAIN",
    "AGENT": "AGENT",
    "TOOL": "TOOL",
    "EMBEDDING": "LLM",
    "RETRIEVER": "TOOL",
}

INCOMPLETE_NAME = "(incomplete trace)"


def span_tree(node: Node) -> dict[str, Any]:
    """One node of ``_record.build_tree`` and its descendants as nested dicts with W&B's fields.

    Built with a stack, not by recursion: a trace can nest deeper than
    Python's recursion limit. Each node's children are filled in order.
    """
    return map_tree(node, _span_dict, lambda n: n["children"], lambda out: out["child_spans"])  # type: ignore[no-any-return]


def _span_dict(node: Node) -> dict[str, Any]:
    """One node's W&B fields, with ``child_spans`` empty (``span_tree`` fills it)."""
    record = node["record"]
    error = record.get("error") or {}
    attributes: dict[str, Any] = {
        "tracekit.kind": record.get("kind"),
        "trace_id": record.get("trace_id"),
        "span_id": record.get("span_id"),
    }
    for key in ("model", "usage"):
        if record.get(key):
            attributes[key] = record[key]
    attributes.update(record.get("attributes") or {})
    if record.get("events"):
        attributes["events"] = record["events"]
    if node["cycle"]:  # its parent link looped back: drawn as a root
        attributes["tracekit.parent_loop"] = record.get("parent_id")
    start = _start(record)
    end = int(record.get("end_ns") or start)
    return {
        "span_id": record.get("span_id"),
        "name": record.get("name"),
        "span_kind": WANDB_KINDS.get(str(record.get("kind")), "CHAIN"),
        "start_time_ms": start // 1_000_000,
        "end_time_ms": end // 1_000_000,
        "status_code": "ERROR" if record.get("status") == "ERROR" else "SUCCESS",
        "status_message": f"{error.get('type')}: {error.get('message')}" if error else None,
        "attributes": attributes,
        "inputs": record.get("inputs") or {},
        "outputs": record.get("outputs") or {},
        "child_spans": [],
    }


def _start(record: dict[str, Any]) -> int:
    return int(record.get("start_ns") or 0)


def trace_tree(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The tree of one trace: its root, or a synthetic root over several tops.

    The tree is ``_record.build_tree``'s: a trace whose root never arrived
    (orphans), or whose parent links loop, has several tops (or one that is
    not a true root) and gets the synthetic root.
    """
    tops = build_tree(records)
    if len(tops) == 1 and not tops[0]["record"].get("parent_id"):
        return span_tree(tops[0])
    trees = [span_tree(top) for top in tops]
    return {
        "span_id": None,
        "name": INCOMPLETE_NAME,
        "span_kind": "CHAIN",
        "start_time_ms": min(t["start_time_ms"] for t in trees),
        "end_time_ms": max(t["end_time_ms"] for t in trees),
        "status_code": "ERROR" if any(t["status_code"] == "ERROR" for t in trees) else "SUCCESS",
        "status_message": "the trace's root span never reached this backend",
        "attributes": {"trace_id": tops[0]["record"].get("trace_id"), "tracekit.incomplete": True},
        "inputs": {},
        "outputs": {},
        "child_spans": trees,
    }


def model_dict(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The "model architecture" of a trace: models, parameters, LangChain configuration.

    ``_kind`` keys mark each component for the W&B panel, as its own
    integrations do. Components are keyed by span name (``name#2`` when the
    same name runs with a different configuration).
    """
    root = next((r for r in records if not r.get("parent_id")), records[0])
    result: dict[str, Any] = {
        "_kind": "tracekit.trace",
        "name": root.get("name"),
        "kind": root.get("kind"),
        "project": root.get("project"),
    }
    components: dict[str, Any] = {}
    for record in sorted(records, key=_start):
        component = _component(record)
        if component is None:
            continue
        name = str(record.get("name"))
        key, n = name, 1
        while key in components and components[key] != component:
            n += 1
            key = f"{name}#{n}"
        components[key] = component
    if components:
        result["components"] = components
    graph = (root.get("attributes") or {}).get("langchain.graph")
    if isinstance(graph, dict):
        result["graph"] = graph
    return result


def _component(record: dict[str, Any]) -> dict[str, Any] | None:
    attributes = record.get("attributes") or {}
    model = record.get("model")
    langchain = attributes.get("langchain.parameters")
    parameters = attributes.get("model_parameters")
    is_model = record.get("kind") in ("LLM", "EMBEDDING") and isinstance(parameters, dict)
    if not model and not is_model and not isinstance(langchain, dict):
        return None
    component: dict[str, Any] = {"_kind": str(record.get("kind") or "CHAIN").lower()}
    if model:
        component["model_name"] = model
        requested = attributes.get("openai.request_model")
        if requested and requested != model:
            component["requested_model"] = requested
    if isinstance(parameters, dict) and parameters:
        component["parameters"] = parameters
    if isinstance(langchain, dict):
        component["langchain"] = langchain
    return component


class TraceAssembler:
    """Collects finished spans per trace until the trace's root arrives.

    Args:
        max_spans: spans held for traces whose root has not arrived; past it,
            the oldest such trace is released incomplete.
        max_wait_s: a trace waiting longer than this for its root is released incomplete.
    """

    def __init__(self, max_spans: int = 10_000, max_wait_s: float = 3600.0) -> None:
        self.max_spans = max_spans
        self.max_wait_s = max_wait_s
        self._pending: dict[str, list[dict[str, Any]]] = {}  # insertion order = oldest first
        self._since: dict[str, float] = {}
        self._count = 0

    @property
    def pending_spans(self) -> int:
        """Spans waiting for their trace's root."""
        return self._count

    def add(self, records: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Take finished records; return the traces now complete or released, oldest first."""
        now = time.monotonic()
        done: list[str] = []
        for record in records:
            trace_id = str(record.get("trace_id"))
            if trace_id not in self._pending:
                self._pending[trace_id] = []
                self._since[trace_id] = now
            self._pending[trace_id].append(record)
            self._count += 1
            if not record.get("parent_id") and trace_id not in done:
                done.append(trace_id)
        released = [self._take(trace_id) for trace_id in done]
        while self._pending and (
            self._count > self.max_spans
            or now - self._since[next(iter(self._pending))] > self.max_wait_s
        ):
            released.append(self._take(next(iter(self._pending))))
        return released

    def drain(self) -> list[list[dict[str, Any]]]:
        """Every trace still waiting (at shutdown), incomplete ones included."""
        return [self._take(trace_id) for trace_id in list(self._pending)]

    def _take(self, trace_id: str) -> list[dict[str, Any]]:
        records = self._pending.pop(trace_id)
        del self._since[trace_id]
        self._count -= len(records)
        return records
