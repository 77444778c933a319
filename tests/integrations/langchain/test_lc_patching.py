"""Patching: one handler per callback manager, only while traced; unpatch removes our layer."""

from __future__ import annotations

import langchain_core.runnables.config as lc_config
from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks.base import BaseCallbackManager
from langchain_core.runnables import RunnableLambda
from tracekit_langchain import LangChainIntegration, TracekitTracer

from tracekit import integrations


def tracers(manager):
    return [h for h in manager.handlers if isinstance(h, TracekitTracer)]


def test_the_adapter_is_registered_through_its_entry_point():
    assert isinstance(integrations.get("langchain"), LangChainIntegration)


def test_langchain_cores_private_hook_is_still_there():
    # The one private name the adapter relies on (see tracekit_langchain.__init__).
    assert callable(lc_config._set_config_context)


def test_every_callback_manager_gets_one_inheritable_handler(capture):
    manager = CallbackManager(handlers=[])
    assert len(tracers(manager)) == 1
    assert tracers(manager)[0] in manager.inheritable_handlers
    assert len(tracers(manager.copy())) == 1
    child = manager.on_chain_start({}, {"x": 1}, name="parent").get_child()
    assert len(tracers(child)) == 1
    configured = CallbackManager.configure(inheritable_callbacks=manager)
    assert len(tracers(configured)) == 1


def test_no_handler_before_tracekit_is_initialised():
    integrations.autopatch(["langchain"])
    try:
        assert tracers(CallbackManager(handlers=[])) == []
    finally:
        integrations.unpatch(["langchain"])


def test_unpatch_restores_langchain_and_stops_tracing(capture):
    patched_init = BaseCallbackManager.__dict__["__init__"]
    integrations.unpatch(["langchain"])
    assert BaseCallbackManager.__dict__["__init__"] is patched_init.__wrapped__
    assert not hasattr(lc_config._set_config_context, "__wrapped__")
    RunnableLambda(lambda x: x).invoke(1)
    assert capture.records == []
    integrations.autopatch(["langchain"])
    RunnableLambda(lambda x: x).invoke(1)
    assert [r["name"] for r in capture.records] == ["RunnableLambda"]


def test_patching_twice_adds_no_second_handler(capture):
    integrations.autopatch(["langchain"])
    integrations.get("langchain").patch()
    assert len(tracers(CallbackManager(handlers=[]))) == 1
