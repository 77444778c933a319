"""User-style code, type-checked with mypy --strict in CI (never run by pytest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import tracekit
from tracekit.backends import Backend, MemoryBackend


@tracekit.trace
def plain(x: int) -> int:
    return x + 1


@tracekit.trace(name="named", kind=tracekit.SpanKind.TOOL, tags=["a"], metadata={"k": 1})
def called(text: str, *, flag: bool = False) -> str:
    return text if flag else text.upper()


@tracekit.agent
async def run(question: str) -> str:
    return question


@tracekit.tool(ignore_inputs=["secret"])
def tool(query: str, secret: str) -> list[str]:
    return [query]


@tracekit.chain
def stream(n: int) -> Iterator[int]:
    yield from range(n)


@tracekit.llm(capture_outputs=False)
async def astream(n: int) -> AsyncIterator[str]:
    for i in range(n):
        yield str(i)


@tracekit.retriever
def retrieve(query: str) -> list[str]:
    return [query]


class Agent:
    @tracekit.agent
    def step(self, task: str) -> str:
        return task


def use() -> None:
    backend: Backend = MemoryBackend()
    tracekit.init(backend, project="typing", sample_rate=1.0, redact=True)
    tracekit.init(["console", "memory"])
    value: int = plain(1)
    text: str = called("x", flag=True)
    items: list[int] = list(stream(3))
    docs: list[str] = retrieve("q") + tool("q", "s")
    step: str = Agent().step("t")
    with tracekit.span("manual", kind="CHAIN", inputs={"a": 1}) as span:
        span.set_output(value)
        span.set_outputs({"text": text})
        span.set_usage(prompt_tokens=1, completion_tokens=2)
        span.set_model("m", temperature=0.0)
        span.set_attribute("items", items)
        span.add_event("event", {"docs": docs, "step": step})
    current: tracekit.Span = tracekit.current_span()
    recording: bool = current.is_recording
    trace_id: str | None = tracekit.current_trace_id()
    root = tracekit.Span(name="root", span_kind=tracekit.SpanKind.AGENT)
    root.add_child_span(tracekit.Span(name="child", span_kind="TOOL"))
    root.add_named_result({"in": 1}, {"out": 2})
    tracekit.log(root)
    bound = tracekit.wrap(plain)
    assert bound(1) == 2
    ok: bool = tracekit.flush(timeout=1.0)
    stats: dict[str, object] = tracekit.stats()
    closed: bool = tracekit.shutdown()
    del recording, trace_id, ok, stats, closed
