"""The current span: nesting across tasks, threads, executors and generators."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading

import pytest

import tracekit
from tracekit._context import CURRENT


def parents(capture):
    """name -> parent's name for every recorded span."""
    by_id = {r["span_id"]: r["name"] for r in capture.records}
    return {r["name"]: by_id.get(r["parent_id"]) for r in capture.records}


def test_current_span_outside_a_trace_is_non_recording_never_none(tracekit_capture):
    span = tracekit.current_span()
    assert span is not None
    assert span.is_recording is False
    assert span.trace_id is None
    assert span.span_id == "0" * 16
    span.set_output("ignored")
    span.set_usage(prompt_tokens=1)
    span.set_attribute("k", "v")
    span.add_event("e")
    span.set_model("m")
    assert tracekit.current_trace_id() is None
    assert tracekit_capture.records == []


def test_current_span_inside_a_trace(tracekit_capture):
    seen = {}

    @tracekit.agent
    def run():
        span = tracekit.current_span()
        seen["trace_id"] = tracekit.current_trace_id()
        seen["span_id"] = span.span_id
        span.set_attribute("step", 1)
        return

    run()
    (record,) = tracekit_capture.records
    assert seen == {"trace_id": record["trace_id"], "span_id": record["span_id"]}
    assert record["attributes"] == {"step": 1}


async def test_gather_of_many_tasks_keeps_each_parent(tracekit_capture):
    @tracekit.tool
    async def leaf(i):
        await asyncio.sleep(0)
        return i

    @tracekit.chain
    async def branch(i):
        await asyncio.sleep(0)
        return await leaf(i)

    @tracekit.agent
    async def root():
        return await asyncio.gather(*(branch(i) for i in range(50)))

    assert await root() == list(range(50))
    records = tracekit_capture.records
    by_id = {r["span_id"]: r for r in records}
    assert len(records) == 101
    root_record = next(r for r in records if r["name"] == "root")
    for r in records:
        if r["name"] == "branch":
            assert r["parent_id"] == root_record["span_id"]
        elif r["name"] == "leaf":
            parent = by_id[r["parent_id"]]
            assert parent["name"] == "branch"
            assert parent["inputs"]["i"] == r["inputs"]["i"]
    assert {r["trace_id"] for r in records} == {root_record["trace_id"]}


async def test_context_restored_after_exception_in_task(tracekit_capture):
    @tracekit.tool
    async def fail():
        raise ValueError

    @tracekit.agent
    async def root():
        with pytest.raises(ValueError):
            await fail()
        return tracekit.current_span().span_id

    root_id = await root()
    assert root_id == next(r["span_id"] for r in tracekit_capture.records if r["name"] == "root")
    assert CURRENT.get() is None


def test_thread_pool_workers_nest_under_the_submitting_span(tracekit_capture):
    @tracekit.tool
    def work(i):
        return i

    @tracekit.agent
    def root():
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(work, range(8)))

    assert root() == list(range(8))
    assert set(parents(tracekit_capture).items()) == {("root", None), ("work", "root")}
    assert len(tracekit_capture.spans("work")) == 8


