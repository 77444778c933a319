"""Span records written by hand, for tests that fill a store without tracing."""

from __future__ import annotations

from typing import Any

from tracekit._record import empty_record


def hand_record(trace_id: str, span_id: str, **fields: Any) -> dict[str, Any]:
    """A finished span record of ``trace_id``: a root named "step" unless ``fields`` say else."""
    values = {
        "trace_id": trace_id,
        "span_id": span_id,
        "name": "step",
        "project": "default",
        "start_ns": 1_700_000_000_000_000_000,
        "end_ns": 1_700_000_000_500_000_000,
        "inputs": {"text": "hello"},
        "outputs": {"output": "bye"},
    }
    return empty_record(**{**values, **fields})
