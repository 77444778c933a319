"""init / flush / shutdown / stats: configuring and driving the pipeline.

The values these functions change live in :mod:`tracekit._state` (the one home
of process-wide state); the options and their validation in
:mod:`tracekit._options`. :func:`_reset` is the one reset for tests: it stops
the pipeline, the adapters' patches and thread propagation, then puts every
value of ``_state`` back as if tracekit had just been imported.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tracekit import _context, _guard, _registry, _state
from tracekit._options import (
    DEFAULT_BACKEND,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_QUEUE_MAX_SPANS,
    Options,
)
from tracekit._redact import MIN_BARE_SECRET_LEN
from tracekit._span import FORKED

if TYPE_CHECKING:
    from tracekit._pipeline import Pipeline
    from tracekit._processors import Processor
    from tracekit.backends import Backend

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_FLUSH_TIMEOUT",
    "flush",
    "init",
    "shutdown",
    "stats",
]


def _init_from_env() -> bool:
    """First use before ``init()``: only ``TRACEKIT_BACKEND`` turns tracing on."""
    with _state.lock:
        config = _state.config
        if config.enabled is not None:
            return config.enabled
        if os.environ.get("TRACEKIT_BACKEND") and not _env_disabled():
            try:
                init()
            except Exception as exc:
                _guard.log_once(
                    "env-init", "tracekit: TRACEKIT_BACKEND is invalid (%s); tracing off", exc
                )
                _state.set_enabled(False)
        else:
            _state.set_enabled(False)
        return bool(config.enabled)


_state.on_first_use = _init_from_env


_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def _env_disabled() -> bool:
    return os.environ.get("TRACEKIT_DISABLED", "").strip().lower() in _ON


def _env_sample_rate() -> float | None:
    raw = os.environ.get("TRACEKIT_SAMPLE_RATE")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"TRACEKIT_SAMPLE_RATE must be a number between 0 and 1, got {raw!r}"
        ) from None


def _env_drop_notice() -> bool:
    raw = os.environ.get("TRACEKIT_DROP_NOTICE", "").strip().lower()
    if not raw or raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ValueError(f"TRACEKIT_DROP_NOTICE must be 0 or 1, got {raw!r}")


def init(
    backend: str | Backend | Sequence[str | Backend] | None = None,
    *,
    project: str | None = None,
    enabled: bool | None = None,
    sample_rate: float | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    redact: bool | Callable[[dict[str, Any]], dict[str, Any] | None] = True,
    max_string_chars: int = 100_000,
    integrations: bool | Iterable[str] = False,
    propagate_threads: bool = True,
    flush_on_root_end: bool = False,
    max_depth: int = 20,
    max_items: int = 1_000,
    max_record_bytes: int = 1 << 20,
    queue_max_spans: int = DEFAULT_QUEUE_MAX_SPANS,
    queue_max_bytes: int = 64 << 20,
    batch_size: int = 512,
    export_interval: float | None = None,
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
    export_timeout: float = 10.0,
    max_open_spans: int = 10_000,
    max_span_age_s: float = 3600.0,
    drop_notice: bool | None = None,
    on_full: str = "drop",
) -> None:
    """Configure tracekit. Calling it again reconfigures (the old pipeline is flushed first).

    Args:
        backend: a URL (``"console"``, ``"memory"``, ``"jsonl:///spans.jsonl"``...),
            a backend object, or a list of them. Default: ``TRACEKIT_BACKEND``,
            else the embedded store ``sqlite:///.tracekit/traces.db``.
        project: the project recorded on every span (``TRACEKIT_PROJECT``, else "default").
        enabled: False turns tracing off (``TRACEKIT_DISABLED=1`` does too).
        sample_rate: the fraction of traces kept, decided at each root span
            (``TRACEKIT_SAMPLE_RATE``, else 1.0).
        capture_inputs: record function arguments.
        capture_outputs: record return values.
        redact: True redacts secrets (the default); False turns it off; a
            callable ``record -> record | None`` runs after the built-in redaction.
        max_string_chars: strings longer than this are cut, with a marker.
        integrations: True or a list of names to auto-patch (from the adapter API).
        propagate_threads: spans in threads and thread pools started inside a
            span nest under it.
        flush_on_root_end: export synchronously whenever a root span ends
            (serverless functions and short scripts).
        max_depth: nesting depth kept in traced values.
        max_items: items kept per list or dict.
        max_record_bytes: the size cap of one span record.
        queue_max_spans: spans waiting for export before new ones are dropped
            (100,000: a burst of that many small spans is absorbed).
        queue_max_bytes: bytes waiting for export before new spans are dropped.
        batch_size: spans per export batch.
        export_interval: seconds between exports (default 1 s, 5 s for remote backends).
        flush_timeout: the default bound of ``flush()`` and of the flush at exit.
        export_timeout: the bound of one call to a remote backend (``remote = True``:
            one batch, retries included); a call that overruns is counted as
            ``timeout`` and the backend skipped until it returns. Local backends
            are called directly on the exporter thread.
        max_open_spans: spans open at once before the oldest are exported as abandoned.
        max_span_age_s: age after which a still-open span is exported as abandoned.
        drop_notice: the first dropped span of each reason is also written to
            stderr, one line, even without logging configured; False turns that
            off (``TRACEKIT_DROP_NOTICE=0``, else on). The log line stays.
        on_full: what a traced call does when the queue is full: ``"drop"``
            (the default: never wait; the span is dropped and counted) or
            ``"wait"`` (batch jobs that prefer completeness: the call waits for
            room, at most ``flush_timeout`` seconds, then drops and counts).

    Raises:
        ValueError: on a bad backend URL or option, before anything changes.
    """
    # The pipeline and the backends load on the first init(): `import tracekit`
    # stays light for a library that only decorates its functions.
    from tracekit._pipeline import Pipeline
    from tracekit.backends import resolve
    from tracekit.backends._protocol import abilities_of

    with _state.lock:
        is_on = (not _env_disabled()) if enabled is None else bool(enabled)
        rate = sample_rate if sample_rate is not None else _env_sample_rate()
        processors: tuple[Processor, ...] = (redact,) if callable(redact) else ()
        options = Options(
            project=project or os.environ.get("TRACEKIT_PROJECT") or "default",
            sample_rate=1.0 if rate is None else float(rate),
            capture_inputs=capture_inputs,
            capture_outputs=capture_outputs,
            redact=bool(redact),
            processors=processors,
            propagate_threads=propagate_threads,
            flush_on_root_end=flush_on_root_end,
            max_string_chars=max_string_chars,
            max_depth=max_depth,
            max_items=max_items,
            max_record_bytes=max_record_bytes,
            queue_max_spans=queue_max_spans,
            queue_max_bytes=queue_max_bytes,
            batch_size=batch_size,
            export_interval=export_interval,
            flush_timeout=flush_timeout,
            export_timeout=export_timeout,
            max_open_spans=max_open_spans,
            max_span_age_s=max_span_age_s,
            drop_notice=_env_drop_notice() if drop_notice is None else drop_notice,
            on_full=on_full,
        )
        # Resolve backends and read their abilities first: a bad URL or backend
        # fails here, before the old pipeline goes.
        new_backends = (
            resolve(
                backend
                if backend is not None
                else os.environ.get("TRACEKIT_BACKEND") or DEFAULT_BACKEND
            )
            if is_on
            else []
        )
        try:
            abilities = [abilities_of(b) for b in new_backends]
        except ValueError:
            for built in new_backends:  # built for this call only: release them
                with contextlib.suppress(Exception):
                    built.shutdown()
            raise
        config = _state.config
        _shutdown_locked(config.options.flush_timeout)
        config.options = options
        if not is_on:
            _state.set_enabled(False)
            _context.uninstall_thread_propagation()
            return
        config.pipeline = pipeline = Pipeline(new_backends, options, abilities)
        _configure_runtime(options, pipeline)
        if propagate_threads:
            _context.install_thread_propagation()
        else:
            _context.uninstall_thread_propagation()
        _register_process_hooks()
        _state.set_enabled(True)
    if integrations:
        _registry.autopatch(None if integrations is True else list(integrations))


def _configure_runtime(options: Options, pipeline: Pipeline) -> None:
    """Write the hot path's settings for a new pipeline (in place: modules bind ``runtime``)."""
    rt = _state.runtime
    rt.capture_inputs = options.capture_inputs
    rt.capture_outputs = options.capture_outputs
    rt.sample_rate = options.sample_rate
    rt.limits = limits = options.limits
    # Clean payloads skip the exporter's cuts: only when no cut could apply
    # to them (item lists sit at depth 2; short strings are under 15 chars).
    could_cut = limits.max_string_chars < MIN_BARE_SECRET_LEN or limits.max_depth < 2
    rt.clean_items = -1 if could_cut else limits.max_items
    rt.flush_root = _flush_root if options.flush_on_root_end else None
    rt.sink = pipeline.submit


