"""The adapter API: registry, patching on import, ownership, and the stream proxies."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import sys
import threading

import pytest
import wrapt

import tracekit
from tracekit import _registry, integrations


@pytest.fixture
def client_module(tmp_path, monkeypatch):
    """A made-up client library, importable as `fakeclient`, not imported yet."""
    (tmp_path / "fakeclient.py").write_text(
        "class Client:\n"
        "    def ask(self, prompt):\n"
        "        return 'answer to ' + prompt\n"
        "    def stream(self, prompt):\n"
        "        yield from ['a', 'b', 'c']\n"
        "    async def aask(self, prompt):\n"
        "        return 'async answer'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fakeclient", None)
    yield "fakeclient"
    sys.modules.pop("fakeclient", None)


class Join:
    def __init__(self):
        self.parts = []

    def add(self, chunk):
        self.parts.append(chunk)

    def finish(self, span):
        span.set_output("".join(self.parts))


def traced_ask(wrapped, instance, args, kwargs):
    with tracekit.span("fake.ask", kind="LLM", inputs={"prompt": args[0]}) as span:
        result = wrapped(*args, **kwargs)
        span.set_output(result)
        return result


def traced_stream(wrapped, instance, args, kwargs):
    return integrations.trace_stream(
        "fake.stream", "LLM", {"prompt": args[0]}, lambda: wrapped(*args, **kwargs), Join()
    )


class FakeIntegration(integrations.Integration):
    name = "fake"
    requires = "wrapt>=1.0"  # a distribution that is installed
    modules = ("fakeclient",)
    patches = 0

    def _patch(self):
        FakeIntegration.patches += 1
        integrations.wrap_method("fakeclient", "Client.ask", traced_ask)
        integrations.wrap_method("fakeclient", "Client.stream", traced_stream)

    def _unpatch(self):
        integrations.unwrap_method("fakeclient", "Client.ask")
        integrations.unwrap_method("fakeclient", "Client.stream")


def test_patching_before_the_import_applies_on_import(tracekit_capture, client_module):
    integrations.register(FakeIntegration)
    assert integrations.autopatch(["fake"]) == []  # not imported yet: a hook waits
    fakeclient = importlib.import_module(client_module)
    assert fakeclient.Client().ask("q") == "answer to q"
    assert tracekit_capture.span("fake.ask")["outputs"] == {"output": "answer to q"}


def test_patching_after_the_import_applies_at_once(tracekit_capture, client_module):
    fakeclient = importlib.import_module(client_module)
    integrations.register(FakeIntegration)
    assert integrations.autopatch(["fake"]) == ["fake"]
    fakeclient.Client().ask("q")
    assert len(tracekit_capture.spans("fake.ask")) == 1


def test_init_integrations_patches(tracekit_capture, client_module):
    integrations.register(FakeIntegration)
    tracekit.init(tracekit_capture.backend, integrations=["fake"])
    importlib.import_module(client_module).Client().ask("q")
    assert len(tracekit_capture.spans("fake.ask")) == 1


def test_patch_is_idempotent_and_thread_safe(tracekit_capture, client_module):
    fakeclient = importlib.import_module(client_module)
    FakeIntegration.patches = 0
    integration = integrations.register(FakeIntegration)
    threads = [threading.Thread(target=integration.patch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    integrations.autopatch(["fake"])
    fakeclient.Client().ask("once")
    assert FakeIntegration.patches == 1
    assert len(tracekit_capture.spans("fake.ask")) == 1  # never a wrapper on a wrapper


def test_unpatch_restores_the_original_and_only_ours(client_module):
    fakeclient = importlib.import_module(client_module)
    original = fakeclient.Client.__dict__["ask"]
    integrations.register(FakeIntegration)
    integrations.autopatch(["fake"])
    assert fakeclient.Client.__dict__["ask"] is not original
    integrations.unpatch(["fake"])
    assert fakeclient.Client.__dict__["ask"] is original
    integrations.unpatch(["fake"])  # idempotent

    # Someone else's wrapper added on top is never removed by us.
    theirs = wrapt.FunctionWrapper(original, lambda w, i, a, k: w(*a, **k))
    fakeclient.Client.ask = theirs
    integrations.unwrap_method("fakeclient", "Client.ask")
    assert fakeclient.Client.__dict__["ask"] is theirs


def test_unpatch_cancels_a_pending_patch(tracekit_capture, client_module):
    integrations.register(FakeIntegration)
    integrations.autopatch(["fake"])
    integrations.unpatch(["fake"])
    importlib.import_module(client_module).Client().ask("q")
    assert tracekit_capture.records == []


def test_an_unsupported_version_is_skipped_with_one_log_line(client_module, caplog):
    class TooNew(FakeIntegration):
        name = "toonew"
        requires = "wrapt>=999"

    importlib.import_module(client_module)
    integrations.register(TooNew)
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        assert integrations.autopatch(["toonew"]) == []
        assert integrations.autopatch(["toonew"]) == []
    lines = [r.getMessage() for r in caplog.records if "not supported" in r.getMessage()]
    assert len(lines) == 1
    assert "wrapt" in lines[0]


def test_unknown_integration_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no tracekit integration named 'nope'"):
        integrations.autopatch(["nope"])


def test_entry_points_are_discovered():
    names = integrations.registered()
    for name, integration in names.items():
        assert integration.name == name


@pytest.mark.parametrize(
    ("installed", "spec", "ok"),
    [
        ("1.40.0", ">=1.40", True),
        ("1.39.9", ">=1.40", False),
        ("3.54.0", ">=1.40,<4", True),
        ("4.0", ">=1.40,<4", False),
        ("2.0.0rc1", "==2.0", True),
        ("1.2", "!=1.2.0", False),
    ],
)
def test_version_specifiers(installed, spec, ok):
    assert _registry._version_matches(installed, spec) is ok


# -- stream proxies -------------------------------------------------------------------


def stream_span(capture):
    (record,) = capture.spans("fake.stream")
    return record


@pytest.mark.parametrize("how", ["exhausted", "closed", "context", "collected"])
def test_a_stream_ends_its_span_once_however_it_ends(tracekit_capture, client_module, how):
    fakeclient = importlib.import_module(client_module)
    integrations.register(FakeIntegration)
    integrations.autopatch(["fake"])
    stream = fakeclient.Client().stream("p")
    if how == "exhausted":
        assert list(stream) == ["a", "b", "c"]
    elif how == "closed":
        assert next(stream) == "a"
        stream.close()
        stream.close()
    elif how == "context":
        with stream as s:
            assert next(s) == "a"
    else:
        assert next(stream) == "a"
        del stream
        gc.collect()
    record = stream_span(tracekit_capture)
    assert record["status"] == "OK"
    if how == "exhausted":
        assert record["outputs"] == {"output": "abc"}
        assert "tracekit.end_reason" not in record["attributes"]
    else:
        assert record["outputs"] == {"output": "a"}
        assert record["attributes"]["tracekit.end_reason"] == "closed"


def test_a_stream_error_is_recorded_and_propagates(tracekit_capture):
    boom = ValueError("stream broke")

    def broken():
        yield "x"
        raise boom

    stream = integrations.trace_stream("broken", "LLM", None, broken, Join())
    assert next(stream) == "x"
    with pytest.raises(ValueError) as info:
        next(stream)
    assert info.value is boom
    (record,) = tracekit_capture.records
    assert record["status"] == "ERROR"
    assert record["outputs"] == {"output": "x"}


def test_a_failing_call_ends_its_span_as_an_error(tracekit_capture):
    def refuse():
        raise ConnectionError("no")

    with pytest.raises(ConnectionError):
        integrations.trace_stream("refused", "LLM", None, refuse, Join())
    assert tracekit_capture.records[0]["error"]["type"] == "ConnectionError"


def test_a_stream_passes_attributes_through(tracekit_capture):
    class Stream:
        response = "the raw response"

        def __iter__(self):
            return iter([1])

    stream = integrations.trace_stream("s", "LLM", None, Stream, Join())
    assert stream.response == "the raw response"
    assert isinstance(stream, Stream)


async def test_async_streams_end_once(tracekit_capture):
    async def tokens():
        for t in ("x", "y"):
            await asyncio.sleep(0)
            yield t

    async def open_stream():
        return tokens()

    full = await integrations.trace_stream_async("full", "LLM", None, open_stream, Join())
    assert [t async for t in full] == ["x", "y"]
    early = await integrations.trace_stream_async("early", "LLM", None, open_stream, Join())
    assert await early.__anext__() == "x"
    await early.aclose()
    direct = integrations.trace_stream("direct", "LLM", None, tokens, Join())
    async with direct as d:
        assert await d.__anext__() == "x"
    assert tracekit_capture.span("full")["outputs"] == {"output": "xy"}
    assert tracekit_capture.span("early")["attributes"]["tracekit.end_reason"] == "closed"
    assert tracekit_capture.span("direct")["attributes"]["tracekit.end_reason"] == "closed"


def test_open_span_nests_without_becoming_current(tracekit_capture):
    @tracekit.agent
    def agent():
        span = integrations.open_span("call", "LLM", {"q": 1})
        assert tracekit.current_span().name == "agent"
        with integrations.current(span):
            assert tracekit.current_span() is span
        integrations.finish_span(span)
        integrations.finish_span(span)  # once

    agent()
    assert tracekit_capture.span("call")["parent_id"] == tracekit_capture.span("agent")["span_id"]
    assert len(tracekit_capture.records) == 2


def test_open_span_under_an_explicit_parent(tracekit_capture):
    # A callback-based adapter knows a run's parent from the library, not from the context.
    run = integrations.open_span("run", "CHAIN")
    with tracekit.span("elsewhere"):
        step = integrations.open_span("step", "TOOL", parent=run)
    off = tracekit.current_span()  # outside any span: the non-recording span
    assert integrations.open_span("under off", parent=off).is_recording is False
    integrations.finish_span(step)
    integrations.finish_span(run)
    record = tracekit_capture.span("step")
    assert record["parent_id"] == tracekit_capture.span("run")["span_id"]
    assert record["trace_id"] == tracekit_capture.span("run")["trace_id"]


def test_innermost_prefers_a_current_span_inside_the_given_one(tracekit_capture):
    run = integrations.open_span("run", "CHAIN")
    assert integrations.innermost(run) is run  # nothing current
    with integrations.current(run):
        assert integrations.innermost(run) is run
        with tracekit.span("user tool") as mine:
            assert integrations.innermost(run) is mine
    with tracekit.span("unrelated"):
        assert integrations.innermost(run) is run
    integrations.finish_span(run)


def test_active_attach_and_detach_restore_the_current_span(tracekit_capture):
    assert integrations.active() is None
    assert tracekit.current_span().is_recording is False
    span = integrations.open_span("s", "CHAIN")
    token = integrations.attach(span)
    assert integrations.active() is span
    assert tracekit.current_span() is span
    integrations.detach(token)
    assert integrations.active() is None
    integrations.finish_span(span)


def test_enabled_follows_init():
    assert integrations.enabled() is False
    tracekit.init("memory")
    assert integrations.enabled() is True
    tracekit.init("memory", enabled=False)
    assert integrations.enabled() is False


def test_helpers_are_inert_when_tracing_is_off():
    span = integrations.open_span("off", "LLM")
    assert span.is_recording is False
    stream = integrations.trace_stream("off", "LLM", None, lambda: iter([1]), Join())
    assert list(stream) == [1]


def test_adapter_failures_are_counted_and_strict_under_the_plugin(tracekit_capture):
    from tracekit import _guard

    with pytest.raises(KeyError):
        integrations.internal_error(KeyError("bad chunk"), "fake.extract")
    assert tracekit.stats()["internal_errors"] == 1
    _guard.reset()
    _guard.set_strict(False)
    integrations.internal_error(KeyError("bad chunk"), "fake.extract")  # production: no raise
    assert tracekit.stats()["internal_errors"] == 1
    _guard.reset()


def test_detach_with_a_token_from_another_context_never_raises(tracekit_capture):
    import contextvars

    span = integrations.open_span("s", "CHAIN")
    token = contextvars.copy_context().run(integrations.attach, span)
    integrations.detach(token)  # made in another context: left as it is, no exception
    assert integrations.active() is None
    integrations.finish_span(span)
