"""The web UI's Starlette application: the JSON API over ``tracekit.store`` and the page.

Endpoints (all JSON, documented in docs/ui.md):

- ``GET /api/info``: the store's path and tracekit's version;
- ``GET /api/traces``: a page of the trace table (``q``, ``status``,
  ``kind``, ``project``, ``since``, ``until``, ``sort``, ``limit``,
  ``cursor``), newest first;
- ``GET /api/projects``: the projects in the store;
- ``GET /api/traces/{id}``: one trace: its table row and a light form of
  each span record (what the tree and the timeline draw);
- ``GET /api/traces/{id}/spans/{span_id}``: one span's full record;
- ``GET /api/traces/{id}/architecture``: its components and graph;
- ``DELETE /api/traces/{id}``: delete it (same origin only, see ``_security``),
  refused with 409 while one of its spans is still running.

Each request opens the store, reads, and closes it: SQLite connections are
per thread, opening one costs well under a millisecond, and a reader that
never holds a transaction open never delays the writer's checkpoints. The
store is opened read-only (``tracekit.store.Store``); only a delete opens a
write connection, for that delete alone, so the UI serves a store in a
read-only file or folder, and refuses a delete there with a 403 that says why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracekit._record import RECORD_KEYS, cut_links
from tracekit.store import Store, StoreError, StoreReadOnly, TraceNotFound, TraceSummary
from tracekit.ui._architecture import architecture
from tracekit.ui._security import GuardMiddleware, HostPolicy
from tracekit.ui._static import StaticFiles, load_assets

DEFAULT_LIMIT = 50
_FILTERS = ("project", "status", "kind")
# What the tree, the timeline and the header need of a span: the record's fields but its
# payloads, and the error cut short (light_span). The detail panel asks for the full
# record. Inputs and outputs can be megabytes per span.
HEAVY_KEYS = ("error", "inputs", "outputs", "attributes", "events")
LIGHT_KEYS = tuple(key for key in RECORD_KEYS if key not in HEAVY_KEYS)
ERROR_MESSAGE_CHARS = 300


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` as ``application/json`` (never anything a browser would render)."""
    # ASCII: a lone surrogate from a traced string cannot break the UTF-8 encoding
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


def error(message: str, status: int) -> Response:
    """An error as ``{"error": message}``."""
    return json_response({"error": message}, status)


def summary_json(trace: TraceSummary) -> dict[str, Any]:
    """A trace table row as JSON, with its duration."""
    return {**dataclasses.asdict(trace), "duration_ns": trace.duration_ns}


def light_span(record: dict[str, Any], *, cycle: bool = False) -> dict[str, Any]:
    """The part of a span record the timeline draws: no inputs, outputs, attributes or events.

    The error keeps its type and the start of its message (the stack is in
    the full record). ``cycle`` adds ``"cycle": true``: the tree cuts this
    span's parent link, which loops back, and draws it as a root.
    """
    light = {key: record[key] for key in LIGHT_KEYS if key in record}
    if cycle:
        light["cycle"] = True
    error = record.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and len(message) > ERROR_MESSAGE_CHARS:
            message = message[: ERROR_MESSAGE_CHARS - 1] + "…"
        light["error"] = {"type": error.get("type"), "message": message}
    elif error is not None:
        light["error"] = {"type": None, "message": str(error)[:ERROR_MESSAGE_CHARS]}
    return light


def still_running(store: Store, summary: TraceSummary) -> bool:
    """Whether a live process may still write spans of this trace.

    The row says RUNNING when it has open spans and no failed one; a failed
    trace reports ERROR even while open, so then its open spans are asked
    (a span of a dead process is UNFINISHED, and may be deleted).
    """
    if summary.end_ns is not None or summary.status == "UNFINISHED":
        return False
    if summary.status == "RUNNING":
        return True
    return any(record.get("status") == "RUNNING" for record in store.get_trace(summary.trace_id))


class Conflict(Exception):
    """The request cannot be done in the resource's current state (409)."""


