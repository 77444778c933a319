"""tracekit-langchain: every LangChain runnable as a tracekit span.

This is the distribution in the repository's ``integrations/langchain/``
folder, built on the adapter API (:mod:`tracekit.integrations`). It registers
through the ``tracekit.integrations`` entry point, so
``tracekit.init(integrations=["langchain"])`` hooks langchain-core now, or on
its import if it is imported later. Importing this package imports nothing of
langchain-core and patches nothing: the hooks live in
:mod:`tracekit_langchain._patching`, imported when the adapter patches.

How: langchain-core's own extension points, no runnable is wrapped.

* A configure hook (langchain-core's ``register_configure_hook``, how
  LangSmith's own tracer is added) puts one inheritable
  :class:`~tracekit_langchain._handler.TracekitHandler` into every callback
  manager ``CallbackManager.configure`` builds (only while tracekit is on).
  Every run (chains, LCEL sequences, chat models, LLMs, tools, retrievers)
  then opens and ends a span, under its parent run's span, or under
  tracekit's current span for a top-level run, whose span also records the
  root runnable's graph (:mod:`tracekit_langchain._graph`).
* ``langchain_core.runnables.config._set_config_context`` is wrapped so that
  the context a runnable's body runs in has the run's span current: tracekit
  spans opened inside a runnable (decorated functions, patched OpenAI calls)
  nest under it. This is where langchain-core itself attaches LangSmith's
  parent run; it is private: if a release drops it, that hook is skipped
  with one log line naming it, and the rest of the adapter still works.
  LangGraph runs its nodes through its own copy,
  ``langgraph._internal._runnable._set_config_context``, wrapped the same
  way when langgraph is imported.
* ``BaseChatModel._generate_with_cache``/``_agenerate_with_cache`` and
  ``BaseLLM._generate_helper``/``_agenerate_helper`` (private too) receive
  the run's callback manager: the run's span is made current around them, so
  the model's own request (an OpenAI call) nests under the model's span.
* ``BaseChatModel.stream``/``astream`` call a model's native
  ``_stream``/``_astream`` without its run manager: they are wrapped to give
  the run an id of their own and to run each step of the stream with the
  run's span current (:mod:`tracekit_langchain._streaming`).

Kinds: chain, prompt and parser runs are CHAIN (AGENT for agent executors and
graphs), chat models and LLMs LLM, tools TOOL, retrievers RETRIEVER.
Messages are recorded as plain chat messages (:mod:`tracekit_langchain._messages`).

Supported: langchain-core 1.0 on. Tested: 1.7.2 and 1.0.0 (see README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracekit.integrations import Integration

if TYPE_CHECKING:
    from tracekit_langchain._handler import TracekitHandler

__all__ = ["LangChainIntegration", "TracekitHandler"]

__version__ = "0.1.0.dev0"


class LangChainIntegration(Integration):
    """The ``langchain`` adapter: ``tracekit.init(integrations=["langchain"])``."""

    name = "langchain"
    requires = "langchain-core>=1.0"
    modules = ("langchain_core",)

    def __init__(self) -> None:
        super().__init__()
        self.handler: TracekitHandler | None = None

    def _patch(self) -> None:
        from tracekit_langchain import _patching

        self.handler = _patching.patch()

    def _unpatch(self) -> None:
        from tracekit_langchain import _patching

        _patching.unpatch()
        self.handler = None


def __getattr__(name: str) -> Any:
    # TracekitHandler subclasses a langchain-core class: import it only when asked for.
    if name == "TracekitHandler":
        from tracekit_langchain._handler import TracekitHandler

        return TracekitHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
