"""Errors a backend raises to tell the pipeline why a batch was not stored."""

from __future__ import annotations


class StorageFull(OSError):
    """The disk (or the store's size limit) is full: the batch is counted as ``storage_full``."""


class BatchDropped(Exception):
    """A backend gave up on (part of) a batch for the reasons it names.

    The pipeline counts the dropped spans under ``stats()["dropped"][reason]``
    (each reason of ``counts`` under its own key) instead of
    ``backend_error``; the rest of the batch counts as exported. Remote
    backends use it to say why (``rejected``, ``unreachable``,
    ``unavailable``, ``timeout``, ``spool_full``). The pipeline's one log line
    for the reason carries ``str(exc)``: the reason and ``detail``.

    Args:
        reason: the ``dropped`` key to count under (a short snake_case word).
        count: how many spans of the batch were dropped; None for all of them.
        detail: a human-readable explanation (no secrets: it is logged).
        counts: spans dropped per reason, when a batch was lost for several;
            it replaces ``reason`` and ``count`` for the counting.
    """

    def __init__(
        self,
        reason: str,
        count: int | None = None,
        detail: str = "",
        *,
        counts: dict[str, int] | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.count = count if counts is None else sum(counts.values())
        self.counts = dict(counts) if counts else None
