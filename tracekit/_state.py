"""Global state department: everything tracekit holds between calls, and its reset.

Every process-wide value lives here and nowhere else: the hot path's settings
(:data:`runtime`), whether tracing is on (:data:`ENABLED`), the open-span
registry, the active pipeline and options, the adapter registry, the guard's
counters, the context counters and the store's per-path state. Other modules
hold behaviour, and read or change these objects in place.

The hot-path modules bind :data:`runtime`, :data:`ENABLED` and
:data:`open_spans` by name, so those are never rebound: :func:`reset` clears
and re-initialises the objects themselves. Only the locks (renewed in a
forked child) and the two hooks ``_config`` sets at import are rebound, and
they are always read through this module. ``tracekit._config._reset``
is the one reset for tests (the pytest plugin calls it): it stops what runs
(the pipeline, the adapters' patches, thread propagation), then calls
:func:`reset`.

A leaf module: it imports nothing of tracekit but the options and the caps.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from tracekit._options import Options
from tracekit._serialize import DEFAULT_LIMITS, Limits

# The live objects held here (spans, the pipeline, adapters) are typed Any: naming
# their classes would make this leaf import the modules that build on it.
_Span = Any
_Pipeline = Any
_Integration = Any


# -- the hot path ---------------------------------------------------------------------


class Runtime:
    """Hot-path settings, written by ``init()`` and read by every traced call.

    One object with slots: the traced call reads plain attributes, never a
    lock and never a dict of options.
    """

    __slots__ = (
        "capture_inputs",
        "capture_outputs",
        "clean_items",
        "clock",
        "flush_root",
        "limits",
        "new_id",
        "sample_rate",
        "sink",
    )

    def __init__(self) -> None:
        self.sink: Callable[[_Span], None] = _drop
        self.capture_inputs = True
        self.capture_outputs = True
        self.sample_rate = 1.0
        self.limits: Limits = DEFAULT_LIMITS
        # Most keys a clean payload may have: max_items, or -1 (never clean)
        # when the string cap is below the clean string length.
        self.clean_items = DEFAULT_LIMITS.max_items
        self.clock: Callable[[], int] = time.time_ns
        self.new_id: Callable[[int], int] = random.getrandbits
        self.flush_root: Callable[[], None] | None = None


def _drop(span: _Span) -> None:
    """The sink before ``init()`` and after ``shutdown()``: nothing is kept."""


runtime = Runtime()

# Spans started and not yet ended, oldest first (dicts keep insertion order).
# The exporter thread ends the ones past the caps as abandoned.
open_spans: dict[int, _Span] = {}


class Switch(list):  # type: ignore[type-arg]
    """The decorators' ``enabled`` hook: non-empty while tracing is on.

    wrapt tests a non-callable ``enabled`` by its truth value, in C; a list's
    truth value is its length, so checking costs no Python call on each
    traced call (a callable hook would). See :class:`Undecided` for the first use.
    """

    __slots__ = ()


class Undecided(Switch):
    """Before ``init()``: the first truth test asks :data:`on_first_use` (the environment)."""

    __slots__ = ()

    def __len__(self) -> int:
        return 1 if on_first_use() else 0


def _never() -> bool:
    return False


# Set by tracekit._config at import: reads TRACEKIT_BACKEND and may call init().
on_first_use: Callable[[], bool] = _never
# Set by tracekit._config at import: tracekit.shutdown(), for a backend whose library
# has an exit hook of its own that would run before tracekit's (W&B).
shutdown: Callable[[], object] = _never

ENABLED: Switch = Undecided()


def set_enabled(value: bool | None) -> None:
    """Record whether tracing is on; None means "read the environment on first use"."""
    config.enabled = value
    ENABLED.clear()
    if value:
        ENABLED.append(1)
    ENABLED.__class__ = Undecided if value is None else Switch


def is_enabled() -> bool:
    """Whether spans are recorded now (the truth value of :data:`ENABLED`)."""
    return bool(ENABLED)


# -- configuration ----------------------------------------------------------------------


class Config:
    """The active pipeline and options (``tracekit.init``)."""

    __slots__ = ("closed", "enabled", "hooks_registered", "options", "pipeline")

    def __init__(self) -> None:
        self.pipeline: _Pipeline | None = None
        self.options = Options()
        self.enabled: bool | None = None  # None: not decided yet (before init, env not read)
        # The last pipeline shut down: stats() reads it, late spans are counted there.
        self.closed: _Pipeline | None = None
        self.hooks_registered = False  # atexit and fork hooks: once per process, never undone


config = Config()
# Held by init/shutdown/reset; replaced in a forked child (the parent may have held it).
lock = threading.RLock()


# -- the guard, the context, the adapters --------------------------------------------------


class Guard:
    """The internal-error guard's counters (``tracekit._guard``)."""

    __slots__ = ("internal_errors", "logged", "strict")

    def __init__(self) -> None:
        self.strict = False  # internal errors re-raise (the pytest plugin)
        self.logged: set[str] = set()  # log-once keys already logged
        self.internal_errors = 0


