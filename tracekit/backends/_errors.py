"""Errors a backend raises to tell the pipeline why a batch was not stored."""

from __future__ import annotations


class StorageFull(OSError):
    """The disk (or the store's size limit) is full: the batch is counted as ``storage_full``."""
