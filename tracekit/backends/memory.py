"""The memory backend: records kept in a list. The test double, shipped as a real backend."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any


class MemoryBackend:
    """Keeps every exported record in :attr:`records` (in export order).

    Use ``tracekit.flush()`` before reading, or the ``tracekit_capture``
    pytest fixture, which does it for you.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self.shut_down = False

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Append a batch."""
        with self._lock:
            self._records.extend(records)

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

    def clear(self) -> None:
        """Forget the records exported so far."""
        with self._lock:
            self._records.clear()