def test_threads_started_inside_a_span_nest_under_it(tracekit_capture):
    @tracekit.tool
    def work():
        return threading.current_thread().name

    class Worker(threading.Thread):
        def run(self):  # subclasses that override run() are covered too
            work()

    @tracekit.agent
    def root():
        threads = [threading.Thread(target=work), Worker()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    root()
    work_spans = tracekit_capture.spans("work")
    root_span = tracekit_capture.span("root")
    assert len(work_spans) == 2
    assert all(r["parent_id"] == root_span["span_id"] for r in work_spans)


def test_thread_started_outside_a_span_is_a_new_trace(tracekit_capture):
    @tracekit.tool
    def work():
        return 1

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert tracekit_capture.span("work")["parent_id"] is None


async def test_to_thread_and_run_in_executor_nest(tracekit_capture):
    @tracekit.tool
    def blocking(i):
        return i

    @tracekit.agent
    async def root():
        loop = asyncio.get_running_loop()
        a = await asyncio.to_thread(blocking, 1)
        b = await loop.run_in_executor(None, blocking, 2)
        return a + b

    assert await root() == 3
    root_span = tracekit_capture.span("root")
    assert [r["parent_id"] for r in tracekit_capture.spans("blocking")] == [
        root_span["span_id"]
    ] * 2


def test_propagate_threads_false_leaves_threads_alone(tracekit_capture):
    tracekit.init(tracekit_capture.backend, propagate_threads=False)

    @tracekit.tool
    def work():
        return 1

    @tracekit.agent
    def root():
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(work).result()

    root()
    assert tracekit_capture.span("work")["parent_id"] is None
    assert not hasattr(threading.Thread.start, "__wrapped__")


def test_thread_propagation_is_removed_on_reset():
    tracekit.init("memory")
    assert hasattr(threading.Thread.start, "__wrapped__")
    tracekit._config._reset()
    assert not hasattr(threading.Thread.start, "__wrapped__")
    assert not hasattr(concurrent.futures.ThreadPoolExecutor.submit, "__wrapped__")


def test_other_context_variables_are_not_copied_into_threads(tracekit_capture):
    user_var = contextvars.ContextVar("user_var", default="unset")
    seen = []

    @tracekit.agent
    def root():
        user_var.set("set in parent")
        t = threading.Thread(target=lambda: seen.append(user_var.get()))
        t.start()
        t.join()

    root()
    assert seen == ["unset"]  # exactly what Python does without tracekit


def test_wrap_binds_a_callable_to_the_current_span(tracekit_capture):
    callbacks = []

    @tracekit.tool
    def callback():
        return 1

    @tracekit.agent
    def root():
        callbacks.append(tracekit.wrap(callback))

    root()
    callbacks[0]()  # runs later, outside the span, but nests under it
    assert (
        tracekit_capture.span("callback")["parent_id"] == tracekit_capture.span("root")["span_id"]
    )


async def test_wrap_binds_async_callables(tracekit_capture):
    @tracekit.tool
    async def callback():
        return 1

    bound = []

    @tracekit.agent
    def root():
        bound.append(tracekit.wrap(callback))

    root()
    assert await bound[0]() == 1
    assert (
        tracekit_capture.span("callback")["parent_id"] == tracekit_capture.span("root")["span_id"]
    )


def test_wrap_outside_a_span_returns_the_callable_unchanged(tracekit_capture):
    def fn():
        return 1

    assert tracekit.wrap(fn) is fn


def test_generator_span_is_current_only_while_its_code_runs(tracekit_capture):
    inside = []

    @tracekit.chain
    def stream():
        inside.append(tracekit.current_span().span_id)
        yield 1
        inside.append(tracekit.current_span().span_id)
        yield 2

    @tracekit.agent
    def root():
        outer = tracekit.current_span().span_id
        gen = stream()
        next(gen)
        between = tracekit.current_span().span_id  # the consumer's span, not the generator's
        next(gen)
        gen.close()
        return outer, between

    outer, between = root()
    assert between == outer
    stream_id = tracekit_capture.span("stream")["span_id"]
    assert inside == [stream_id, stream_id]
    assert tracekit_capture.span("stream")["parent_id"] == outer


async def test_generator_closed_from_another_task_does_not_corrupt_context(tracekit_capture):
    @tracekit.chain
    async def stream():
        for i in range(10):
            yield i

    agen = stream()

    @tracekit.agent
    async def consumer():
        return await agen.__anext__()

    assert await consumer() == 0
    await asyncio.create_task(agen.aclose())
    assert CURRENT.get() is None
    assert tracekit_capture.span("stream")["attributes"]["tracekit.end_reason"] == "closed"


def test_span_exited_in_a_foreign_context_is_handled(tracekit_capture):
    """A user generator holding `with span()` across a yield, finished in another context."""

    def holds_span_across_yield():
        with tracekit.span("held"):
            yield 1

    gen = holds_span_across_yield()
    next(gen)
    # Finish it inside a different Context: ContextVar.reset would raise there.
    contextvars.Context().run(gen.close)
    assert tracekit_capture.span("held")["status"] == "OK"
    assert tracekit.stats()["internal_errors"] == 0
