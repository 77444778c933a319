"""The internal-error guard: tracekit's own failures never reach user code.

Every place where tracekit code runs inside a traced call catches its own
exceptions and hands them here. The guard counts the failure, logs it once per
reason through the ``tracekit`` logger (never with payloads), and lets the call
go on without a span. Under the pytest plugin ``strict`` is on, so the same
failure raises and a bug cannot hide behind the guard in tests.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("tracekit")
logger.addHandler(logging.NullHandler())

_strict = False
_logged: set[str] = set()
_lock = threading.Lock()
internal_errors = 0


def set_strict(value: bool) -> None:
    """Make internal errors raise (tests) or only log and count (production)."""
    global _strict
    _strict = value


def is_strict() -> bool:
    """Return whether internal errors are re-raised."""
    return _strict


def log_once(reason: str, message: str, *args: object) -> None:
    """Log ``message`` at WARNING the first time ``reason`` is seen."""
    with _lock:
        if reason in _logged:
            return
        _logged.add(reason)
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
    global internal_errors
    internal_errors += 1
    log_once(
        f"internal:{where}:{type(exc).__name__}",
        "tracekit internal error in %s (%s); tracing continues without it",
        where,
        type(exc).__name__,
    )
    if _strict and reraise:
        raise exc


def reset() -> None:
    """Forget what was logged and counted (test helper)."""
    global internal_errors
    with _lock:
        _logged.clear()
    internal_errors = 0