guard = Guard()
guard_lock = threading.Lock()


class ContextCounters:
    """What ``tracekit._context`` counts and installs."""

    __slots__ = ("foreign_resets", "propagating")

    def __init__(self) -> None:
        # Context tokens reset from another context (a generator finalised
        # elsewhere): repaired, and reported as stats()["foreign_resets"].
        self.foreign_resets = 0
        self.propagating = False  # the Thread.start / Executor.submit wrappers are installed


context = ContextCounters()
propagation_lock = threading.Lock()  # installing or removing the thread wrappers


class Adapters:
    """The adapter registry (``tracekit._registry``)."""

    __slots__ = ("by_name", "discovered")

    def __init__(self) -> None:
        self.by_name: dict[str, _Integration] = {}
        self.discovered = False  # entry points loaded


adapters = Adapters()
adapters_lock = threading.RLock()


# -- backends ------------------------------------------------------------------------------

# The sqlite writers' state per database file (real path): the span ids stored as
# started and the memory of recent traces, shared by this process's backends of
# that file (backends/_sqlite_tokens.FileMemory, typed Any here to keep this a leaf).
store_files: dict[str, Any] = {}
# Connections a forked child inherited: never closed nor used (SQLite forbids both),
# only kept alive. Not cleared by reset(): closing them would corrupt the parent's store.
# The fork hooks close the writers' connections before a fork, so this holds only one
# a writer was still using when the fork's wait for it ran out.
inherited_connections: list[Any] = []
# Every sqlite backend alive in this process (a key -> a weak reference to it), for the
# fork hooks (backends/sqlite): before a fork they wait for each one's transaction
# boundary and close its connection. Not cleared by reset(): the backends are alive.
sqlite_writers: dict[int, Any] = {}
# Between the fork hooks: the writers' locks held across the fork, and the store files
# (real paths) whose writer did not reach a boundary in time (read by the child).
fork_held: list[Any] = []
fork_unsafe: set[str] = set()


def renew_locks() -> None:
    """In a forked child: fresh locks (the parent may have held one while forking)."""
    global lock, guard_lock, adapters_lock, propagation_lock
    lock = threading.RLock()
    guard_lock = threading.Lock()
    adapters_lock = threading.RLock()
    propagation_lock = threading.Lock()


def reset() -> None:
    """Put every value back as if tracekit had just been imported.

    Kept: the atexit and fork hooks (the interpreter keeps them registered),
    the guard's strict flag (the test harness sets it) and the connections a
    forked child inherited.
    """
    runtime.__init__()  # type: ignore[misc]
    open_spans.clear()
    hooks = config.hooks_registered
    config.__init__()  # type: ignore[misc]
    config.hooks_registered = hooks  # the interpreter keeps them registered
    set_enabled(None)
    with guard_lock:
        strict = guard.strict
        guard.__init__()  # type: ignore[misc]
        guard.strict = strict  # the test harness's choice (the pytest plugin sets it)
    propagating = context.propagating
    context.__init__()  # type: ignore[misc]
    context.propagating = propagating  # _config uninstalls it first; this only reflects it
    with adapters_lock:
        adapters.__init__()  # type: ignore[misc]
    store_files.clear()
