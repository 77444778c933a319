"""The console backend: a readable tree printed when each trace's root span ends."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tracekit._render import render_trace

_MAX_BUFFERED_TRACES = 1_000


class ConsoleBackend:
    """Buffers each trace's spans and prints the tree when its root arrives.

    Spans that arrive after their root (a thread outliving the trace) are
    printed on their own. Output goes to ``stdout`` or ``stderr``, looked up at
    print time so redirection and test capture work.
    """

    def __init__(self, stream: str = "stdout", *, details: bool = True) -> None:
        if stream not in ("stdout", "stderr"):
            raise ValueError("stream must be 'stdout' or 'stderr'")
        self.stream = stream
        self.details = details
        self._pending: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        out = getattr(sys, self.stream)
        out.write(text + "\n")
        out.flush()

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Buffer the batch; print every trace whose root is in it."""
        ready: list[list[dict[str, Any]]] = []
        with self._lock:
            for record in records:
                self._pending.setdefault(record["trace_id"], []).append(record)
                if record["parent_id"] is None:
                    ready.append(self._pending.pop(record["trace_id"]))
            while len(self._pending) > _MAX_BUFFERED_TRACES:
                ready.append(self._pending.popitem(last=False)[1])
        for spans in ready:
            self._write(render_trace(spans, details=self.details))

    def flush(self) -> None:
        """Nothing buffered in the stream; unfinished traces stay until their root ends."""

    def shutdown(self) -> None:
        """Print what is left (traces whose root never ended) and stop."""
        with self._lock:
            left = list(self._pending.values())
            self._pending.clear()
        for spans in left:
            self._write(render_trace(spans, details=self.details))
