"""init / flush / shutdown / stats: the only module with global state.

Everything tracekit holds between calls lives here (the active pipeline, the
options, whether tracing is on) or is swapped from here (``_span.runtime``,
which the hot path reads). ``_reset()`` puts it all back as if tracekit had
just been imported; the pytest plugin calls it between tests.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tracekit import _context, _guard, _span
from tracekit._processors import MIN_SECRET_LEN
from tracekit._serialize import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from tracekit._pipeline import Pipeline
    from tracekit._processors import Processor
    from tracekit.backends import Backend

DEFAULT_BACKEND = "sqlite:///.tracekit/traces.db"
DEFAULT_FLUSH_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class Options:
    """The resolved configuration of one pipeline (see ``init`` for meanings)."""

    project: str = "default"
    sample_rate: float = 1.0
    capture_inputs: bool = True
    capture_outputs: bool = True
    redact: bool = True
    processors: tuple[Processor, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    queue_max_spans: int = 2048
    queue_max_bytes: int = 64 << 20
    batch_size: int = 512
    export_interval: float | None = None  # None: 1 s, or the backends' own (5 s remote)
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    export_timeout: float = 10.0
    max_open_spans: int = 10_000
    max_span_age_s: float = 3600.0
    propagate_threads: bool = True
    flush_on_root_end: bool = False


_lock = threading.RLock()
_enabled: bool | None = None  # None: not decided yet (before init, env not read)


class _Switch(list):  # type: ignore[type-arg]
    """The decorators' ``enabled`` hook: non-empty while tracing is on.

    wrapt tests a non-callable ``enabled`` by its truth value, in C; a list's
    truth value is its length, so checking costs no Python call on each
    traced call (a callable hook would). See ``_Undecided`` for the first use.
    """

    __slots__ = ()


class _Undecided(_Switch):
    """Before ``init()``: the first truth test reads the environment once."""

    __slots__ = ()

    def __len__(self) -> int:
        return 1 if _init_from_env() else 0


ENABLED: _Switch = _Undecided()


def _set_enabled(value: bool | None) -> None:
    """Record whether tracing is on; None means "read the environment on first use"."""
    global _enabled
    _enabled = value
    ENABLED.clear()
    if value:
        ENABLED.append(1)
    ENABLED.__class__ = _Undecided if value is None else _Switch


_pipeline: Pipeline | None = None
_options = Options()
_atexit_registered = False


def is_enabled() -> bool:
    """Whether decorators record spans now (the truth value of ``ENABLED``)."""
    return bool(ENABLED)


def _init_from_env() -> bool:
    """First use before ``init()``: only ``TRACEKIT_BACKEND`` turns tracing on."""
    with _lock:
        if _enabled is not None:
            return _enabled
        if os.environ.get("TRACEKIT_BACKEND") and not _env_disabled():
            try:
                init()
            except Exception as exc:
                _guard.log_once(
                    "env-init", "tracekit: TRACEKIT_BACKEND is invalid (%s); tracing off", exc
                )
                _set_enabled(False)
        else:
            _set_enabled(False)
        return bool(_enabled)


def _env_disabled() -> bool:
    return os.environ.get("TRACEKIT_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")


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
    queue_max_spans: int = 2048,
    queue_max_bytes: int = 64 << 20,
    batch_size: int = 512,
    export_interval: float | None = None,
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
    export_timeout: float = 10.0,
    max_open_spans: int = 10_000,
    max_span_age_s: float = 3600.0,
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
        queue_max_spans: spans waiting for export before new ones are dropped.
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

    Raises:
        ValueError: on a bad backend URL or option, before anything changes.
    """
    global _pipeline, _options
    from tracekit import backends as _backends
    from tracekit._pipeline import Pipeline

    with _lock:
        is_on = (not _env_disabled()) if enabled is None else bool(enabled)
        rate = sample_rate if sample_rate is not None else _env_sample_rate()
        rate = 1.0 if rate is None else float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, got {rate!r}")
        for label, value in (
            ("max_string_chars", max_string_chars),
            ("max_depth", max_depth),
            ("max_items", max_items),
            ("max_record_bytes", max_record_bytes),
            ("queue_max_spans", queue_max_spans),
            ("queue_max_bytes", queue_max_bytes),
            ("batch_size", batch_size),
            ("max_open_spans", max_open_spans),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        for label, seconds in (
            ("export_interval", 1.0 if export_interval is None else export_interval),
            ("flush_timeout", flush_timeout),
            ("export_timeout", export_timeout),
            ("max_span_age_s", max_span_age_s),
        ):
            if (
                not isinstance(seconds, (int, float))
                or isinstance(seconds, bool)
                or not (0 < seconds < float("inf") or (label == "max_span_age_s" and seconds == 0))
            ):
                kind = "zero or a positive" if label == "max_span_age_s" else "a positive"
                raise ValueError(f"{label} must be {kind} number of seconds, got {seconds!r}")
        processors: tuple[Processor, ...] = ()
        if callable(redact):
            processors = (redact,)
        options = Options(
            project=project or os.environ.get("TRACEKIT_PROJECT") or "default",
            sample_rate=rate,
            capture_inputs=capture_inputs,
            capture_outputs=capture_outputs,
            redact=bool(redact),
            processors=processors,
            limits=Limits(max_string_chars, max_depth, max_items, max_record_bytes),
            queue_max_spans=queue_max_spans,
            queue_max_bytes=queue_max_bytes,
            batch_size=batch_size,
            export_interval=export_interval,
            propagate_threads=propagate_threads,
            flush_on_root_end=flush_on_root_end,
            flush_timeout=float(flush_timeout),
            export_timeout=float(export_timeout),
            max_open_spans=max_open_spans,
            max_span_age_s=float(max_span_age_s),
        )
        # Resolve backends first: a bad URL fails here, before the old pipeline goes.
        new_backends = (
            _backends.resolve(
                backend
                if backend is not None
                else os.environ.get("TRACEKIT_BACKEND") or DEFAULT_BACKEND
            )
            if is_on
            else []
        )
        _shutdown_locked(_options.flush_timeout)
        _options = options
        if not is_on:
            _set_enabled(False)
            _context.uninstall_thread_propagation()
            return
        _pipeline = pipeline = Pipeline(new_backends, options)
        rt = _span.runtime
        rt.capture_inputs = capture_inputs
        rt.capture_outputs = capture_outputs
        rt.sample_rate = rate
        rt.limits = options.limits
        # Clean payloads skip the exporter's cuts: only when no cut could apply
        # to them (item lists sit at depth 2; short strings are under 15 chars).
        limits = options.limits
        could_cut = limits.max_string_chars < MIN_SECRET_LEN or limits.max_depth < 2
        rt.clean_items = -1 if could_cut else limits.max_items
        rt.flush_root = _flush_root if flush_on_root_end else None
        rt.sink = pipeline.submit
        if propagate_threads:
            _context.install_thread_propagation()
        else:
            _context.uninstall_thread_propagation()
        _register_process_hooks()
        _set_enabled(True)
    if integrations:
        _autopatch(integrations)


def _autopatch(integrations: bool | Iterable[str]) -> None:
    """``init(integrations=True | [names])``: patch now, or when the library is imported."""
    from tracekit import integrations as _integrations

    names = None if integrations is True else list(integrations)  # type: ignore[arg-type]
    _integrations.autopatch(names)


def _flush_root() -> None:
    pipeline = _pipeline
    if pipeline is not None:
        pipeline.flush(_options.flush_timeout)


def flush(timeout: float | None = None) -> bool:
    """Export every span finished so far; wait at most ``timeout`` seconds (default 5).

    Returns:
        True when everything was exported; False on timeout or when a backend
        failed meanwhile (counted in ``stats()``). Never raises.
    """
    pipeline = _pipeline
    if pipeline is None:
        return True
    try:
        return pipeline.flush(_options.flush_timeout if timeout is None else max(0.0, timeout))
    except Exception as exc:
        _guard.internal_error(exc, "config.flush", reraise=False)
        return False


def shutdown(timeout: float | None = None) -> bool:
    """Flush, close the backends and stop tracing until the next ``init()``.

    Spans that end after this are dropped and counted (``after_shutdown``).

    Returns:
        True if everything was exported within ``timeout`` (default 5 s).
    """
    with _lock:
        ok = _shutdown_locked(_options.flush_timeout if timeout is None else timeout)
        if _enabled:
            _set_enabled(False)
        return ok


def _shutdown_locked(timeout: float) -> bool:
    global _pipeline
    pipeline = _pipeline
    if pipeline is None:
        return True
    _pipeline = None
    try:
        ok = pipeline.shutdown(timeout)
    except Exception as exc:
        _guard.internal_error(exc, "config.shutdown", reraise=False)
        ok = False
    # Keep counting what arrives late: spans still open now end into the closed pipeline.
    _span.runtime.sink = pipeline.submit
    _span.runtime.flush_root = None
    _closed_pipelines.append(pipeline)
    del _closed_pipelines[:-1]
    return ok


_closed_pipelines: list[Pipeline] = []


def stats() -> dict[str, Any]:
    """Counters of the current pipeline (or the last one, after ``shutdown()``).

    Keys: created, exported, pending, open_spans, worker_restarts,
    dropped.{queue_full, backend_error, timeout, storage_full, oversize,
    after_shutdown, abandoned, filtered, processor_error, rejected, unreachable,
    unavailable, spool_full} (and any reason a backend names), internal_errors,
    enabled, pid, and the published defaults in force under ``config``.
    """
    pipeline = _pipeline or (_closed_pipelines[-1] if _closed_pipelines else None)
    if pipeline is not None:
        result = pipeline.stats()
    else:
        from tracekit._pipeline import DROP_REASONS

        result = {
            "created": 0,
            "exported": 0,
            "pending": 0,
            "open_spans": len(_span.open_spans),
            "worker_restarts": 0,
            "dropped": dict.fromkeys(DROP_REASONS, 0),
            "pid": os.getpid(),
        }
    opts = _options
    result["internal_errors"] = _guard.internal_errors
    result["enabled"] = bool(_enabled)
    result["config"] = {
        "project": opts.project,
        "sample_rate": opts.sample_rate,
        "queue_max_spans": opts.queue_max_spans,
        "queue_max_bytes": opts.queue_max_bytes,
        "batch_size": opts.batch_size,
        "export_interval": pipeline.interval if pipeline is not None else opts.export_interval,
        "flush_timeout": opts.flush_timeout,
        "export_timeout": opts.export_timeout,
        "max_string_chars": opts.limits.max_string_chars,
        "max_record_bytes": opts.limits.max_record_bytes,
        "max_depth": opts.limits.max_depth,
        "max_items": opts.limits.max_items,
        "max_open_spans": opts.max_open_spans,
        "max_span_age_s": opts.max_span_age_s,
    }
    return result


# -- process hooks -------------------------------------------------------------------


def _at_exit() -> None:
    """Flush pending spans at interpreter exit, bounded by the flush timeout."""
    shutdown()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # the parent may have held it while forking
    for span in list(_span.open_spans.values()):
        span._flags |= _span.FORKED  # the parent exports these, never the child
    _span.open_spans.clear()
    if _pipeline is not None:
        _pipeline.after_fork_in_child()


def _register_process_hooks() -> None:
    global _atexit_registered
    if _atexit_registered:
        return
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _atexit_registered = True


def _reset() -> None:
    """Forget all configuration, as if tracekit had just been imported (tests)."""
    global _pipeline, _options
    with _lock:
        _shutdown_locked(1.0)
        _closed_pipelines.clear()
        _set_enabled(None)
        _pipeline = None
        _options = Options()
        _span.runtime.__init__()  # type: ignore[misc]
        _span.open_spans.clear()
        _context.uninstall_thread_propagation()
        adapters = sys.modules.get("tracekit.integrations")
        if adapters is not None:  # a test's patches must not leak into the next test
            adapters.unpatch()
        _context.CURRENT.set(None)  # in the caller's context (the test's)
        _guard.reset()
