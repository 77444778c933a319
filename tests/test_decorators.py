"""@trace and its presets on every callable shape, with DESIGN.md's capture rules."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import sys
import threading

import pytest

import tracekit

# -- shapes -----------------------------------------------------------------------------


def test_bare_and_called_forms_record_one_span_each(tracekit_capture):
    @tracekit.trace
    def bare(x):
        return x

    @tracekit.trace(name="renamed", kind="TOOL")
    def called(x):
        return x

    assert bare(1) == 1
    assert called(2) == 2
    assert [(r["name"], r["kind"]) for r in tracekit_capture.records] == [
        ("bare", "CHAIN"),
        ("renamed", "TOOL"),
    ]


@pytest.mark.parametrize(
    ("decorator", "kind"),
    [
        (tracekit.agent, "AGENT"),
        (tracekit.tool, "TOOL"),
        (tracekit.chain, "CHAIN"),
        (tracekit.llm, "LLM"),
        (tracekit.retriever, "RETRIEVER"),
    ],
)
def test_presets_set_the_kind_bare_and_called(tracekit_capture, decorator, kind):
    @decorator
    def one():
        return 1

    @decorator(name="two")
    def two():
        return 2

    one()
    two()
    assert [(r["name"], r["kind"]) for r in tracekit_capture.records] == [
        ("one", kind),
        ("two", kind),
    ]


def test_kind_accepts_spankind_and_rejects_unknown_names():
    @tracekit.trace(kind=tracekit.SpanKind.EMBEDDING)
    def embed():
        return [0.1]

    with pytest.raises(ValueError, match="unknown span kind"):
        tracekit.trace(kind="WIZARD")(embed)


async def test_async_function_span_covers_the_await(tracekit_capture):
    release = asyncio.Event()

    @tracekit.llm
    async def ask(prompt):
        await release.wait()
        return prompt.upper()

    task = asyncio.ensure_future(ask("hi"))
    await asyncio.sleep(0)
    assert tracekit_capture.records == []  # still running: not ended yet
    release.set()
    assert await task == "HI"
    (record,) = tracekit_capture.records
    assert record["outputs"] == {"output": "HI"}
    assert record["end_ns"] > record["start_ns"]


def test_generator_span_ends_on_exhaustion_with_yielded_items(tracekit_capture):
    @tracekit.chain
    def count(n):
        yield from range(n)
        return "done"

    gen = count(3)
    assert inspect.isgenerator(gen)
    assert list(gen) == [0, 1, 2]
    (record,) = tracekit_capture.records
    assert record["outputs"] == {"output": [0, 1, 2]}
    assert record["status"] == "OK"
    assert "tracekit.end_reason" not in record["attributes"]


def test_generator_return_value_reaches_yield_from(tracekit_capture):
    @tracekit.chain
    def inner():
        yield 1
        return "result"

    def outer():
        value = yield from inner()
        yield value

    assert list(outer()) == [1, "result"]


def test_generator_send_and_throw_are_delegated(tracekit_capture):
    @tracekit.chain
    def echo():
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except KeyError:
            yield received

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.send("b") == 2
    assert gen.throw(KeyError("stop")) == ["a", "b"]
    gen.close()


def test_generator_closed_early_is_recorded_as_closed(tracekit_capture):
    cleaned = []

    @tracekit.chain
    def stream():
        try:
            yield from range(100)
        finally:
            cleaned.append(True)

    gen = stream()
    assert [next(gen), next(gen)] == [0, 1]
    gen.close()
    assert cleaned == [True]  # the user's finally ran
    (record,) = tracekit_capture.records
    assert record["status"] == "OK"
    assert record["attributes"]["tracekit.end_reason"] == "closed"
    assert record["outputs"] == {"output": [0, 1]}


def test_generator_garbage_collected_early_ends_its_span(tracekit_capture):
    @tracekit.chain
    def stream():
        yield from range(10)

    gen = stream()
    next(gen)
    del gen
    gc.collect()
    (record,) = tracekit_capture.records
    assert record["attributes"]["tracekit.end_reason"] == "closed"


def test_generator_never_iterated_records_nothing(tracekit_capture):
    @tracekit.chain
    def stream():
        yield 1

    gen = stream()
    del gen
    gc.collect()
    assert tracekit_capture.records == []
    assert tracekit.stats()["open_spans"] == 0


def test_generator_error_is_recorded_and_propagates(tracekit_capture):
    boom = ValueError("mid-stream")

    @tracekit.chain
    def stream():
        yield 1
        raise boom

    gen = stream()
    next(gen)
    with pytest.raises(ValueError) as info:
        next(gen)
    assert info.value is boom
    (record,) = tracekit_capture.records
    assert record["status"] == "ERROR"
    assert record["outputs"] == {}


async def test_async_generator_span_and_early_close(tracekit_capture):
    @tracekit.chain
    async def tokens(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield f"t{i}"

    assert [t async for t in tokens(3)] == ["t0", "t1", "t2"]
    agen = tokens(10)
    assert await agen.__anext__() == "t0"
    await agen.aclose()
    full, closed = tracekit_capture.records
    assert full["outputs"] == {"output": ["t0", "t1", "t2"]}
    assert "tracekit.end_reason" not in full["attributes"]
    assert closed["attributes"]["tracekit.end_reason"] == "closed"
    assert closed["outputs"] == {"output": ["t0"]}


async def test_async_generator_asend_and_athrow(tracekit_capture):
    @tracekit.chain
    async def echo():
        got = []
        try:
            while True:
                got.append((yield len(got)))
        except KeyError:
            yield got

    agen = echo()
    assert await agen.asend(None) == 0
    assert await agen.asend("x") == 1
    assert await agen.athrow(KeyError()) == ["x"]
    await agen.aclose()


def test_methods_classmethods_staticmethods(tracekit_capture):
    class Agent:
        prefix = ">"

        @tracekit.agent
        def run(self, task, retries=2):
            return self.helper(task) + self.shout(task)

        @tracekit.tool
        @classmethod
        def helper(cls, text):
            return cls.prefix + text

        @classmethod
        @tracekit.tool
        def helper_inner(cls, text):
            return cls.prefix + text

        @tracekit.tool
        @staticmethod
        def shout(text):
            return text.upper()

    agent = Agent()
    assert agent.run("go") == ">goGO"
    assert Agent.helper_inner("x") == ">x"
    assert Agent.shout("a") == "A"
    assert Agent.run(agent, "again") == ">againAGAIN"
    records = {(r["name"], repr(r["inputs"])) for r in tracekit_capture.records}
    assert ("Agent.run", repr({"task": "go", "retries": 2})) in records
    assert ("Agent.helper", repr({"text": "go"})) in records
    assert ("Agent.helper_inner", repr({"text": "x"})) in records
    assert ("Agent.shout", repr({"text": "a"})) in records
    assert ("Agent.run", repr({"task": "again", "retries": 2})) in records
    for record in tracekit_capture.records:
        assert "self" not in record["inputs"]
        assert "cls" not in record["inputs"]


def test_decorated_function_keeps_its_identity():
    async def fetch(url: str, *, timeout: float = 1.0) -> bytes:
        """Fetch a URL."""
        return b""

    traced = tracekit.trace(fetch)
    assert traced.__name__ == "fetch"
    assert traced.__doc__ == "Fetch a URL."
    assert inspect.signature(traced) == inspect.signature(fetch)
    assert inspect.iscoroutinefunction(traced)
    assert traced.__wrapped__ is fetch


def test_decorating_twice_makes_one_span_with_the_outer_options(tracekit_capture):
    @tracekit.agent(name="outer")
    @tracekit.tool(name="inner")
    def work():
        return 1

    work()
    assert [(r["name"], r["kind"]) for r in tracekit_capture.records] == [("outer", "AGENT")]


def test_recursion_nests(tracekit_capture):
    @tracekit.trace
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    assert fact(4) == 24
    tracekit_capture.assert_tree(
        """
        CHAIN fact
          CHAIN fact
            CHAIN fact
              CHAIN fact
        """
    )


# -- inputs and outputs -----------------------------------------------------------------


def test_inputs_are_bound_by_name_with_defaults_varargs_and_flattened_kwargs(tracekit_capture):
    @tracekit.trace
    def f(a, b=2, *rest, c, d=4, **extra):
        return None

    f(1, 5, 6, 7, c=3, flag=True)
    assert tracekit_capture.records[0]["inputs"] == {
        "a": 1,
        "b": 5,
        "rest": [6, 7],
        "c": 3,
        "flag": True,
        "d": 4,
    }


def test_positional_only_parameters_are_named(tracekit_capture):
    @tracekit.trace
    def f(x, /, y):
        return x + y

    f(1, y=2)
    assert tracekit_capture.records[0]["inputs"] == {"x": 1, "y": 2}


def test_inputs_are_snapshotted_at_call_time(tracekit_capture):
    @tracekit.tool
    def search(queries, options):
        queries.append("added inside")
        return len(queries)

    queries = ["a"]
    options = {"k": [1]}
    search(queries, options)
    queries.append("added after")
    options["k"].append(2)
    (record,) = tracekit_capture.records
    assert record["inputs"] == {"queries": ["a"], "options": {"k": [1]}}


def test_returned_dict_is_snapshotted_too(tracekit_capture):
    result = {"answer": "x"}

    @tracekit.trace
    def f():
        return result

    f()
    result["answer"] = "changed"
    assert tracekit_capture.records[0]["outputs"] == {"answer": "x"}


@pytest.mark.parametrize(
    ("returned", "outputs"),
    [
        ("text", {"output": "text"}),
        (None, {"output": None}),
        ([1, 2], {"output": [1, 2]}),
        ({"answer": 42, "sources": ["a"]}, {"answer": 42, "sources": ["a"]}),
        ({1: "int key"}, {"1": "int key"}),
        ((1, "a"), {"output": [1, "a"]}),
    ],
)
def test_named_outputs_rule(tracekit_capture, returned, outputs):
    @tracekit.trace
    def f():
        return returned

    f()
    assert tracekit_capture.records[0]["outputs"] == outputs


def test_ignore_inputs_and_capture_switches(tracekit_capture):
    @tracekit.tool(ignore_inputs=["password_hint", "blob"])
    def login(user, password_hint, blob):
        return "ok"

    @tracekit.tool(capture_inputs=False, capture_outputs=False)
    def private(secret_doc):
        return secret_doc

    login("ann", "hint", b"x" * 10)
    private("classified")
    first, second = tracekit_capture.records
    assert first["inputs"] == {"user": "ann"}
    assert second["inputs"] == {}
    assert second["outputs"] == {}


def test_metadata_and_tags_become_attributes(tracekit_capture):
    @tracekit.agent(metadata={"team": "search", "version": 3}, tags=["prod", "v3"])
    def run():
        return None

    run()
    assert tracekit_capture.records[0]["attributes"] == {
        "team": "search",
        "version": 3,
        "tags": ["prod", "v3"],
    }


def test_global_capture_switches(tracekit_capture):
    tracekit.init(tracekit_capture.backend, capture_inputs=False, capture_outputs=False)

    @tracekit.trace
    def f(x):
        return x

    f(1)
    record = tracekit_capture.records[0]
    assert record["inputs"] == {}
    assert record["outputs"] == {}


# -- errors -----------------------------------------------------------------------------


def test_exception_propagates_as_the_same_object_with_traceback(tracekit_capture):
    error = KeyError("missing")

    @tracekit.tool
    def lookup():
        raise error

    with pytest.raises(KeyError) as info:
        lookup()
    assert info.value is error
    frames = [frame.name for frame in info.traceback]
    assert "lookup" in frames
    (record,) = tracekit_capture.records
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "KeyError"
    assert record["error"]["message"] == "'missing'"
    assert "raise error" in record["error"]["stack"]


async def test_async_exception_propagates_and_is_recorded(tracekit_capture):
    error = RuntimeError("model down")

    @tracekit.llm
    async def call():
        await asyncio.sleep(0)
        raise error

    with pytest.raises(RuntimeError) as info:
        await call()
    assert info.value is error
    assert tracekit_capture.records[0]["error"]["type"] == "RuntimeError"


async def test_cancelled_task_is_recorded_distinctly(tracekit_capture):
    started = asyncio.Event()

    @tracekit.tool
    async def slow():
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = tracekit_capture.records
    assert record["status"] == "ERROR"
    assert record["error"]["type"] == "CancelledError"
    assert record["attributes"]["tracekit.end_reason"] == "cancelled"


def test_base_exceptions_propagate_untouched(tracekit_capture):
    @tracekit.trace
    def stop():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stop()
    assert tracekit_capture.records[0]["error"]["type"] == "KeyboardInterrupt"


def test_return_values_are_never_changed(tracekit_capture):
    sentinel = object()

    @tracekit.trace
    def f():
        return sentinel

    assert f() is sentinel


# -- before init ------------------------------------------------------------------------


def test_before_init_decorators_pass_through_without_threads_or_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACEKIT_BACKEND", raising=False)
    threads_before = threading.active_count()

    @tracekit.agent
    def run(x):
        return x * 2

    @tracekit.chain
    def gen():
        yield 1

    assert run(2) == 4
    assert list(gen()) == [1]
    assert tracekit.current_span().is_recording is False
    assert threading.active_count() == threads_before
    assert list(tmp_path.iterdir()) == []
    assert tracekit.stats()["created"] == 0


def test_importing_and_calling_traced_code_creates_no_thread_socket_or_file(tmp_path):
    import subprocess

    code = (
        "import os, socket, threading\n"
        "created = []\n"
        "class Spy(socket.socket):\n"
        "    def __init__(self, *a, **k):\n"
        "        created.append(1)\n"
        "        super().__init__(*a, **k)\n"
        "socket.socket = Spy\n"
        "import tracekit\n"
        "@tracekit.agent\n"
        "def f(x): return x\n"
        "f(1)\n"
        "print(threading.active_count(), len(created), len(os.listdir('.')))\n"
    )
    env = {"PATH": "", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.stdout.split() == ["1", "0", "0"]


# -- more shapes and edge cases ---------------------------------------------------------


async def test_unsampled_traces_skip_async_and_generators_entirely(tracekit_capture):
    tracekit.init(tracekit_capture.backend, sample_rate=0.0)

    @tracekit.tool
    def leaf():
        return tracekit.current_span().is_recording

    @tracekit.trace
    async def coro():
        return leaf()

    @tracekit.trace
    def gen():
        yield leaf()

    @tracekit.trace
    async def agen():
        yield leaf()

    assert await coro() is False
    assert list(gen()) == [False]
    assert [x async for x in agen()] == [False]
    assert tracekit_capture.records == []


@pytest.mark.parametrize("shape", ["generator", "async_generator"])
async def test_generator_called_with_bad_arguments_records_the_error(tracekit_capture, shape):
    if shape == "generator":

        @tracekit.chain
        def g(a):
            yield a

    else:

        @tracekit.chain
        async def g(a):
            yield a

    with pytest.raises(TypeError):
        g(1, 2, 3)
    assert tracekit_capture.records[0]["error"]["type"] == "TypeError"


def test_generator_outputs_are_capped_with_a_marker(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_items=3)

    @tracekit.chain
    def many():
        yield from range(10)

    assert sum(many()) == 45
    assert tracekit_capture.records[0]["outputs"] == {"output": [0, 1, 2, "[truncated: 10 items]"]}


async def test_async_generator_error_is_recorded(tracekit_capture):
    @tracekit.chain
    async def failing():
        yield 1
        raise LookupError("gone")

    with pytest.raises(LookupError):
        async for _ in failing():
            pass
    assert tracekit_capture.records[0]["error"]["type"] == "LookupError"


def test_builtins_and_callable_objects_can_be_traced(tracekit_capture):
    class Scorer:
        def __call__(self, text):
            return len(text)

    traced_len = tracekit.trace(len)
    traced_scorer = tracekit.tool(Scorer())
    assert traced_len([1, 2]) == 2
    assert traced_scorer("abc") == 3
    names = [r["name"] for r in tracekit_capture.records]
    assert names == ["len", "Scorer"]
    assert tracekit_capture.records[1]["inputs"] == {"text": "abc"}


def test_tracing_a_non_callable_is_a_clear_error():
    with pytest.raises(TypeError, match="expects a function"):
        tracekit.trace(42)
