"""Errors a backend raises to tell the pipeline why a batch was not stored."""

from __future__ import annotations


class StorageFull(OSError):
    """The disk (or the store's size limit) is full: the batch is counted as ``storage_full``."""


class BatchDropped(Exception):
    """A backend gave up on (part of) a batch for a reason it names.

    The pipeline counts ``count`` spans (default: the whole batch) under
    ``stats()["dropped"][reason]`` instead of ``backend_error``; the rest of
    the batch counts as exported. Remote backends use it to say why
    (``rejected``, ``unreachable``, ``unavailable``, ``timeout``, ``spool_full``).

    Args:
        reason: the ``dropped`` key to count under (a short snake_case word).
        count: how many spans of the batch were dropped; None for all of them.
        detail: a human-readable explanation, logged once.
    """

    def __init__(self, reason: str, count: int | None = None, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.count = count
