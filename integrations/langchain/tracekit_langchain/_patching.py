"""Where the adapter hooks langchain-core (imported only when the adapter patches).

:func:`patch` creates the handler and installs every hook; :func:`unpatch`
removes them. Each hook reads the live handler from :data:`_SWITCH`, so a
wrapper left behind by someone else's wrapper on top, or a LangGraph
imported later, always finds the current one (or none).

The configure hook is langchain-core's public extension point; the wrapped
functions are private. A release that drops one of them loses only that
hook: it is skipped with one log line naming it, and the rest still works.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, cast

import wrapt

from tracekit.integrations import (
    attach,
    detach,
    enabled,
    internal_error,
    unwrap_method,
    wrap_method,
)
from tracekit_langchain import _graph, _streaming
from tracekit_langchain._handler import TracekitHandler, enter_run, model_run_span

_log = logging.getLogger("tracekit")

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
# An LCEL sequence's abatch starts each item's run in a task of its own (_graph.BATCHING).
_SEQUENCE_ABATCH = ("langchain_core.runnables.base", "RunnableSequence.abatch")
# A chat model's native stream: its request runs with no run manager (_streaming).
_STREAMS = (
    (_CHAT, "BaseChatModel.stream", False),
    (_CHAT, "BaseChatModel.astream", True),
)


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
_missing: set[str] = set()  # hooks already reported missing (one log line each)
_graph_hook_registered = False


def patch() -> TracekitHandler:
    """Create the handler and install every hook; returns the handler."""
    global _graph_hook_registered
    handler = TracekitHandler()
    handler.pending = _streaming.PENDING
    _SWITCH.handler = handler
    if not _SWITCH.registered:
        from langchain_core.tracers.context import register_configure_hook

        register_configure_hook(cast("ContextVar[Any]", _SWITCH), inheritable=True)
        _SWITCH.registered = True
    _try_wrap(*_CONFIG, _set_config_context)
    for module, path, argument, is_async in _MODEL_CALLS:
        _try_wrap(module, path, _model_call(argument, is_async))
    for module, path, is_async in _STREAMS:
        _try_wrap(module, path, _model_stream(is_async))
    _try_wrap(*_SEQUENCE_ABATCH, _sequence_abatch)
    if not _graph_hook_registered:  # once: it reads the live handler when it fires
        wrapt.register_post_import_hook(_on_langgraph, _GRAPH_CONFIG[0])
        _graph_hook_registered = True
    elif _GRAPH_CONFIG[0] in sys.modules:
        _on_langgraph(sys.modules[_GRAPH_CONFIG[0]])
    return handler


def unpatch() -> None:
    """Remove every hook; the handler stops recording."""
    handler = _SWITCH.handler
    if handler is not None:
        handler.live = False
    _SWITCH.handler = None
    targets = [_CONFIG, _SEQUENCE_ABATCH, *((m, p) for m, p, *_ in (*_MODEL_CALLS, *_STREAMS))]
    if _GRAPH_CONFIG[0] in sys.modules:
        targets.append(_GRAPH_CONFIG)
    for module, path in targets:
        try:
            unwrap_method(module, path)
        except (AttributeError, ImportError):
            pass  # never wrapped: it was missing


def _try_wrap(module: Any, path: str, wrapper: Any) -> None:
    """Install one hook; a private name gone from this release is skipped, said once."""
    try:
        wrap_method(module, path, wrapper)
    except (AttributeError, ImportError) as exc:
        name = f"{getattr(module, '__name__', module)}.{path}"
        if name not in _missing:
            _missing.add(name)
            _log.warning(
                "tracekit: the LangChain adapter cannot hook %s (%s: %s); runs are still "
                "traced, but spans opened there may not nest under their run",
                name,
                type(exc).__name__,
                exc,
            )


def _on_langgraph(module: Any) -> None:
    if _SWITCH.handler is not None:
        _try_wrap(module, _GRAPH_CONFIG[1], _set_config_context)


def _set_config_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    handler = _SWITCH.handler
    if handler is not None:
        try:
            enter_run(handler, args[0] if args else kwargs.get("config"))
        except Exception as exc:
            internal_error(exc, "langchain.config")
    return result


def _sequence_abatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Name the sequence to the runs its ``abatch`` starts in tasks (see ``_graph``)."""

    async def run() -> Any:
        token = _graph.BATCHING.set(instance)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _graph.BATCHING.reset(token)

    return run()


def _model_call(argument: str, is_async: bool) -> Any:
    """The wrapper making a model run's span current around the model's own request.

    A non-recording span (an unsampled trace) is made current too, so the
    request stays unrecorded instead of starting a trace of its own.
    """

    def find(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        handler = _SWITCH.handler
        if handler is None or (len(args) <= 2 and argument not in kwargs):
            return None
        try:
            manager = kwargs[argument] if argument in kwargs else args[2]
            return model_run_span(handler, manager)
        except Exception as exc:
            internal_error(exc, "langchain.model")
            return None

    def sync_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = find(args, kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        token = attach(span)
        try:
            return wrapped(*args, **kwargs)
        finally:
            detach(token)

    async def run_async(span: Any, wrapped: Any, args: Any, kwargs: Any) -> Any:
        token = attach(span)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            detach(token)

    def async_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = find(args, kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        return run_async(span, wrapped, args, kwargs)

    return async_call if is_async else sync_call


def _model_stream(is_async: bool) -> Any:
    """The wrapper running a chat model's stream with its span current (see ``_streaming``)."""
    under = _streaming.astream_under if is_async else _streaming.stream_under

    def stream(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        handler = _SWITCH.handler
        if handler is None or not handler.live or not enabled():
            return wrapped(*args, **kwargs)
        try:
            with_id_args, with_id_kwargs, run_id = _streaming.with_run_id(args, kwargs)
        except Exception as exc:
            internal_error(exc, "langchain.stream")
            return wrapped(*args, **kwargs)
        return under(handler, run_id, wrapped(*with_id_args, **with_id_kwargs))

    return stream
