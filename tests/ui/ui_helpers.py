"""Span records for the web UI's tests, written into a real store through the sqlite backend."""

from __future__ import annotations

import os
import shutil

from tracekit._record import RECORD_KEYS
from tracekit.backends import SqliteBackend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "build", "ui-artifacts")  # gitignored
DOCS_IMAGES = os.path.join(ROOT, "docs", "images")
BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18
MS = 1_000_000


def tid(n):
    return f"{n:032x}"


def sid(trace, n):
    return f"{trace:08x}{n:08x}"


def rec(trace, span, parent=None, **fields):
    """A finished span record of trace number ``trace``; ``span``/``parent`` are numbers."""
    values = (tid(trace), sid(trace, span), None if parent is None else sid(trace, parent),
              f"step-{span}", "CHAIN", "default", BASE_NS + trace * 1000 * MS + span * MS,
              BASE_NS + trace * 1000 * MS + span * MS + MS // 2, "OK", None, {}, {}, None,
              None, {}, [])  # fmt: skip
    record = dict(zip(RECORD_KEYS, values, strict=True))
    record.update(fields)
    return record


def write(db, records, started=()):
    """Write records (children before parents, as the pipeline does) and close the writer."""
    backend = SqliteBackend(os.fspath(db))
    try:
        if started:
            backend.export_started(list(started))
        if records:
            backend.export(list(records))
    finally:
        backend.shutdown()


def start(trace, span=0):
    return BASE_NS + trace * 1000 * MS + span * MS


GRAPH = {
    "nodes": [
        {"id": "__start__", "name": "__start__"},
        {"id": "agent", "name": "agent"},
        {"id": "tools", "name": "tools"},
        {"id": "__end__", "name": "__end__"},
    ],
    "edges": [
        {"source": "__start__", "target": "agent", "conditional": False},
        {"source": "agent", "target": "tools", "conditional": True},
        {"source": "agent", "target": "__end__", "conditional": True},
        {"source": "tools", "target": "agent", "conditional": False},
    ],
}


def research_trace(n=1, project="default"):
    """An agent: a model call (messages, tool calls, usage), tools, a retriever, a failure."""
    t0 = start(n)
    messages = [
        {"role": "system", "content": "You are a careful researcher."},
        {"role": "user", "content": "How old is Google?"},
    ]
    answer = {
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "web_search", "arguments": '{"query": "Google founded"}'},
                }
            ],
        },
        "finish_reason": "tool_calls",
    }
    return [
        rec(
            n,
            1,
            0,
            name="plan",
            kind="LLM",
            project=project,
            start_ns=t0 + 1 * MS,
            end_ns=t0 + 40 * MS,
            model="gpt-4o-mini",
            inputs={"messages": messages},
            outputs=answer,
            usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
            attributes={"model_parameters": {"temperature": 0.2, "max_tokens": 256}},
        ),
        rec(
            n,
            2,
            0,
            name="web_search",
            kind="TOOL",
            project=project,
            start_ns=t0 + 41 * MS,
            end_ns=t0 + 60 * MS,
            inputs={"query": "Google founded"},
            outputs={"output": ["Google was founded on September 4, 1998."]},
            attributes={"tags": ["search"], "provider": "local-index"},
        ),
        rec(
            n,
            3,
            0,
            name="retrieve",
            kind="RETRIEVER",
            project=project,
            start_ns=t0 + 61 * MS,
            end_ns=t0 + 70 * MS,
            inputs={"query": "Google"},
            outputs={"output": ["doc-1"]},
        ),
        rec(
            n,
            4,
            0,
            name="embed",
            kind="EMBEDDING",
            project=project,
            start_ns=t0 + 62 * MS,
            end_ns=t0 + 65 * MS,
            inputs={"text": "Google"},
        ),
        rec(
            n,
            5,
            0,
            name="summarize",
            kind="CHAIN",
            project=project,
            start_ns=t0 + 71 * MS,
            end_ns=t0 + 80 * MS,
            status="ERROR",
            error={
                "type": "TimeoutError",
                "message": "the summarizer timed out",
                "stack": 'Traceback (most recent call last):\n  File "agent.py", line 9\n'
                "TimeoutError: the summarizer timed out",
            },
            events=[{"name": "retry", "time_ns": t0 + 75 * MS, "attributes": {"attempt": 2}}],
        ),
        rec(
            n,
            0,
            None,
            name="research-agent",
            kind="AGENT",
            project=project,
            start_ns=t0,
            end_ns=t0 + 100 * MS,
            inputs={"question": "How old is Google?"},
            outputs={"output": "Google is 28 years old."},
            attributes={"tags": ["demo"], "team": "search"},
        ),
    ]


def langchain_trace(n=2, project="default"):
    """A LangGraph-like trace: the root carries the runnable graph, components their parameters."""
    t0 = start(n)
    return [
        rec(
            n,
            1,
            0,
            name="ChatOpenAI",
            kind="LLM",
            project=project,
            start_ns=t0 + MS,
            end_ns=t0 + 20 * MS,
            model="gpt-4o",
            attributes={
                "langchain.parameters": {
                    "_type": "ChatOpenAI",
                    "model_name": "gpt-4o",
                    "temperature": 0.0,
                    "openai_api_key": "[REDACTED]",
                },
                "model_parameters": {"temperature": 0.0},
            },
        ),
        rec(
            n,
            2,
            0,
            name="tools",
            kind="TOOL",
            project=project,
            start_ns=t0 + 21 * MS,
            end_ns=t0 + 30 * MS,
            attributes={"langchain.parameters": {"_type": "ToolNode", "handle_tool_errors": True}},
        ),
        rec(
            n,
            0,
            None,
            name="LangGraph",
            kind="AGENT",
            project=project,
            start_ns=t0,
            end_ns=t0 + 35 * MS,
            inputs={"messages": [{"type": "human", "content": "hi"}]},
            attributes={"langchain.graph": GRAPH},
        ),
    ]


def screenshot(page, name, docs=False):
    """Save a screenshot as a test artifact (and for the docs when TRACEKIT_UI_DOCS=1)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=False)
    if docs and os.environ.get("TRACEKIT_UI_DOCS") == "1":
        os.makedirs(DOCS_IMAGES, exist_ok=True)
        shutil.copyfile(path, os.path.join(DOCS_IMAGES, f"{name}.png"))
    return path
