"""The console backend: a readable tree printed when each trace's root span ends."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tracekit._record import UNENCODABLE, encodable, placeholder
from tracekit._render import render_trace
from tracekit._serialize import clean_text
from tracekit.backends._errors import BatchDropped

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
        text += "\n"
        try:
            out.write(text)
        except UnicodeEncodeError:
            # A stream that cannot take some character (a lone surrogate a processor
            # left, an emoji on a legacy code page): repaired, else escaped.
            text = clean_text(text)
            try:
                out.write(text)
            except UnicodeEncodeError:
                encoding = getattr(out, "encoding", None) or "ascii"
                out.write(text.encode(encoding, "backslashreplace").decode(encoding))
        out.flush()

    def _render(self, spans: list[dict[str, Any]]) -> tuple[str, int]:
        """A trace's tree, and how many of its spans had to be drawn as placeholders."""
        try:
            return render_trace(spans, details=self.details), 0
        except Exception as exc:  # a record a processor left unreadable: repair each
            fixed = [encodable(record, exc) for record in spans]
            try:
                text = render_trace([record for record, _ in fixed], details=self.details)
                return text, sum(why is not None for _, why in fixed)
            except Exception as again:
                why = f"{type(exc).__name__}, then {type(again).__name__}"
                shown = [placeholder(record, why) for record in spans]
                return render_trace(shown, details=self.details), len(spans)

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Buffer the batch; print every trace whose root is in it.

        Raises:
            BatchDropped: ``unencodable``, for spans that had to be printed as
                placeholders (the rest of the batch is printed all the same).
        """
        ready: list[list[dict[str, Any]]] = []
        with self._lock:
            for record in records:
                trace_id = _key(record, "trace_id")
                self._pending.setdefault(trace_id, []).append(record)
                if _key(record, "parent_id") is None:
                    ready.append(self._pending.pop(trace_id))
            while len(self._pending) > _MAX_BUFFERED_TRACES:
                ready.append(self._pending.popitem(last=False)[1])
        self._print(ready)

    def _print(self, traces: list[list[dict[str, Any]]]) -> None:
        lost = 0
        for spans in traces:
            text, placeholders = self._render(spans)
            self._write(text)
            lost += placeholders
        if lost:
            raise BatchDropped(
                UNENCODABLE,
                lost,
                "span records that could not be printed were printed as placeholders",
                counts={UNENCODABLE: lost},
            )

    def flush(self) -> None:
        """Nothing buffered in the stream; unfinished traces stay until their root ends."""

    def shutdown(self) -> None:
        """Print what is left (traces whose root never ended) and stop."""
        with self._lock:
            left = list(self._pending.values())
            self._pending.clear()
        self._print(left)


def _key(record: Any, field: str) -> Any:
    """A record's id field, or a stand-in for a record a processor damaged (never raises)."""
    try:
        value = record[field]
    except Exception:
        return "?" if field == "trace_id" else None
    return value if value is None or type(value) is str else "?"
