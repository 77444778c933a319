"""The memory backend: records kept in a list. The test double, shipped as a real backend."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any


class MemoryBackend:
    """Keeps every exported record in :attr:`records` (in export order).

    Use ``tracekit.flush()`` before reading, or the ``tracekit_capture``
    pytest fixture, which does it for you.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._losses: dict[str, int] = {}
        self.shut_down = False

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Append a batch."""
        with self._lock:
            self._records.extend(records)

    def export_losses(self, losses: Mapping[str, int]) -> None:
        """Add spans tracekit lost, by trace id (see :attr:`losses`)."""
        with self._lock:
            for trace_id, count in losses.items():
                self._losses[trace_id] = self._losses.get(trace_id, 0) + count

    def flush(self) -> None:
        """Nothing to do: records are visible as soon as they are exported."""

    def shutdown(self) -> None:
        """Mark the backend closed; the records stay readable."""
        self.shut_down = True

    @property
    def records(self) -> list[dict[str, Any]]:
        """A copy of the records exported so far."""
        with self._lock:
            return list(self._records)

    @property
    def losses(self) -> dict[str, int]:
        """Trace id -> spans of it tracekit lost (never exported): those traces are incomplete."""
        with self._lock:
            return dict(self._losses)

    def clear(self) -> None:
        """Forget the records and losses exported so far."""
        with self._lock:
            self._records.clear()
            self._losses.clear()
