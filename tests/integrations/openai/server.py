"""A local OpenAI-compatible HTTP server for the tests and the benchmark.

It listens on 127.0.0.1 (an ephemeral port) in a background thread and
answers from the canned bodies in ``payloads/``, choosing by the request path
and JSON body:

* ``.../chat/completions``: ``chat.json``; ``chat_tools.json`` when tools are
  given; ``chat_parse.json`` for a ``json_schema`` response format. With
  ``stream=True``: ``chat_stream.sse`` (``chat_stream_tools.sse`` with tools),
  whose final usage chunk is sent only when ``stream_options.include_usage``
  asks for it, as the real API does.
* ``.../responses``: ``responses.json`` (``responses_tools.json`` with tools,
  ``responses_parse.json`` for a ``json_schema`` text format), or the event
  stream ``responses_stream.sse``.
* ``.../embeddings``: ``embeddings.json`` (vectors base64-encoded when the
  request asks for ``encoding_format="base64"``).

Models select failures: ``error-400``/``-401``/``-429``/``-500`` answer with
that status and the body from ``errors.json``; ``stream-error`` streams one
chunk and then an error event. Every request is recorded (path, headers,
JSON body; header names lowercased) in :attr:`OpenAIServer.requests`, so a test can see exactly what
the client sent, the API key included.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent / "payloads"


class OpenAIServer:
    """Start with :meth:`start` (or ``with``); :attr:`url` is the client's ``base_url``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._bodies = {p.name: p.read_text(encoding="utf-8") for p in PAYLOADS.iterdir()}
        self._errors = json.loads(self._bodies["errors.json"])
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="openai-test-server", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL to give the client (``http://127.0.0.1:PORT/v1``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def endpoint(self) -> str:
        """The bare origin, for ``AzureOpenAI(azure_endpoint=...)``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- choosing the answer ----------------------------------------------------------

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
        """(status, content type, body) for one request."""
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            status = int(model.removeprefix("error-"))
            return status, "application/json", json.dumps(self._errors[str(status)])
        stream = body.get("stream") is True
        if path.endswith("/chat/completions"):
            if stream:
                name = "chat_stream_tools.sse" if body.get("tools") else "chat_stream.sse"
                usage = (body.get("stream_options") or {}).get("include_usage") is True
                return 200, "text/event-stream", self._chat_stream(name, usage, model)
            if body.get("tools"):
                return 200, "application/json", self._bodies["chat_tools.json"]
            if (body.get("response_format") or {}).get("type") == "json_schema":
                return 200, "application/json", self._bodies["chat_parse.json"]
            return 200, "application/json", self._bodies["chat.json"]
        if path.endswith("/responses"):
            if stream:
                return 200, "text/event-stream", self._bodies["responses_stream.sse"]
            if body.get("tools"):
                return 200, "application/json", self._bodies["responses_tools.json"]
            if ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
                return 200, "application/json", self._bodies["responses_parse.json"]
            return 200, "application/json", self._bodies["responses.json"]
        if path.endswith("/embeddings"):
            return 200, "application/json", self._embeddings(body.get("encoding_format"))
        return 404, "application/json", json.dumps(self._errors["404"])

    def _chat_stream(self, name: str, usage: bool, model: str) -> str:
        events = [e for e in self._bodies[name].split("\n\n") if e.strip()]
        if model == "stream-error":
            events = [*events[:2], "data: " + json.dumps(self._errors["stream"])]
        elif not usage:  # the final usage chunk: only when include_usage asks for it
            events = [e for e in events if '"choices": []' not in e]
        return "\n\n".join(events) + "\n\n"

    def _embeddings(self, encoding: Any) -> str:
        payload = json.loads(self._bodies["embeddings.json"])
        if encoding == "base64":
            for item in payload["data"]:
                floats = item["embedding"]
                packed = struct.pack(f"<{len(floats)}f", *floats)
                item["embedding"] = base64.b64encode(packed).decode("ascii")
        return json.dumps(payload)


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connection
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        self.owner.record(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": body,
            }
        )
        status, content_type, text = self.owner.answer(self.path.split("?")[0], body)
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_tracekit_test")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr per request
        pass


if __name__ == "__main__":  # handy by hand: python tests/integrations/openai/server.py
    with OpenAIServer() as server:
        print(server.url, flush=True)
        threading.Event().wait()
