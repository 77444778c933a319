"""What the OTLP endpoint answered: the drop reason, Retry-After, and quiet logs.

The official exporter only returns SUCCESS or FAILURE. The otlp backend
gives it a ``requests.Session`` (a public constructor argument) that
remembers the last response or exception of each request; :func:`reason`
turns that into the reason a batch is counted under, with the
``Retry-After`` delay when the endpoint sent one. The exporter also logs
every failure at ERROR level; :func:`mute_exporter_logs` silences those
lines for tracekit's own calls, which are counted and logged once instead.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_RETRYABLE = frozenset({429, 502, 503, 504})
_MUTED = threading.local()  # set while tracekit's calls run: the exporter's own logs are muted


class _MuteOwnCalls(logging.Filter):
    """Drops the exporter's per-failure log lines made for tracekit (it logs once itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_MUTED, "on", False)


_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
)


def install_log_filter() -> None:
    """Attach the filter to the exporter's loggers (once)."""
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MuteOwnCalls) for f in logger.filters):
            logger.addFilter(_MuteOwnCalls())


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def observing_session() -> Any:
    """A ``requests.Session`` that remembers the last response or error of each request.

    The exporter only says SUCCESS or FAILURE; the session it is given (a
    public argument) tells us why, so drops are counted by reason.
    """
    import requests

    class ObservingSession(requests.Session):
        last: Any = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            try:
                response = super().request(*args, **kwargs)
            except Exception as exc:
                self.last = exc
                raise
            self.last = response
            return response

    return ObservingSession()


def reason(observed: Any) -> tuple[str, float | None]:
    """(drop reason, Retry-After seconds) from the last thing the session saw."""
    if observed is None:
        return "backend_error", None  # never sent: encoding failed or too large
    status = getattr(observed, "status_code", None)
    if status is None:
        import requests

        if isinstance(observed, requests.exceptions.ConnectTimeout):
            return "unreachable", None
        if isinstance(observed, requests.exceptions.Timeout):
            return "timeout", None
        if isinstance(observed, requests.exceptions.ConnectionError):
            return "unreachable", None
        return "backend_error", None
    if status in _RETRYABLE:
        return "unavailable", retry_after(observed.headers.get("retry-after"))
    return "rejected", None


def describe(observed: Any) -> str:
    """What happened, for the log line: the status or error and the URL, no credentials."""
    if observed is None:
        return "no request made (the batch could not be encoded)"
    status = getattr(observed, "status_code", None)
    if status is not None:
        what = f"HTTP {status} {getattr(observed, 'reason', '') or ''}".rstrip()
        url = getattr(observed, "url", None)
    else:
        what = type(observed).__name__
        url = getattr(getattr(observed, "request", None), "url", None)
    safe = safe_url(url) if isinstance(url, str) else ""
    return f"{what} from {safe}" if safe else what


def safe_url(url: str) -> str:
    """``url`` without user:password, query or fragment (where secrets could hide)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextmanager
def mute_exporter_logs() -> Iterator[None]:
    """While inside, the exporter's log lines made on this thread are dropped."""
    _MUTED.on = True
    try:
        yield
    finally:
        _MUTED.on = False
