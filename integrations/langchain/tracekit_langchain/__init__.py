"""tracekit-langchain: every LangChain runnable as a tracekit span.

This is the distribution in the repository's ``integrations/langchain/``
folder, built on the adapter API (:mod:`tracekit.integrations`). It registers
through the ``tracekit.integrations`` entry point, so
``tracekit.init(integrations=["langchain"])`` hooks langchain-core now, or on
its import if it is imported later. Importing this package imports nothing of
langchain-core and patches nothing.

How: langchain-core's own extension points, no runnable is wrapped.

* ``BaseCallbackManager.__init__`` is wrapped so that every callback manager
  carries one inheritable :class:`~tracekit_langchain._handler.TracekitTracer`
  (added once; only while tracekit is initialised). Every run (chains, LCEL
  sequences, chat models, LLMs, tools, retrievers) then opens and ends a
  span, under its parent run's span, or under tracekit's current span for a
  top-level run.
* ``langchain_core.runnables.config._set_config_context`` is wrapped so that
  the context a runnable's body runs in has the run's span current: tracekit
  spans opened inside a runnable (decorated functions, patched OpenAI calls)
  nest under it. This is where langchain-core itself attaches LangSmith's
  parent run; it is private, so patching fails (logged once) if it is gone.

Kinds: chain, prompt and parser runs are CHAIN (AGENT for agent executors and
graphs), chat models and LLMs LLM, tools TOOL, retrievers RETRIEVER.

Tested: langchain-core 1.7.2.
"""

from __future__ import annotations

from typing import Any

from tracekit import _config
from tracekit.integrations import Integration, internal_error, unwrap, wrap
from tracekit_langchain._handler import TracekitTracer, enter_run

__all__ = ["LangChainIntegration", "TracekitTracer"]

__version__ = "0.1.0.dev0"

_MANAGER = ("langchain_core.callbacks.base", "BaseCallbackManager.__init__")
_CONFIG = ("langchain_core.runnables.config", "_set_config_context")


class LangChainIntegration(Integration):
    """The ``langchain`` adapter: ``tracekit.init(integrations=["langchain"])``."""

    name = "langchain"
    requires = "langchain-core>=1.7"
    modules = ("langchain_core",)

    def __init__(self) -> None:
        super().__init__()
        self.tracer: TracekitTracer | None = None

    def _patch(self) -> None:
        tracer = self.tracer = TracekitTracer()

        def manager_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
            wrapped(*args, **kwargs)
            if not tracer.live or not _config.is_enabled():
                return
            try:
                if not any(h is tracer for h in instance.handlers):
                    instance.add_handler(tracer, inherit=True)
            except Exception as exc:
                internal_error(exc, "langchain.manager")

        def set_config_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            result = wrapped(*args, **kwargs)
            try:
                enter_run(tracer, args[0] if args else kwargs.get("config"))
            except Exception as exc:
                internal_error(exc, "langchain.config")
            return result

        wrap(*_MANAGER, manager_init)
        wrap(*_CONFIG, set_config_context)

    def _unpatch(self) -> None:
        if self.tracer is not None:
            self.tracer.live = False
            self.tracer = None
        unwrap(*_MANAGER)
        unwrap(*_CONFIG)
