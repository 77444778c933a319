"""tracekit-langchain: every LangChain runnable as a tracekit span.

This is the distribution in the repository's ``integrations/langchain/``
folder, built on the adapter API (:mod:`tracekit.integrations`). It registers
through the ``tracekit.integrations`` entry point, so
``tracekit.init(integrations=["langchain"])`` hooks langchain-core now, or on
its import if it is imported later. Importing this package imports nothing of
langchain-core and patches nothing.

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
  parent run; it is private, so patching fails (logged once) if it is gone.
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

import sys
from contextvars import ContextVar
from typing import Any, cast

import wrapt

from tracekit.integrations import Integration, current, enabled, internal_error, unwrap, wrap
from tracekit_langchain import _streaming
from tracekit_langchain._handler import TracekitHandler, enter_run, model_run_span

__all__ = ["LangChainIntegration", "TracekitHandler"]

__version__ = "0.1.0.dev0"

_CONFIG = ("langchain_core.runnables.config", "_set_config_context")
# LangGraph runs its nodes through a copy of that function (patched when imported).
_GRAPH_CONFIG = ("langgraph._internal._runnable", "_set_config_context")
# A model's own request runs inside these, with the run manager of its run:
# (module, "Class.method", name of the run manager argument, its position).
_CHAT = "langchain_core.language_models.chat_models"
_LLM = "langchain_core.language_models.llms"
_MODEL_CALLS = (
    (_CHAT, "BaseChatModel._generate_with_cache", "run_manager", False),
    (_CHAT, "BaseChatModel._agenerate_with_cache", "run_manager", True),
    (_LLM, "BaseLLM._generate_helper", "run_managers", False),
    (_LLM, "BaseLLM._agenerate_helper", "run_managers", True),
)
# A chat model's native stream: its request runs with no run manager (_streaming).
_STREAMS = (
    (_CHAT, "BaseChatModel.stream", False),
    (_CHAT, "BaseChatModel.astream", True),
)


class LangChainIntegration(Integration):
    """The ``langchain`` adapter: ``tracekit.init(integrations=["langchain"])``."""

    name = "langchain"
    requires = "langchain-core>=1.0"
    modules = ("langchain_core",)

    def __init__(self) -> None:
        super().__init__()
        self.handler: TracekitHandler | None = None

    def _patch(self) -> None:
        handler = self.handler = TracekitHandler()

        def set_config_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            result = wrapped(*args, **kwargs)
            try:
                enter_run(handler, args[0] if args else kwargs.get("config"))
            except Exception as exc:
                internal_error(exc, "langchain.config")
            return result

        _SWITCH.handler = handler
        _register_switch()
        wrap(*_CONFIG, set_config_context)

        def on_langgraph(module: Any) -> None:
            if handler.live:
                try:
                    wrap(module, _GRAPH_CONFIG[1], set_config_context)
                except AttributeError as exc:  # a LangGraph without it: runs still traced
                    internal_error(exc, "langchain.langgraph")

        wrapt.register_post_import_hook(on_langgraph, _GRAPH_CONFIG[0])
        for module, path, argument, is_async in _MODEL_CALLS:
            wrap(module, path, _model_call(handler, argument, is_async))
        handler.pending = _streaming.PENDING
        for module, path, is_async in _STREAMS:
            wrap(module, path, _model_stream(handler, is_async))

    def _unpatch(self) -> None:
        if self.handler is not None:
            self.handler.live = False
            self.handler = None
        _SWITCH.handler = None
        unwrap(*_CONFIG)
        if _GRAPH_CONFIG[0] in sys.modules:
            unwrap(*_GRAPH_CONFIG)
        for module, path, *_ in (*_MODEL_CALLS, *_STREAMS):
            unwrap(module, path)


class _HandlerSwitch:
    """What the adapter registers as a langchain-core configure hook's context variable.

    ``CallbackManager.configure`` (which every runnable, model, tool and
    retriever calls) asks each registered hook's variable for a handler with
    ``get()`` and adds the one it returns, unless the manager has it already.
    A real ContextVar would have to be set in every thread and task; this
    object answers the same ``get()`` everywhere: the live handler while
    tracekit is on, else None (so after ``unpatch`` or with tracing off no
    handler is added). langchain-core keeps no way to remove a hook, so the
    switch is registered once per process.
    """

    handler: TracekitHandler | None = None
    registered = False

    def get(self, default: Any = None) -> TracekitHandler | None:
        handler = self.handler
        if handler is None or not handler.live or not enabled():
            return None
        return handler


_SWITCH = _HandlerSwitch()


def _register_switch() -> None:
    if not _SWITCH.registered:
        from langchain_core.tracers.context import register_configure_hook

        register_configure_hook(cast("ContextVar[Any]", _SWITCH), inheritable=True)
        _SWITCH.registered = True


def _model_call(handler: TracekitHandler, argument: str, is_async: bool) -> Any:
    """The wrapper making a model run's span current around the model's own request."""

    def find(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            manager = kwargs[argument] if argument in kwargs else args[2]
            return model_run_span(handler, manager)
        except Exception as exc:
            internal_error(exc, "langchain.model")
            return None

    def sync_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = find(args, kwargs) if len(args) > 2 or argument in kwargs else None
        if span is None:
            return wrapped(*args, **kwargs)
        with current(span):
            return wrapped(*args, **kwargs)

    async def run_async(span: Any, wrapped: Any, args: Any, kwargs: Any) -> Any:
        with current(span):
            return await wrapped(*args, **kwargs)

    def async_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = find(args, kwargs) if len(args) > 2 or argument in kwargs else None
        if span is None:
            return wrapped(*args, **kwargs)
        return run_async(span, wrapped, args, kwargs)

    return async_call if is_async else sync_call


def _model_stream(handler: TracekitHandler, is_async: bool) -> Any:
    """The wrapper running a chat model's stream with its span current (see ``_streaming``)."""
    under = _streaming.astream_under if is_async else _streaming.stream_under

    def stream(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not handler.live or not enabled():
            return wrapped(*args, **kwargs)
        try:
            with_id_args, with_id_kwargs, run_id = _streaming.with_run_id(args, kwargs)
        except Exception as exc:
            internal_error(exc, "langchain.stream")
            return wrapped(*args, **kwargs)
        return under(handler, run_id, wrapped(*with_id_args, **with_id_kwargs))

    return stream
