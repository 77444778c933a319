"""The internal-error guard: tracekit's own failures never reach user code.

Every place where tracekit code runs inside a traced call catches its own
exceptions and hands them here. The guard counts the failure, logs it once per
reason through the ``tracekit`` logger (never with payloads), and lets the call
go on without a span. Under the pytest plugin ``strict`` is on, so the same
failure raises and a bug cannot hide behind the guard in tests.

Dropped spans are said once per reason with :func:`drop_notice`: a WARNING
through the logger, and the same line on stderr unless a handler of the
application's logging already writes it there (D102), so a person sees it
once whether or not logging is configured.
"""

from __future__ import annotations

import logging
import os
import sys

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


def drop_notice(reason: str, count: int, why: str, *, to_stderr: bool = True) -> bool:
    """Say the first drop of ``reason``: one line, logged, and on stderr (D102).

    Args:
        reason: the ``stats()["dropped"]`` key.
        count: the spans of this first drop.
        why: what happened, without traced data.
        to_stderr: False when ``init(drop_notice=False)`` or ``TRACEKIT_DROP_NOTICE=0``.

    Returns:
        True if this was the first drop of ``reason`` (the line was said now).
    """
    key = f"drop:{reason}"
    with _state.guard_lock:
        logged = _state.guard.logged
        if key in logged:
            return False
        logged.add(key)
    what = DROP_VERBS.get(reason, "dropped")
    line = (
        f"tracekit: {count:,} span{'' if count == 1 else 's'} {what} ({reason}): "
        f"{one_line(why)}; see tracekit.stats()"
    )
    try:
        shown = _stderr_shows(logger)
        logger.warning("%s", line)
    except Exception:  # a broken handler of the application's: still say it on stderr
        shown = False
    if to_stderr and not shown:
        write_stderr(line)
    return True


# Reasons that count spans which were kept, changed: said as what happened to them.
DROP_VERBS = {"oversize": "cut", "abandoned": "exported as abandoned"}


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters (for a notice)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _stderr_shows(log: logging.Logger) -> bool:
    """Whether a WARNING of ``log`` reaches a handler that writes to stderr.

    Walks the handlers as ``Logger.callHandlers`` does (levels and ``propagate``;
    filters are not run). tracekit's own NullHandler means Python's last-resort
    handler never prints for it.
    """
    if not log.isEnabledFor(logging.WARNING):
        return False
    streams = {id(s) for s in (sys.stderr, sys.__stderr__) if s is not None}
    current: logging.Logger | None = log
    while current is not None:
        for handler in current.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and handler.level <= logging.WARNING
                and id(getattr(handler, "stream", None)) in streams
            ):
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def write_stderr(line: str) -> bool:
    """Write one line to stderr; never raises, never blocks.

    With a real file descriptor the line goes to it in one ``os.write`` (a
    line under PIPE_BUF is written whole or not at all), only when ``select``
    says it can be written now: a full pipe nobody reads is skipped rather
    than waited on, and a closed or broken stderr leaves nothing in Python's
    buffer to fail again at exit. A stream without a descriptor (a test
    harness's capture) gets ``write``.

    Returns:
        True if the line was written.
    """
    stream = sys.stderr
    if stream is None:
        return False
    data = line + "\n"
    try:
        try:
            fd = stream.fileno()
        except Exception:
            fd = -1
        if fd < 0:
            stream.write(data)
            stream.flush()
            return True
        if not _writable_now(fd):
            return False
        encoding = getattr(stream, "encoding", None) or "utf-8"
        os.write(fd, data.encode(encoding, "backslashreplace"))
        return True
    except Exception:  # closed, broken pipe, non-blocking and full: say nothing
        return False


def _writable_now(fd: int) -> bool:
    try:
        import select

        return bool(select.select([], [fd], [], 0)[1])
    except (ImportError, OSError, ValueError):  # Windows pipes: select takes sockets only
        return os.name == "nt"


def mark_logged(reason: str) -> None:
    """Count ``reason`` as logged (a drop notice said it already)."""
    with _state.guard_lock:
        _state.guard.logged.add(reason)


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
