"""The jsonl backend: one span record per line, appended to a file.

A trace that lost spans on tracekit's side gets a loss line too (D109):
``{"record": "loss", "trace_id": "<32 hex>", "lost_spans": N}``. A loss line
has no ``span_id``; a trace's lost count is the sum of its loss lines.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from tracekit._record import UNENCODABLE, encode_checked
from tracekit.backends._errors import BatchDropped


class JsonlBackend:
    """Appends each record as one JSON line to ``path`` (created 0600, parents 0700).

    The file is opened on the first export, so configuring it creates nothing.
    Lines are whole: a crash loses at most the batch being written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def _open(self) -> IO[str]:
        if self._file is None:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        return self._file

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Append a batch as lines (written in one call).

        A record that cannot be encoded is repaired, or written as a
        placeholder (``_record.encode_checked``); the rest of the batch is
        written all the same.

        Raises:
            BatchDropped: ``unencodable``, for the spans written as placeholders.
        """
        lines = []
        lost = 0
        for record in records:
            text, _, why = encode_checked(record)
            lines.append(text)
            lost += why is not None
        lines.append("")
        with self._lock:
            f = self._open()
            f.write("\n".join(lines))
            f.flush()
        if lost:
            raise BatchDropped(
                UNENCODABLE,
                lost,
                "span records that could not be encoded were written as placeholders",
                counts={UNENCODABLE: lost},
            )

    def export_losses(self, losses: Mapping[str, int]) -> None:
        """Append one loss line per trace that lost spans (see the module docstring)."""
        lines = [
            json.dumps({"record": "loss", "trace_id": trace_id, "lost_spans": count})
            for trace_id, count in losses.items()
            if count
        ]
        if not lines:
            return
        lines.append("")
        with self._lock:
            f = self._open()
            f.write("\n".join(lines))
            f.flush()

    def flush(self) -> None:
        """Flush to the operating system."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def after_fork(self) -> None:
        """In a forked child, reopen the file lazily instead of sharing the buffer."""
        self._lock = threading.Lock()
        self._file = None