def _flush_root() -> None:
    pipeline = _state.config.pipeline
    if pipeline is not None:
        pipeline.flush(_state.config.options.flush_timeout)


def flush(timeout: float | None = None) -> bool:
    """Export every span finished so far; wait at most ``timeout`` seconds (default 5).

    Returns:
        True when everything was exported; False on timeout or when a backend
        failed meanwhile (counted in ``stats()``). Never raises.
    """
    config = _state.config
    pipeline: Pipeline | None = config.pipeline
    if pipeline is None:
        return True
    try:
        bound = config.options.flush_timeout if timeout is None else max(0.0, timeout)
        return pipeline.flush(bound)
    except Exception as exc:
        _guard.internal_error(exc, "config.flush", reraise=False)
        return False


def shutdown(timeout: float | None = None) -> bool:
    """Flush, close the backends and stop tracing until the next ``init()``.

    Spans that end after this are dropped and counted (``after_shutdown``).
    Returns within ``timeout`` (plus a few milliseconds) whatever a backend
    does: a call that has not returned by then is given up on, logged and
    counted (D100).

    Returns:
        True if everything was exported and closed within ``timeout`` (default 5 s).
    """
    bound = _state.config.options.flush_timeout if timeout is None else timeout
    return _shutdown_within(max(0.0, bound))


