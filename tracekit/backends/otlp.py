"""The otlp backend: span records -> OpenTelemetry spans over OTLP/HTTP.

Built on the official exporter (``opentelemetry-exporter-otlp-proto-http``,
extra ``tracekit-llm[otlp]``): each record becomes an SDK ``ReadableSpan``
with the record's own trace and span ids, parent, times, status, the error as
an ``exception`` event, and the attributes of :mod:`._semconv` (GenAI
conventions + OpenInference); ``OTLPSpanExporter.export`` encodes and sends
them, retrying 429/502/503/504 and connection errors with backoff, honouring
``Retry-After``, all within the deadline it is given.

Resilience (docs/backends/otlp.md): one ``export`` call never takes longer
than ``timeout`` seconds (8 by default, under the pipeline's 10 s export
timeout). A batch that still fails is counted by reason
(``BatchDropped``: ``rejected``, ``unreachable``, ``unavailable``,
``timeout``), or, with the spool on, written to disk and sent once the
receiver answers again. A ``Retry-After`` longer than the budget holds the
backend back until it passes instead of knocking again.

OpenTelemetry is imported when the backend is built, never by ``import tracekit``.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tracekit import _guard
from tracekit._record import UNENCODABLE, encodable, ownership, placeholder
from tracekit._serialize import safe_str
from tracekit.backends import _otlp_outcome as _outcome
from tracekit.backends import _semconv
from tracekit.backends._errors import BatchDropped
from tracekit.backends._spool import DEFAULT_DIR, DEFAULT_MAX_MB, Spool
from tracekit.backends._url import parse_options

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

DEFAULT_TIMEOUT = 8.0  # seconds per export call, retries included; under export_timeout (10 s)
DEFAULT_MAX_ATTR_CHARS = 100_000  # tracekit's own string cap
DEFAULT_MAX_REQUEST_BYTES = 4 << 20  # well under collectors' default body limits (20 MiB)
MAX_RETRY_AFTER = 900.0  # a longer Retry-After is capped: the backend tries again after this

_OPTIONS = frozenset({"timeout", "spool", "spool_max_mb", "max_attr_chars"})


class SpoolNotEmpty(Exception):
    """``flush()`` could not send everything in the spool yet (nothing is lost)."""


def _env_float(*names: str) -> float | None:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
    return None


class OtlpBackend:
    """Sends span records to an OTLP/HTTP endpoint (a Collector, Phoenix, Langfuse...).

    Args:
        endpoint: the traces URL (``http://host:4318/v1/traces``); None reads
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
            (default ``http://localhost:4318``), as the exporter does.
        timeout: seconds one export may take, retries included. Default:
            ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` / ``OTEL_EXPORTER_OTLP_TIMEOUT``
            capped at 8, else 8.
        spool: a directory for batches that could not be sent; None reads
            ``TRACEKIT_OTLP_SPOOL`` (off when unset).
        spool_max_mb: the spool's size bound (``TRACEKIT_OTLP_SPOOL_MAX_MB``, else 64).
        max_attr_chars: the cap of one attribute string (else
            ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``,
            else 100,000).
        max_request_bytes: batches are split into requests of about this size.

    Headers (``OTEL_EXPORTER_OTLP_HEADERS``), compression and certificates
    come from the standard ``OTEL_EXPORTER_OTLP_*`` variables, read by the exporter.

    Raises:
        ImportError: the ``otlp`` extra is not installed.
    """

    remote = True
    export_interval = 5.0
    # The pipeline's bound on one call, set by its runner (init(export_timeout=...)).
    export_timeout = 10.0

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout: float | None = None,
        spool: str | os.PathLike[str] | None = None,
        spool_max_mb: float | None = None,
        max_attr_chars: int | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        except ImportError as exc:
            raise ImportError(
                "the otlp backend needs the otlp extra: pip install 'tracekit-llm[otlp]'"
            ) from exc
        self._exporter_class = OTLPSpanExporter
        self.endpoint = endpoint
        if timeout is None:
            env = _env_float("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
            timeout = DEFAULT_TIMEOUT if env is None else min(env, DEFAULT_TIMEOUT)
        if not timeout > 0:
            raise ValueError(
                f"the otlp timeout must be a positive number of seconds, not {timeout}"
            )
        self.timeout = float(timeout)
        if max_attr_chars is None:
            limit = _env_float(
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
            )
            max_attr_chars = DEFAULT_MAX_ATTR_CHARS if limit is None else int(limit)
        if max_attr_chars < 1:
            raise ValueError(f"max_attr_chars must be positive, not {max_attr_chars}")
        self.max_attr_chars = max_attr_chars
        self.max_request_bytes = max_request_bytes
        if spool is None:
            spool = _spool_from_env()
        if spool_max_mb is None:
            spool_max_mb = _env_float("TRACEKIT_OTLP_SPOOL_MAX_MB") or DEFAULT_MAX_MB
        self.spool = Spool(spool, int(spool_max_mb * (1 << 20))) if spool else None
        self.sent = 0  # spans the receiver accepted (spooled ones included, once sent)
        self.dropped_later: dict[str, int] = {}  # spooled spans refused later (pipeline stats)
        # Span ids with usage below them seen in earlier batches (bounded): a parent that
        # arrives after its child owns no tokens (DESIGN: one owner per logical call).
        self._usage_below: OrderedDict[str, None] = OrderedDict()
        self._hold_until = 0.0  # monotonic time before which a Retry-After asks us to wait
        self._last_detail = ""  # what the last failed request got, for the log line
        self._session = _outcome.observing_session()
        # Built now, on the thread calling init(): Resource.create runs its detectors
        # in a thread pool, which refuses work once the interpreter is shutting
        # down, so a first export at exit could not build it any more.
        self._base_resource = Resource.create({})
        self._resources: dict[str, Resource] = {}
        self._scope = InstrumentationScope("tracekit", _version())
        _outcome.install_log_filter()

    # -- record -> span ----------------------------------------------------------------

    def _resource(self, project: str) -> Resource:
        resource = self._resources.get(project)
        if resource is None:
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource

            # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; the project fills the default
            resource = self._base_resource
            if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
                resource = resource.merge(Resource({SERVICE_NAME: project}))
            self._resources[project] = resource
        return resource

    def to_span(self, record: Mapping[str, Any]) -> ReadableSpan:
        """The OpenTelemetry span for one finished span record."""
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        limit = self.max_attr_chars
        trace_id = int(record["trace_id"], 16)
        flags = TraceFlags(TraceFlags.SAMPLED)
        context = SpanContext(trace_id, int(record["span_id"], 16), False, flags)
        parent_id = record.get("parent_id")
        parent = SpanContext(trace_id, int(parent_id, 16), False, flags) if parent_id else None
        start = int(record["start_ns"])
        end = int(record.get("end_ns") or start)
        events = [
            Event(
                safe_str(event.get("name", "event")),
                _semconv.event_attributes(event.get("attributes"), limit),
                int(event.get("time_ns") or start),
            )
            for event in record.get("events") or ()
            if isinstance(event, dict)
        ]
        error = record.get("error")
        if record.get("status") == "ERROR":
            error = error if isinstance(error, dict) else {}
            events.append(Event("exception", _semconv.exception_attributes(error, limit), end))
            kind, text = safe_str(error.get("type", "Error")), safe_str(error.get("message", ""))
            message = f"{kind}: {text}"
            status = Status(StatusCode.ERROR, message[:1024])
        else:
            status = Status(StatusCode.OK)
        return ReadableSpan(
            name=safe_str(record.get("name") or "span"),
            context=context,
            parent=parent,
            resource=self._resource(safe_str(record.get("project") or "default")),
            attributes=_semconv.span_attributes(record, limit),
            events=events,
            kind=SpanKind.CLIENT if _semconv.is_client_call(record) else SpanKind.INTERNAL,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )

    def _owners_only(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch with usage kept only on the spans that own it (``_record.ownership``).

        A wrapper's LLM span (LangChain's ``ChatOpenAI``) over the client's request
        reports the same tokens; a collector that sums them (Phoenix) would count the
        call twice. Its record goes out without usage, marked
        ``tracekit.usage_counted_below``.
        """
        by_trace: dict[Any, list[dict[str, Any]]] = {}
        for record in records:
            by_trace.setdefault(record.get("trace_id"), []).append(record)
        below: set[str] = set()
        memory = self._usage_below
        for group in by_trace.values():
            own = ownership(group, memory)
            below |= own.below
            for span_id in own.reaches | own.below:
                memory[span_id] = None
                memory.move_to_end(span_id)
        while len(memory) > 100_000:
            memory.popitem(last=False)
        if not below:
            return list(records)
        out = []
        for record in records:
            if record.get("usage") and record.get("span_id") in below:
                attributes = {**(record.get("attributes") or {})}
                attributes["tracekit.usage_counted_below"] = True
                out.append({**record, "usage": None, "attributes": attributes})
            else:
                out.append(record)
        return out

    def _mapped(self, record: dict[str, Any]) -> tuple[dict[str, Any], ReadableSpan | None, bool]:
        """A record's span; a record that cannot be mapped is repaired, else a placeholder.

        Returns the record sent, its span (None: not even a placeholder could
        be mapped) and whether it is a placeholder (counted as unencodable).
        """
        try:
            return record, self.to_span(record), False
        except Exception as exc:
            first = type(exc).__name__
            fixed, why = encodable(record, exc)
        try:
            span = self.to_span(fixed)
        except Exception as again:
            why = why or f"{first}, then {type(again).__name__}"
            fixed = placeholder(fixed, why)
            try:
                span = self.to_span(fixed)
            except Exception as last:
                _guard.internal_error(last, "otlp.to_span", reraise=False)
                return fixed, None, True
        if why is not None:
            _guard.log_once(
                "otlp:unencodable",
                "tracekit otlp: a span record could not be mapped (%s); sent as a placeholder",
                why,
            )
        return fixed, span, why is not None

    def _chunks(
        self, records: Sequence[dict[str, Any]]
    ) -> tuple[list[tuple[list[dict[str, Any]], list[ReadableSpan], int]], int]:
        """Records -> requests of about ``max_request_bytes`` at most, and the placeholders.

        Each request: its records, their spans, how many of them are
        placeholders. Also returns how many records were placeholders or not
        sent at all (both counted as unencodable).
        """
        chunks: list[tuple[list[dict[str, Any]], list[ReadableSpan], int]] = []
        size = 0
        unencodable = 0
        for original in records:
            record, span, is_placeholder = self._mapped(original)
            unencodable += is_placeholder
            if span is None:
                continue
            estimate = _semconv.estimated_size(dict(span.attributes or {}))
            if not chunks or size + estimate > self.max_request_bytes:
                chunks.append(([], [], 0))
                size = 0
            chunk_records, spans, placeholders = chunks[-1]
            chunk_records.append(record)
            spans.append(span)
            if is_placeholder:
                chunks[-1] = (chunk_records, spans, placeholders + 1)
            size += estimate
        return chunks, unencodable

    # -- sending -------------------------------------------------------------------------

    def _send(self, spans: Sequence[ReadableSpan], deadline: float) -> str | None:
        """One request (with the exporter's retries); None when sent, else the drop reason."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        now = time.monotonic()
        if now < self._hold_until:
            self._last_detail = "holding back: the receiver sent Retry-After"
            return "unavailable"
        remaining = deadline - now
        if remaining <= 0:
            self._last_detail = "no time left in this export's budget"
            return "timeout"
        exporter = self._exporter_class(
            endpoint=self.endpoint, timeout=remaining, session=self._session
        )
        self._session.last = None
        with _outcome.mute_exporter_logs():
            result = exporter.export(spans)
        if result == SpanExportResult.SUCCESS:
            return None
        reason, wait = _outcome.reason(self._session.last)
        self._last_detail = _outcome.describe(self._session.last)
        if wait is not None:
            self._hold_until = time.monotonic() + min(wait, MAX_RETRY_AFTER)
        return reason

    def _deadline(self) -> float:
        """When this call must be done: ``timeout``, and within the pipeline's export timeout.

        A budget past ``init(export_timeout=...)`` would let the pipeline give
        up on the call first, and then the batch could be neither spooled nor
        counted by its reason.
        """
        bound = self.export_timeout * 0.8
        return time.monotonic() + max(0.1, min(self.timeout, bound))

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Send a batch; keep what could not be sent in the spool (if on), count the rest.

        Raises:
            BatchDropped: some spans were neither sent nor spooled (with the reason).
        """
        deadline = self._deadline()
        chunks, unencodable = self._chunks(self._owners_only(records))
        lost: dict[str, int] = {}
        why: dict[str, str] = {}
        if unencodable:
            lost[UNENCODABLE] = unencodable
            why[UNENCODABLE] = "could not be converted to OTel spans: sent as placeholders"
        delivered = False
        for chunk_records, spans, placeholders in chunks:
            reason = self._send(spans, deadline)
            if reason is None:
                self.sent += len(spans)
                delivered = True
                continue
            detail = self._last_detail
            if reason != "rejected":
                reason = self._to_spool(chunk_records, reason)
                if reason == "spool_full":
                    detail = f"the spool {self.spool.directory if self.spool else ''} is full"
            if reason is not None and len(spans) > placeholders:  # placeholders: counted above
                lost[reason] = lost.get(reason, 0) + len(spans) - placeholders
                why.setdefault(reason, detail)
        if delivered:
            self._replay(deadline)
        if lost:
            reason = max(lost, key=lambda r: lost[r])
            detail = "; ".join(f"{n} {r} ({why[r]})" for r, n in lost.items())
            raise BatchDropped(reason, detail=f"not sent: {detail}", counts=lost)

    def _to_spool(self, records: list[dict[str, Any]], reason: str) -> str | None:
        """Spool a chunk that could not be sent; None when spooled, else the drop reason."""
        if self.spool is None:
            return reason
        try:
            if not self.spool.put(records):
                return "spool_full"
        except OSError as exc:
            _guard.log_once(
                "otlp:spool", "tracekit otlp spool %s unusable (%s)", self.spool.directory, exc
            )
            return reason
        return None

    def _replay(self, deadline: float) -> None:
        """Send spooled batches, oldest first, while the deadline allows."""
        if self.spool is None:
            return
        for path in self.spool.waiting():
            if time.monotonic() >= deadline:
                return
            claimed = self.spool.claim(path)
            if claimed is None:
                continue
            records = self.spool.load(claimed)
            if records is None:
                self.spool.done(claimed)
                _guard.log_once("otlp:spool-bad", "tracekit otlp spool: unreadable %s", path)
                continue
            chunks, unencodable = self._chunks(records)
            spans = [span for _, chunk_spans, _ in chunks for span in chunk_spans]
            reason = self._send(spans, deadline) if spans else None
            if reason is None or reason == "rejected":
                self.spool.done(claimed)
                if reason is None:
                    self.sent += len(spans)
                later = self.dropped_later
                if unencodable:
                    later[UNENCODABLE] = later.get(UNENCODABLE, 0) + unencodable
                refused = len(spans) - sum(placeholders for _, _, placeholders in chunks)
                if reason and refused:
                    later[reason] = later.get(reason, 0) + refused
                continue
            self.spool.release(claimed)
            return

    def flush(self) -> None:
        """Send what waits in the spool, if the receiver answers.

        Raises:
            SpoolNotEmpty: spans still wait in the spool (not lost: sent later), so
                ``tracekit.flush()`` returns False.
        """
        if self.spool is None:
            return
        self._replay(self._deadline())
        waiting = len(self.spool.waiting())
        if waiting:
            raise SpoolNotEmpty(f"{waiting} batch(es) wait in the spool {self.spool.directory}")

    def after_fork(self) -> None:
        """A forked child opens connections of its own (never the parent's sockets)."""
        self._session = _outcome.observing_session()
        self._hold_until = 0.0

    def shutdown(self) -> None:
        """Try the spool once more (what stays there is sent by the next process), then close."""
        try:
            if self.spool is not None:
                self._replay(self._deadline())
        finally:
            self._session.close()


def _spool_from_env() -> str | None:
    return _spool_option(os.environ.get("TRACEKIT_OTLP_SPOOL", ""))


def _spool_option(value: str) -> str | None:
    text = value.strip()
    if text.lower() in ("", "0", "off", "false", "no"):
        return None
    if text.lower() in ("1", "on", "true", "yes"):
        return DEFAULT_DIR
    return text


def _endpoint(url: str, transport: str, location: str) -> str | None:
    """The traces URL of ``otlp+<transport>://<location>``; None: the environment's.

    Raises:
        ValueError: a port that is not a number, or ``otlp+https://`` with no
            host where the environment names a plain-http endpoint (never a
            silent downgrade from TLS).
    """
    if not location.strip("/"):
        if transport == "http":
            return None  # OTEL_EXPORTER_OTLP_*_ENDPOINT, else http://localhost:4318
        configured = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        if not configured:
            return "https://localhost:4318/v1/traces"
        if not configured.strip().lower().startswith("https://"):
            raise ValueError(
                f"backend URL {url!r} asks for TLS, but the OTEL_EXPORTER_OTLP_* endpoint "
                f"is {_outcome.safe_url(configured)!r}: name the host in the URL"
            )
        return None
    base = f"{transport}://{location.rstrip('/')}"
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(
            f"backend URL {url!r}: the port must be a number (otlp+http://host:4318)"
        ) from None
    if not parts.hostname:
        raise ValueError(f"backend URL {url!r} has no host (otlp+http://host:4318)")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tracekit-llm")
    except Exception:
        return "unknown"


def from_url(url: str, scheme: str, rest: str) -> OtlpBackend:
    """``otlp+http://host:4318[/base/path][?options]`` -> :class:`OtlpBackend`.

    A path is the base of the OTLP API (``/v1/traces`` is appended unless it
    is there already); no host means the ``OTEL_EXPORTER_OTLP_*`` variables.
    Options: ``timeout``, ``spool`` (``on``, ``off`` or a directory),
    ``spool_max_mb``, ``max_attr_chars``.

    Raises:
        ValueError: an unknown or malformed option, a port that is not a
            number, no host, or ``otlp+https://`` over a plain-http endpoint.
    """
    location, _, query = rest.partition("?")
    options = parse_options(url, query, _OPTIONS)
    numbers: dict[str, float] = {}
    for key in ("timeout", "spool_max_mb", "max_attr_chars"):
        if key in options:
            try:
                numbers[key] = float(options[key])
            except ValueError:
                raise ValueError(f"backend URL {url!r}: {key} must be a number") from None
            if not numbers[key] > 0:
                raise ValueError(f"backend URL {url!r}: {key} must be positive")
    endpoint = _endpoint(url, scheme.split("+", 1)[1], location)
    spool = _spool_option(options["spool"]) if "spool" in options else None
    if "spool" in options and spool is None:
        spool = ""  # explicitly off: the environment must not turn it on
    attr_chars = numbers.get("max_attr_chars")
    return OtlpBackend(
        endpoint,
        timeout=numbers.get("timeout"),
        spool=spool,
        spool_max_mb=numbers.get("spool_max_mb"),
        max_attr_chars=int(attr_chars) if attr_chars is not None else None,
    )
