"""The internal-error guard: tracekit's own failures never reach user code.

Every place where tracekit code runs inside a traced call catches its own
exceptions and hands them here. The guard counts the failure, logs it once per
reason through the ``tracekit`` logger (never with payloads), and lets the call
go on without a span. Under the pytest plugin ``strict`` is on, so the same
failure raises and a bug cannot hide behind the guard in tests.
"""

from __future__ import annotations

import logging

from tracekit import _state

logger = logging.getLogger("tracekit")
logger.addHandler(logging.NullHandler())

# The counters and the strict flag are process-wide state: _state.guard.


def set_strict(value: bool) -> None:
    """Make internal errors raise (tests) or only log and count (production)."""
    _state.guard.strict = value


def is_strict() -> bool:
    """Return whether internal errors are re-raised."""
    return _state.guard.strict


def count() -> int:
    """How many internal errors were recorded since the last reset."""
    return _state.guard.internal_errors


def log_once(reason: str, message: str, *args: object) -> None:
    """Log ``message`` at WARNING the first time ``reason`` is seen."""
    with _state.guard_lock:
        logged = _state.guard.logged
        if reason in logged:
            return
        logged.add(reason)
    logger.warning(message, *args)


def internal_error(exc: BaseException, where: str, *, reraise: bool = True) -> None:
    """Record an internal failure of tracekit itself; re-raise when strict.

    Args:
        exc: the exception our own code raised.
        where: a short stable name of the place, used as the log-once key.
        reraise: whether strict mode may re-raise here; False on the exporter
            thread, where raising would only kill the worker (tests check the
            ``internal_errors`` count instead).
    """
    guard = _state.guard
    with _state.guard_lock:
        guard.internal_errors += 1
    log_once(
        f"internal:{where}:{type(exc).__name__}",
        "tracekit internal error in %s (%s); tracing continues without it",
        where,
        type(exc).__name__,
    )
    if guard.strict and reraise:
        raise exc


def reset() -> None:
    """Forget what was logged and counted (the strict flag stays as it is)."""
    guard = _state.guard
    with _state.guard_lock:
        guard.logged.clear()
        guard.internal_errors = 0
