"""The seed's hand-built tree API: ``tracekit.log(root)`` records a tree of ``Span(...)``.

Exactly as in the W&B Prompts tutorial: spans built by hand with
``tracekit.Span(...)``, ``add_child_span`` and ``add_named_result``, then
logged as one trace. The root is sampled like any root (``_lifecycle``).
"""

from __future__ import annotations

from typing import Any

from tracekit import _serialize
from tracekit._context import CURRENT
from tracekit._lifecycle import admit_root, span_size
from tracekit._span import NON_RECORDING, Span, _as_mapping
from tracekit._state import ENABLED, runtime


def log(root: Span) -> None:
    """Record a hand-built span tree (the seed's API) as one trace.

    The root nests under the current span if there is one; otherwise it starts
    a new trace. Spans without an end time end now (or when their last child
    ended, if later). Logging a tree twice records it once.

    Args:
        root: the root of a tree built with ``Span(...)``/``add_child_span``.
    """
    if not ENABLED or not issubclass(type(root), Span) or root.end_ns:
        return
    parent = CURRENT.get()
    if parent is NON_RECORDING:
        return
    if parent is not None:
        root._trace_id, root._parent_id = parent._trace_id, parent._span_id
    elif not root._trace_id:
        if not admit_root():
            return
        root._trace_id = runtime.new_id(128) or 1
    _log_tree(root, set())
    if parent is None and runtime.flush_root is not None:
        runtime.flush_root()  # init(flush_on_root_end=True), as for any root span


def _log_tree(span: Span, seen: set[int]) -> int:
    if id(span) in seen or span.end_ns:  # a cycle or a span logged already
        return 0
    seen.add(id(span))
    last_child_end = 0
    for child in span._children or ():
        child._trace_id, child._parent_id = span._trace_id, span._span_id
        last_child_end = max(last_child_end, _log_tree(child, seen))
    results = span._results
    if results:
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for result_in, result_out in results:
            inputs.update(_as_mapping(result_in, "input"))
            outputs.update(_as_mapping(result_out, "output"))
        limits = runtime.limits
        if runtime.capture_inputs:
            span._inputs, size, _ = _serialize.freeze_sized(inputs, limits)
            span._extra_size += size
        if runtime.capture_outputs:
            span._outputs, size, _ = _serialize.freeze_sized(outputs, limits)
            span._extra_size += size
    end = span._planned_end_ns or max(runtime.clock(), last_child_end)
    span.end_ns = max(end, span.start_ns)
    span._size = span_size(span)
    runtime.sink(span)
    return span.end_ns
