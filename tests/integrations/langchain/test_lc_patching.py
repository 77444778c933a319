"""Patching: one handler per configured callback manager while traced; unpatch removes it."""

from __future__ import annotations

import langchain_core.runnables.config as lc_config
from langchain_core.callbacks import (
    AsyncCallbackManager,
    CallbackManager,
    StdOutCallbackHandler,
)
from langchain_core.runnables import RunnableLambda
from tracekit_langchain import LangChainIntegration, TracekitHandler

from tracekit import integrations


def handlers_of(manager):
    return [h for h in manager.handlers if isinstance(h, TracekitHandler)]


def test_the_adapter_is_registered_through_its_entry_point():
    assert isinstance(integrations.get("langchain"), LangChainIntegration)


def test_langchain_cores_private_hooks_are_still_there():
    # The private names the adapter wraps (see tracekit_langchain.__init__): a release
    # that drops one fails here first.
    from langchain_core.language_models import BaseChatModel, BaseLLM
    from langgraph._internal import _runnable

    assert callable(lc_config._set_config_context)
    assert callable(_runnable._set_config_context)
    for name in ("_generate_with_cache", "_agenerate_with_cache", "stream", "astream"):
        assert callable(getattr(BaseChatModel, name))
    for name in ("_generate_helper", "_agenerate_helper"):
        assert callable(getattr(BaseLLM, name))


def test_every_configured_callback_manager_gets_one_inheritable_handler(capture):
    manager = CallbackManager.configure()
    assert len(handlers_of(manager)) == 1
    assert handlers_of(manager)[0] in manager.inheritable_handlers
    assert len(handlers_of(manager.copy())) == 1
    child = manager.on_chain_start({}, {"x": 1}, name="parent").get_child()
    assert len(handlers_of(child)) == 1
    configured = CallbackManager.configure(inheritable_callbacks=manager)
    assert len(handlers_of(configured)) == 1
    async_manager = AsyncCallbackManager.configure(inheritable_callbacks=[StdOutCallbackHandler()])
    assert len(handlers_of(async_manager)) == 1


def test_no_handler_before_tracekit_is_initialised():
    integrations.autopatch(["langchain"])
    try:
        assert handlers_of(CallbackManager.configure()) == []
    finally:
        integrations.unpatch(["langchain"])


def test_unpatch_restores_langchain_and_stops_tracing(capture):
    integrations.unpatch(["langchain"])
    assert handlers_of(CallbackManager.configure()) == []
    assert not hasattr(lc_config._set_config_context, "__wrapped__")
    RunnableLambda(lambda x: x).invoke(1)
    assert capture.records == []
    integrations.autopatch(["langchain"])
    RunnableLambda(lambda x: x).invoke(1)
    assert [r["name"] for r in capture.records] == ["RunnableLambda"]


def test_patching_twice_adds_no_second_handler(capture):
    integrations.autopatch(["langchain"])
    integrations.get("langchain").patch()
    integrations.unpatch(["langchain"])
    integrations.autopatch(["langchain"])
    assert len(handlers_of(CallbackManager.configure())) == 1


def test_runs_that_never_end_are_forgotten_once_tracekit_abandons_them(monkeypatch):
    # A stream dropped unconsumed never reports its end: its span is abandoned by the
    # exporter past the open-span caps, and the handler must not keep the run forever.
    from uuid import uuid4

    from tracekit_langchain import _handler

    import tracekit
    from tracekit.backends import MemoryBackend

    monkeypatch.setattr(_handler, "PRUNE_AT", 8)
    tracekit.init(MemoryBackend(), integrations=["langchain"], max_open_spans=2)
    try:
        handler = integrations.get("langchain").handler
        handler._prune_at = _handler.PRUNE_AT
        for _ in range(8):
            handler.on_chain_start(None, {"x": 1}, run_id=uuid4(), name="dropped")
        tracekit.flush()  # the exporter abandons all but the 2 newest
        assert tracekit.stats()["dropped"]["abandoned"] == 6
        handler.on_chain_start(None, {"x": 1}, run_id=uuid4(), name="next")
        assert len(handler._runs) == 3  # the 2 still open and the new one
    finally:
        integrations.unpatch(["langchain"])
        tracekit.shutdown()


def test_importing_the_adapter_imports_no_langchain():
    import subprocess
    import sys

    code = (
        "import sys, tracekit_langchain; "
        "assert 'langchain_core' not in sys.modules, 'imported langchain_core'; "
        "assert tracekit_langchain.LangChainIntegration.name == 'langchain'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_private_hook_missing_from_langchain_is_skipped_with_one_log_line(
    capture, monkeypatch, caplog
):
    # As if a release renamed one private function: runs are still traced, the log names it.
    from tracekit_langchain import _patching

    integrations.unpatch(["langchain"])
    monkeypatch.setattr(_patching, "_CONFIG", (_patching._CONFIG[0], "_renamed_away"))
    monkeypatch.setattr(_patching, "_missing", set())
    with caplog.at_level("WARNING", logger="tracekit"):
        integrations.autopatch(["langchain"])
        integrations.unpatch(["langchain"])
        integrations.autopatch(["langchain"])  # said once, not at every patch
    RunnableLambda(lambda x: x + 1).invoke(1)
    assert [r["name"] for r in capture.records] == ["RunnableLambda"]
    (line,) = [r.getMessage() for r in caplog.records if "cannot hook" in r.getMessage()]
    assert "langchain_core.runnables.config._renamed_away" in line


def test_step_tags_are_not_recorded_but_the_users_tags_are(capture):
    chain = RunnableLambda(lambda x: x).with_config(tags=["mine"]) | RunnableLambda(str)
    chain.invoke(1, {"tags": ["request"]})
    tags = {r["name"]: r["attributes"].get("langchain.tags") for r in capture.records}
    assert tags["RunnableSequence"] == ["request"]
    assert all(not any(t.startswith("seq:step:") for t in v or ()) for v in tags.values())
    assert any(v and "mine" in v for v in tags.values())
