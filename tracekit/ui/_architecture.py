"""The model architecture of one trace: its components, their configuration, the runnable graph.

A *component* is one callable as it sits in the call tree: the spans with the
same kind and name under the same parent component are one component called
several times (an agent that calls its search tool five times has one search
component). Each carries what it was configured with:

- LLM spans: the model name(s) and ``attributes["model_parameters"]``;
- LangChain components: ``attributes["langchain.parameters"]`` (their
  serialized constructor arguments, secrets already redacted);
- decorated functions: their kind, ``tags`` and ``metadata`` keys.

The runnable graph is ``attributes["langchain.graph"]`` of the trace's root
LangChain span (``{"nodes": [{"id", "name"}], "edges": [{"source", "target",
"conditional"}]}``), checked and trimmed here so the page draws only what is
well formed. Everything is returned flat (components point to their parent),
so a trace nested thousands deep never recurses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracekit._record import Node, build_tree

PARAMETER_KEYS = ("model_parameters", "langchain.parameters")
GRAPH_KEY = "langchain.graph"
# Attributes that are not the user's metadata: tracekit's own and an adapter's.
_NOT_METADATA_PREFIXES = ("tracekit.", "langchain.")
_NOT_METADATA = frozenset({"model_parameters", "tags"})
MAX_GRAPH_NODES = 2_000
MAX_GRAPH_EDGES = 10_000


def architecture(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The components of a trace and its graph, as JSON-ready data.

    The call tree is :func:`tracekit._record.build_tree`'s, the one ``tracekit
    show`` and the trace view draw: orphans and spans whose parent link loops
    back are roots there, and so here. It is walked with a stack (parents
    before their children, children in start order), never by recursion.
    """
    components: list[dict[str, Any]] = []
    by_key: dict[tuple[int, str, str], int] = {}
    # (node, the component index of its parent: -1 for a root)
    stack: list[tuple[Node, int]] = [(root, -1) for root in reversed(build_tree(records))]
    while stack:
        node, parent = stack.pop()
        index = _place(node["record"], parent, by_key, components)
        stack.extend((child, index) for child in reversed(node["children"]))
    return {"components": components, "graph": find_graph(records)}


def _place(
    record: Mapping[str, Any],
    parent: int,
    by_key: dict[tuple[int, str, str], int],
    components: list[dict[str, Any]],
) -> int:
    """Count ``record`` as a call of its component under ``parent``; the component's index."""
    kind, name = str(record.get("kind") or "CHAIN"), str(record.get("name") or "?")
    key = (parent, kind, name)
    index = by_key.get(key)
    attributes = record.get("attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    if index is None:
        index = by_key[key] = len(components)
        components.append(
            {
                "id": index,
                "parent": None if parent < 0 else parent,
                "kind": kind,
                "name": name,
                "calls": 0,
                "models": [],
                "parameters": {},
                "metadata": {},
                "tags": [],
            }
        )
    component = components[index]
    component["calls"] += 1
    model = record.get("model")
    if isinstance(model, str) and model not in component["models"]:
        component["models"].append(model)
    for source in PARAMETER_KEYS:
        value = attributes.get(source)
        if isinstance(value, Mapping) and value and source not in component["parameters"]:
            component["parameters"][source] = dict(value)
    for key_name, value in attributes.items():
        if key_name in _NOT_METADATA or key_name.startswith(_NOT_METADATA_PREFIXES):
            continue
        component["metadata"].setdefault(key_name, value)
    tags = attributes.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str) and tag not in component["tags"]:
                component["tags"].append(tag)
    return index


def find_graph(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The recorded runnable graph: the root span's first, else the first span's that has one."""
    ordered = sorted(records, key=lambda r: r.get("parent_id") is not None)  # roots first
    for record in ordered:
        attributes = record.get("attributes")
        if isinstance(attributes, Mapping):
            graph = clean_graph(attributes.get(GRAPH_KEY))
            if graph is not None:
                return graph
    return None


def clean_graph(value: Any) -> dict[str, Any] | None:
    """``value`` as ``{"nodes", "edges", "dropped"}`` if it is a graph, else None.

    Nodes need a string id (a missing name reads as the id); edges need both
    ends among the nodes. What does not fit is counted in ``dropped``, never
    guessed at, and the graph is capped at 2,000 nodes and 10,000 edges.
    """
    if not isinstance(value, Mapping):
        return None
    raw_nodes, raw_edges = value.get("nodes"), value.get("edges")
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list | type(None)):
        return None
    nodes: list[dict[str, str]] = []
    seen: set[str] = set()
    dropped = 0
    for node in raw_nodes:
        ident = node.get("id") if isinstance(node, Mapping) else None
        if not isinstance(ident, str) or ident in seen or len(nodes) >= MAX_GRAPH_NODES:
            dropped += 1
            continue
        name = node.get("name") if isinstance(node, Mapping) else None
        seen.add(ident)
        nodes.append({"id": ident, "name": name if isinstance(name, str) else ident})
    edges: list[dict[str, Any]] = []
    for edge in raw_edges or ():
        if not isinstance(edge, Mapping):
            dropped += 1
            continue
        source, target = edge.get("source"), edge.get("target")
        if source not in seen or target not in seen or len(edges) >= MAX_GRAPH_EDGES:
            dropped += 1
            continue
        edges.append(
            {"source": source, "target": target, "conditional": edge.get("conditional") is True}
        )
    if not nodes:
        return None
    return {"nodes": nodes, "edges": edges, "dropped": dropped}