class Api:
    """The JSON endpoints, reading the store at ``path``.

    Args:
        path: the store's database file.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    async def _read(self, fn: Callable[[Store], Any]) -> Response:
        """Run ``fn`` on a freshly opened store in a worker thread; map errors to statuses.

        The store is read-only; ``Store.delete_trace`` opens its own write
        connection and closes it before it returns.
        """

        def run() -> Any:
            with Store(self.path) as store:
                return fn(store)

        try:
            result = await run_in_threadpool(run)
        except TraceNotFound as exc:
            return error(str(exc), 404)
        except Conflict as exc:
            return error(str(exc), 409)
        except ValueError as exc:
            return error(str(exc), 400)
        except StoreReadOnly as exc:  # a delete in a read-only file or folder
            return error(str(exc), 403)
        except StoreError as exc:  # missing, damaged, not a store: the message says which
            return error(str(exc), 503)
        except sqlite3.Error as exc:  # say, locked by a writer past the busy timeout
            return error(f"cannot read the trace store: {exc}", 503)
        return json_response(result)  # outside the try: a failure to encode is ours (500)

    async def info(self, request: Request) -> Response:
        """``GET /api/info``."""
        import tracekit

        return json_response({"db": os.path.abspath(self.path), "version": tracekit.__version__})

    async def traces(self, request: Request) -> Response:
        """``GET /api/traces``: a page of the trace table."""
        query = request.query_params
        try:
            options: dict[str, Any] = {name: query[name] for name in _FILTERS if query.get(name)}
            options["search"] = query.get("q") or None
            options["sort"] = query.get("sort") or "start"
            options["limit"] = _int(query.get("limit"), DEFAULT_LIMIT, "limit")
            options["cursor"] = query.get("cursor") or None
            for name in ("since", "until"):
                if query.get(name):
                    options[f"{name}_ns"] = _time(query[name])
        except ValueError as exc:
            return error(str(exc), 400)

        def page(store: Store) -> dict[str, Any]:
            found = store.list_traces(**options)
            return {
                "traces": [summary_json(t) for t in found.traces],
                "next_cursor": found.next_cursor,
            }

        return await self._read(page)

    async def projects(self, request: Request) -> Response:
        """``GET /api/projects``."""
        return await self._read(lambda store: {"projects": store.list_projects()})

    async def trace(self, request: Request) -> Response:
        """``GET /api/traces/{trace_id}``: the row and the light span records."""
        trace_id = str(request.path_params["trace_id"])

        def read(store: Store) -> dict[str, Any]:
            summary = store.trace_summary(trace_id)
            records = store.get_trace(summary.trace_id)
            # The tree's rule is _record's: the page draws parent links as given, but those cut.
            cut = cut_links(records)
            spans = [light_span(r, cycle=str(r.get("span_id")) in cut) for r in records]
            return {"trace": summary_json(summary), "spans": spans}

        return await self._read(read)

    async def span(self, request: Request) -> Response:
        """``GET /api/traces/{trace_id}/spans/{span_id}``: one full span record."""
        trace_id = str(request.path_params["trace_id"])
        span_id = str(request.path_params["span_id"]).lower()

        def read(store: Store) -> dict[str, Any]:
            for record in store.get_trace(trace_id):
                if record.get("span_id") == span_id:
                    return record
            raise TraceNotFound(f"no span {span_id} in trace {trace_id}")

        return await self._read(read)

    async def trace_architecture(self, request: Request) -> Response:
        """``GET /api/traces/{trace_id}/architecture``."""
        trace_id = str(request.path_params["trace_id"])
        return await self._read(lambda store: architecture(store.get_trace(trace_id)))

    async def delete_trace(self, request: Request) -> Response:
        """``DELETE /api/traces/{trace_id}``: the full id only, never a prefix."""
        trace_id = str(request.path_params["trace_id"]).lower()
        if len(trace_id) != 32 or any(ch not in "0123456789abcdef" for ch in trace_id):
            return error("give the full 32-digit trace id to delete a trace", 400)

        def delete(store: Store) -> dict[str, Any]:
            # Deleting under a live writer would lose the spans it has yet to end.
            if still_running(store, store.trace_summary(trace_id)):
                raise Conflict(f"trace {trace_id} is still running: delete it once it has ended")
            if not store.delete_trace(trace_id):
                raise TraceNotFound(f"no trace with id {trace_id}")
            return {"deleted": trace_id}

        return await self._read(delete)


def _int(text: str | None, default: int, name: str) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None


def _time(text: str) -> int:
    """Unix nanoseconds: digits are nanoseconds already; otherwise as ``tracekit ls --since``.

    The range is the store's to check (``list_traces`` raises ValueError: a 400).
    """
    from tracekit._time import parse_time

    return int(text) if text.isdigit() else parse_time(text)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route 404, method 405) in the API's JSON form."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    response = error(exc.detail, exc.status_code)
    response.headers.update(exc.headers or {})
    return response


def create_app(path: str, *, host: str = "127.0.0.1", port: int) -> Starlette:
    """The UI's ASGI application for the store at ``path``, served at ``host``:``port``.

    ``host`` and ``port`` are where the server is bound: only requests whose
    Host header names them are answered.
    """
    api = Api(path)
    static = StaticFiles(load_assets())
    routes = [
        Route("/", static.index, methods=["GET"]),
        Route("/static/{name:path}", static.endpoint, methods=["GET"]),
        Route("/api/info", api.info, methods=["GET"]),
        Route("/api/traces", api.traces, methods=["GET"]),
        Route("/api/projects", api.projects, methods=["GET"]),
        Route("/api/traces/{trace_id}", api.trace, methods=["GET"]),
        Route("/api/traces/{trace_id}", api.delete_trace, methods=["DELETE"]),
        Route("/api/traces/{trace_id}/spans/{span_id}", api.span, methods=["GET"]),
        Route("/api/traces/{trace_id}/architecture", api.trace_architecture, methods=["GET"]),
    ]
    middleware = [Middleware(GuardMiddleware, policy=HostPolicy(host, port))]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error}
    )
