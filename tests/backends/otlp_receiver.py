"""An OTLP/HTTP receiver on 127.0.0.1 for the tests and the throughput benchmark.

It decodes each ``POST /v1/traces`` body with the official OpenTelemetry
protobuf definitions (``opentelemetry-proto``'s ``ExportTraceServiceRequest``)
and keeps the spans as plain dicts. Tests script its answers: a status with
headers for the next N requests (429 with ``Retry-After``, 503, 400), or a
gate (a ``threading.Event``) every request waits on before answering, to play
a receiver that is slower than the client's timeout.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


class OtlpReceiver:
    """``with OtlpReceiver() as r:`` ... ``r.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, port: int = 0, *, decode: bool = True) -> None:
        self.requests: list[dict[str, Any]] = []  # {"headers", "status", "spans"} per request
        self.bodies: list[bytes] = []  # each request's body as received, decompressed
        self.spans: list[dict[str, Any]] = []
        self.span_count = 0
        self.decode = decode
        self.gate: threading.Event | None = None
        self._plan: list[tuple[int, dict[str, str]]] = []
        self._cond = threading.Condition()
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (and headers), then 200 again."""
        with self._cond:
            self._plan.extend([(status, dict(headers or {}))] * times)

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The decoded spans, once at least ``count`` arrived (or the deadline passed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.span_count < count and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self.spans)

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {span["name"]: span for span in self.spans}

    def _next_answer(self) -> tuple[int, dict[str, str]]:
        with self._cond:
            return self._plan.pop(0) if self._plan else (200, {})

    def _received(self, headers: dict[str, str], status: int, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.bodies.append(body)
        spans = []
        count = 0
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    count += 1
                    if not self.decode:
                        continue
                    spans.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex() or None,
                            "name": span.name,
                            "kind": span.kind,
                            "start_ns": span.start_time_unix_nano,
                            "end_ns": span.end_time_unix_nano,
                            "status": {"code": span.status.code, "message": span.status.message},
                            "attributes": attributes(span.attributes),
                            "events": [
                                {
                                    "name": e.name,
                                    "time_ns": e.time_unix_nano,
                                    "attributes": attributes(e.attributes),
                                }
                                for e in span.events
                            ],
                            "resource": resource,
                            "scope": scope_spans.scope.name,
                        }
                    )
        with self._cond:
            self.requests.append({"headers": headers, "status": status, "spans": count})
            if status == 200:
                self.spans.extend(spans)
                self.span_count += count
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    owner: OtlpReceiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        owner = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        gate = owner.gate
        if gate is not None:
            gate.wait(30)  # released by the test (or at stop)
        status, headers = owner._next_answer()
        owner._received({k.lower(): v for k, v in self.headers.items()}, status, body)
        payload = ExportTraceServiceResponse().SerializeToString() if status == 200 else b"{}"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timed out) meanwhile

    def log_message(self, format: str, *args: Any) -> None:
        pass
