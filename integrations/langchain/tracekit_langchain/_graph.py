"""The root runnable of a LangChain call: which object it is, and its graph.

A top-level run reaches the handler without the object that started it
(LCEL sequences and LangGraph graphs pass ``serialized=None``), yet the
runnable is right there: the method that called ``on_chain_start`` is one of
its own (``invoke``, ``stream``, ``batch``, ``_call_with_config``...). So
for top-level runs only, :func:`root_runnable` walks a few frames up from
the callback to the first ``self`` that is a ``Runnable``. No frame is
touched for nested runs, and when no runnable is found nothing is recorded.
One place starts top-level runs in tasks of their own, an LCEL sequence's
``abatch``: it is wrapped to name itself in :data:`BATCHING`.

:func:`graph_of` turns ``Runnable.get_graph()`` into plain data (the model
architecture a viewer draws): ``{"nodes": [{"id", "name"}], "edges":
[{"source", "target", "conditional"}]}``. Building a graph costs up to a few
milliseconds (LangChain creates the input and output schemas), so it is kept
per runnable object, weakly: a chain defined once is described once.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import Counter
from contextvars import ContextVar
from types import FrameType
from typing import Any

from langchain_core.runnables import Runnable

# How far up from the handler's callback the runnable's own frame may be (the
# callback manager and its event dispatch sit in between).
MAX_FRAMES = 12

# Classes whose instances are agents whatever they are named.
AGENT_CLASSES = frozenset({"Pregel", "AgentExecutor"})

# The runnable whose ``abatch`` is running: an LCEL sequence starts each item's run
# in a task of its own (``asyncio.gather``), whose frames do not reach the runnable;
# the tasks copy the context, so they see this (set by ``_patching``).
BATCHING: ContextVar[Any] = ContextVar("tracekit_langchain_batching", default=None)

_cache: dict[int, tuple[weakref.ref[Any], dict[str, Any] | None]] = {}
_lock = threading.RLock()  # _forget may run from a GC inside graph_of


def root_runnable() -> Runnable[Any, Any] | None:
    """The runnable whose method is starting the current top-level run, or None."""
    frame: FrameType | None = sys._getframe(2)  # past this function and the callback
    for _ in range(MAX_FRAMES):
        if frame is None:
            break
        if "self" in frame.f_code.co_varnames or "self" in frame.f_code.co_freevars:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Runnable):
                return candidate
        frame = frame.f_back
    batching = BATCHING.get()
    return batching if isinstance(batching, Runnable) else None


def is_agent(runnable: Runnable[Any, Any]) -> bool:
    """Whether ``runnable`` is a LangGraph graph or an agent executor (by class)."""
    return any(cls.__name__ in AGENT_CLASSES for cls in type(runnable).__mro__)


def graph_of(runnable: Runnable[Any, Any]) -> dict[str, Any] | None:
    """``runnable.get_graph()`` as plain data, built once per runnable object."""
    key = id(runnable)
    cached = _cache.get(key)
    if cached is not None and cached[0]() is runnable:
        return cached[1]
    graph = _describe(runnable.get_graph())
    try:
        ref = weakref.ref(runnable, lambda _ref: _forget(key, _ref))
    except TypeError:  # not weakly referenceable: describe it again next time
        return graph
    with _lock:
        _cache[key] = (ref, graph)
    return graph


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] is ref:
            del _cache[key]


def _describe(graph: Any) -> dict[str, Any] | None:
    """Nodes with readable ids (a node's name, numbered when names repeat) and edges."""
    nodes = list(graph.nodes.values())
    if len(nodes) < 2:
        return None  # a single component: its span says everything
    counts = Counter(node.name for node in nodes)
    seen: Counter[str] = Counter()
    ids: dict[str, str] = {}
    for node in nodes:
        name = str(node.name)
        if counts[node.name] == 1:
            ids[node.id] = name
        else:
            seen[name] += 1
            ids[node.id] = f"{name}:{seen[name]}"
    return {
        "nodes": [{"id": ids[node.id], "name": str(node.name)} for node in nodes],
        "edges": [
            {
                "source": ids.get(edge.source, str(edge.source)),
                "target": ids.get(edge.target, str(edge.target)),
                "conditional": bool(edge.conditional),
            }
            for edge in graph.edges
        ],
    }
