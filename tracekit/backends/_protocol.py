"""The backend protocol, its optional abilities, and the one place they are read.

A backend is any object with ``export``/``flush``/``shutdown``. Each optional
ability is a protocol of its own, so a backend can declare it (inherit the
protocol and mypy checks the signature) or simply have the attribute. The
pipeline reads the abilities once, at ``init()``, through :func:`abilities_of`:
a value of the wrong type is a ValueError there, and an attribute whose name is
one letter away from an ability (``export_start``, ``after_forks``) is logged
once, instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from tracekit import _guard


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from a backend: three verbs, called on the exporter thread.

    A backend that runs out of space raises :class:`~tracekit.backends.StorageFull`
    (counted as ``storage_full``); one that gives up on some or all of a batch
    for a reason of its own raises :class:`~tracekit.backends.BatchDropped`
    (each span counted under the reason it names, the rest of the batch as
    exported); anything else it raises is counted as ``backend_error``.

    Optional abilities, each a protocol: :class:`LiveBackend`,
    :class:`RemoteBackend`, :class:`ForkAware`, :class:`ReportsLateDrops`,
    :class:`MarksLosses`.
    """

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Store or send a batch of finished span records. May raise: it is counted."""

    def flush(self) -> None:
        """Make everything exported so far durable or sent."""

    def shutdown(self) -> None:
        """Flush and release resources; no export follows."""


@runtime_checkable
class LiveBackend(Backend, Protocol):
    """A backend that shows work in progress (the store)."""

    def export_started(self, records: Sequence[dict[str, Any]]) -> None:
        """Receive records of spans open longer than one export interval.

        Such a record has ``end_ns`` None and status ``RUNNING``; the span's
        final record follows when it ends.
        """


@runtime_checkable
class RemoteBackend(Backend, Protocol):
    """A backend that talks to the network (OTLP, W&B).

    Its calls run on a thread of its own, each bounded by
    ``init(export_timeout=...)``; the pipeline writes that bound into
    ``export_timeout`` so the backend can finish its own work (spool, count by
    reason) before the pipeline gives up on the call.
    """

    remote: bool
    export_timeout: float
    export_interval: float


@runtime_checkable
class ForkAware(Protocol):
    """A backend that must reopen files or connections in a forked child."""

    def after_fork(self) -> None:
        """Called in a forked child before it exports anything."""


@runtime_checkable
class ReportsLateDrops(Protocol):
    """A backend that can lose spans after ``export`` returned (a spooled batch refused later).

    Unlike the other abilities, ``dropped_later`` is a value: ``stats()`` reads
    it each time (a mapping created later counts too).
    """

    dropped_later: Mapping[str, int]
    """Reason -> spans accepted and lost afterwards, added to ``stats()["dropped"]``."""


@runtime_checkable
class MarksLosses(Protocol):
    """A backend that marks a trace incomplete when tracekit lost some of its spans (D109).

    The store keeps a lost count per trace, so a trace missing spans is never
    shown as whole.
    """

    def export_losses(self, losses: Mapping[str, int]) -> None:
        """Add ``losses`` (trace id, 32 hex -> spans of it lost since the last call).

        Called on the exporter thread after a round that lost spans, before
        ``flush()`` and ``shutdown()``. The counts add up: a trace may be
        named again later, and its spans may be exported before or after.
        Spans counted here are never exported. May raise: the same counts are
        offered again with the next call (no span is counted twice in
        ``stats()``; only the mark waits).
        """


_OPTIONAL = (
    "export_started",
    "export_losses",
    "remote",
    "export_timeout",
    "export_interval",
    "after_fork",
    "dropped_later",
)


@dataclasses.dataclass(frozen=True)
class Abilities:
    """What one backend can do beyond the three verbs, read once at ``init()``."""

    live: bool = False  # has export_started
    remote: bool = False  # remote = True: own thread, bounded calls
    takes_timeout: bool = False  # has export_timeout: the runner writes its bound there
    interval: float | None = None  # its own seconds between batches
    fork_aware: bool = False  # has after_fork
    marks_losses: bool = False  # has export_losses


def abilities_of(backend: object) -> Abilities:
    """Read a backend's optional abilities once.

    Raises:
        ValueError: an ability present with a value of the wrong type.
    """
    name = type(backend).__name__
    _warn_near_misses(backend, name)
    remote = getattr(backend, "remote", False)
    if not isinstance(remote, bool):
        raise ValueError(f"backend {name}: remote must be True or False, got {remote!r}")
    interval = getattr(backend, "export_interval", None)
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or not 0 < interval < math.inf
    ):
        raise ValueError(
            f"backend {name}: export_interval must be a positive number of seconds, "
            f"got {interval!r}"
        )
    for method in ("export_started", "export_losses", "after_fork"):
        value = getattr(backend, method, None)
        if value is not None and not callable(value):
            raise ValueError(f"backend {name}: {method} must be a method, got {value!r}")
    late = getattr(backend, "dropped_later", None)
    if late is not None and not isinstance(late, Mapping):
        raise ValueError(f"backend {name}: dropped_later must be a mapping, got {late!r}")
    return Abilities(
        live=callable(getattr(backend, "export_started", None)),
        remote=remote,
        takes_timeout=hasattr(backend, "export_timeout"),
        interval=None if interval is None else float(interval),
        fork_aware=callable(getattr(backend, "after_fork", None)),
        marks_losses=callable(getattr(backend, "export_losses", None)),
    )


def _warn_near_misses(backend: object, name: str) -> None:
    try:
        attributes = [a for a in dir(backend) if not a.startswith("_")]
    except Exception:  # a hostile __dir__: nothing to compare
        return
    for attribute in attributes:
        if attribute in _OPTIONAL or attribute in ("export", "flush", "shutdown"):
            continue
        close = difflib.get_close_matches(attribute, _OPTIONAL, n=1, cutoff=0.85)
        if close:
            _guard.log_once(
                f"backend:{name}:near:{attribute}",
                "tracekit: backend %s has %r, which is not a backend ability; did you mean %r?",
                name,
                attribute,
                close[0],
            )
