"""A chat model's native stream, run with the model's span current.

``BaseChatModel.stream``/``astream`` start the run and then call the model's
``_stream``/``_astream`` without its run manager, in the same step of the
generator: no later hook knows the run. So the wrapper of ``stream`` gives
the call a run id of its own (LangChain takes ``config["run_id"]``), and
drives the generator one step at a time. Around each step it pushes
tracekit's ContextVar and marks the run id as pending; the handler, opening
that run's span during the first step, makes it current (:func:`claim`), and
the wrapper pops it when the step returns, in the same frame. Later steps
start with the span current. Nothing stays attached between steps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid4

from tracekit.integrations import active, attach, detach
from tracekit_langchain._handler import TracekitHandler

# The run id whose span should become current as it opens (set only around one step).
PENDING: ContextVar[UUID | None] = ContextVar("tracekit_langchain_pending", default=None)


def with_run_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, UUID]:
    """``args``/``kwargs`` of ``stream(input, config=None, ...)`` with a run id in the config."""
    config = kwargs.get("config") if len(args) < 2 else args[1]
    config = dict(config or {})
    run_id = config.get("run_id")
    if not isinstance(run_id, UUID):
        run_id = config["run_id"] = uuid4()
    if len(args) >= 2:
        args = (args[0], config, *args[2:])
    else:
        kwargs = {**kwargs, "config": config}
    return args, kwargs, run_id


def _step_parent(handler: TracekitHandler, run_id: UUID) -> Any:
    span = handler.span_for(run_id)
    return span if span is not None else active()


def stream_under(handler: TracekitHandler, run_id: UUID, stream: Iterator[Any]) -> Iterator[Any]:
    """Yield ``stream``'s chunks, each produced with the run's span current."""
    try:
        while True:
            pending = PENDING.set(run_id)
            token = attach(_step_parent(handler, run_id))
            try:
                chunk = next(stream)
            except StopIteration:
                return
            finally:
                detach(token)
                PENDING.reset(pending)
            yield chunk
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def astream_under(
    handler: TracekitHandler, run_id: UUID, stream: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """The async twin of :func:`stream_under`."""
    try:
        while True:
            pending = PENDING.set(run_id)
            token = attach(_step_parent(handler, run_id))
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                detach(token)
                PENDING.reset(pending)
            yield chunk
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