# At exit the whole shutdown ends within flush_timeout less this (at most a tenth of
# it), kept for the interpreter's own teardown: the process ends within the bound.
EXIT_RESERVE_S = 0.1


def _shutdown_within(bound: float) -> bool:
    deadline = time.monotonic() + bound
    lock = _state.lock
    # Another thread in init() or shutdown() holds the lock for at most its own
    # bound; waiting longer than ours would break ours.
    if not lock.acquire(timeout=bound):
        _guard.log_once(
            "shutdown:lock",
            "tracekit.shutdown() gave up after %g s: another thread is in init() or shutdown()",
            bound,
        )
        return False
    try:
        config = _state.config
        ok = _shutdown_locked(max(0.0, deadline - time.monotonic()))
        if config.enabled:
            _state.set_enabled(False)
        return ok
    finally:
        lock.release()


def _shutdown_locked(timeout: float) -> bool:
    config = _state.config
    pipeline: Pipeline | None = config.pipeline
    if pipeline is None:
        return True
    config.pipeline = None
    try:
        ok: bool = pipeline.shutdown(timeout)
    except Exception as exc:
        _guard.internal_error(exc, "config.shutdown", reraise=False)
        ok = False
    # Keep counting what arrives late: spans still open now end into the closed pipeline.
    _state.runtime.sink = pipeline.submit
    _state.runtime.flush_root = None
    config.closed = pipeline
    return ok


def stats() -> dict[str, Any]:
    """Counters of the current pipeline (or the last one, after ``shutdown()``).

    Keys: created, exported, pending, open_spans, worker_restarts,
    dropped.{queue_full, backend_error, timeout, storage_full, oversize,
    after_shutdown, abandoned, filtered, processor_error, rejected, unreachable,
    unavailable, spool_full} (and any reason a backend names), refused_traces
    (new traces refused whole at their root, D109), unmarked_losses (lost spans
    no backend could be told of), internal_errors
    (tracekit's and the adapters' own failures), foreign_resets (context tokens
    reset from another context, repaired), enabled, pid, and the published
    defaults in force under ``config``.
    """
    config = _state.config
    pipeline = config.pipeline or config.closed
    counts: dict[str, Any]
    if pipeline is not None:
        counts = pipeline.stats()
    else:
        from tracekit._pipeline import DROP_REASONS

        counts = {
            "created": 0,
            "exported": 0,
            "pending": 0,
            "open_spans": len(_state.open_spans),
            "worker_restarts": 0,
            "dropped": dict.fromkeys(DROP_REASONS, 0),
            "refused_traces": 0,
            "unmarked_losses": 0,
            "pid": os.getpid(),
        }
    reported = config.options.reported()
    if pipeline is not None:
        reported["export_interval"] = pipeline.interval
    counts["internal_errors"] = _state.guard.internal_errors
    counts["foreign_resets"] = _state.context.foreign_resets
    counts["enabled"] = bool(config.enabled)
    counts["config"] = reported
    return counts


# -- process hooks -------------------------------------------------------------------


def _at_exit() -> None:
    """Shut down at interpreter exit: the whole of it within the flush timeout (D100)."""
    bound = _state.config.options.flush_timeout
    _shutdown_within(max(0.0, bound - min(EXIT_RESERVE_S, bound / 10)))


def _after_fork_in_child() -> None:
    _state.renew_locks()
    open_spans = _state.open_spans
    for span in list(open_spans.values()):
        span._flags |= FORKED  # the parent exports these, never the child
    open_spans.clear()
    pipeline = _state.config.pipeline
    if pipeline is not None:
        pipeline.after_fork_in_child()


def _register_process_hooks() -> None:
    config = _state.config
    if config.hooks_registered:
        return
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    config.hooks_registered = True


def _reset() -> None:
    """Put tracekit back as if it had just been imported: the one reset (tests).

    Stops the pipeline (bounded: 1 s), removes every adapter's patches and
    forgets the registrations, removes thread propagation, clears the current
    span of the caller's context, then resets every value in ``_state``:
    options, runtime settings, open spans, guard and context counters, the
    store's per-path state.
    """
    with _state.lock:
        _shutdown_locked(1.0)
        _registry._reset()
        _context.uninstall_thread_propagation()
        _context.CURRENT.set(None)  # in the caller's context (the test's)
        _state.reset()


_state.shutdown = shutdown
