"""The jsonl backend: one span record per line, appended to a file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import IO, Any


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
        """Append a batch as lines (written in one call)."""
        text = "".join(
            json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in records
        )
        with self._lock:
            f = self._open()
            f.write(text)
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
