"""The adapter API: teach tracekit a client library (public; not the ``integrations/`` folder).

An adapter is an :class:`Integration` subclass with a name, the distribution
it supports, and ``_patch``/``_unpatch`` methods that wrap the client's
functions with :func:`wrap_method` and restore them with :func:`unwrap_method`. First-party
adapters (the ``integrations/`` folder of the repository, each its own
distribution) use only this module, and register through the entry-point group
``tracekit.integrations`` exactly as a third party does.

:func:`autopatch` patches now when the target is imported, or on its import
(wrapt post-import hooks) otherwise; it is idempotent and thread-safe, and
skips an unsupported version with one log line. :func:`unpatch` removes only
tracekit's own wrappers. Helpers cover the hard parts every adapter meets:
opening a span that outlives the call (:func:`open_span`, :func:`finish_span`,
:func:`current`), and ending it when a returned stream is consumed, closed,
fails or is garbage-collected (:class:`TracedStream`, :class:`AsyncTracedStream`,
fed chunk by chunk to an :class:`Accumulator`).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.metadata
import warnings
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

import wrapt

from tracekit import _guard, _state
from tracekit._context import CURRENT, restore
from tracekit._lifecycle import finish, is_inside
from tracekit._lifecycle import open_span as _open_span
from tracekit._registry import (
    ENTRY_POINT_GROUP,
    Integration,
    autopatch,
    get,
    register,
    registered,
    unpatch,
)
from tracekit._span import NON_RECORDING, Span, SpanKind
from tracekit._streams import Accumulator, AsyncTracedStream, TracedStream

__all__ = [
    "ENTRY_POINT_GROUP",
    "Accumulator",
    "AsyncTracedStream",
    "Integration",
    "TracedStream",
    "active",
    "attach",
    "autopatch",
    "current",
    "detach",
    "enabled",
    "finish_span",
    "get",
    "innermost",
    "internal_error",
    "open_span",
    "register",
    "registered",
    "trace_stream",
    "trace_stream_async",
    "unpatch",
    "unwrap",
    "unwrap_method",
    "wrap",
    "wrap_method",
]

# -- wrapping -------------------------------------------------------------------------


class _OurWrapper(wrapt.FunctionWrapper):  # type: ignore[type-arg]
    """Marks a wrapper as tracekit's, so unwrap never removes someone else's."""


def _resolve(target: str | ModuleType | type, path: str) -> tuple[Any, str]:
    module = importlib.import_module(target) if isinstance(target, str) else target
    owner: Any = module
    *parents, attribute = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, attribute


def wrap_method(
    target: str | ModuleType | type,
    path: str,
    wrapper: Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any],
) -> None:
    """Patch ``target.path`` with a wrapt wrapper: ``wrap_method(Client, "ask", w)``.

    ``target`` is a module name, a module or a class.

    ``wrapper(wrapped, instance, args, kwargs)`` runs instead, as with wrapt.
    Wrapping twice is a no-op: an adapter never stacks on itself.
    """
    owner, attribute = _resolve(target, path)
    current_value = owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None
    if isinstance(current_value, _OurWrapper):
        return
    original = getattr(owner, attribute) if current_value is None else current_value
    setattr(owner, attribute, _OurWrapper(original, wrapper))


def unwrap_method(target: str | ModuleType | type, path: str) -> None:
    """Undo :func:`wrap_method`: restore the original only if the attribute is still ours."""
    try:
        owner, attribute = _resolve(target, path)
    except (ImportError, AttributeError):
        return
    current_value = owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None
    if isinstance(current_value, _OurWrapper):
        setattr(owner, attribute, current_value.__wrapped__)


def wrap(
    target: str | ModuleType | type,
    path: str,
    wrapper: Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any],
) -> None:
    """Deprecated alias of :func:`wrap_method` (``tracekit.wrap`` binds a callable to a context).

    .. deprecated:: 0.1
        Use :func:`wrap_method`.
    """
    warnings.warn(
        "tracekit.integrations.wrap is deprecated: use tracekit.integrations.wrap_method",
        DeprecationWarning,
        stacklevel=2,
    )
    wrap_method(target, path, wrapper)


def unwrap(target: str | ModuleType | type, path: str) -> None:
    """Deprecated alias of :func:`unwrap_method`.

    .. deprecated:: 0.1
        Use :func:`unwrap_method`.
    """
    warnings.warn(
        "tracekit.integrations.unwrap is deprecated: use tracekit.integrations.unwrap_method",
        DeprecationWarning,
        stacklevel=2,
    )
    unwrap_method(target, path)


# -- spans that outlive the call --------------------------------------------------------


def enabled() -> bool:
    """Whether tracing is on now (``init()`` called, not disabled): one cheap check."""
    return _state.is_enabled()


def open_span(
    name: str,
    kind: SpanKind | str = SpanKind.LLM,
    inputs: Mapping[str, Any] | None = None,
    *,
    parent: Span | None = None,
) -> Span:
    """Open a span without making it current: under ``parent``, else under the current one.

    For calls whose span ends later than the call returns (a stream): make it
    current around the call with :func:`current`, and end it with
    :func:`finish_span` (or hand it to a :class:`TracedStream`). Callback-based
    adapters, which learn a run's parent from the library rather than from the
    context, pass that parent's span as ``parent`` (see :func:`innermost`).
    Returns a non-recording span when tracing is off, unsampled or suppressed,
    or when ``parent`` is not recording.
    """
    if parent is None:
        parent = CURRENT.get()
    try:
        return _open_span(name, kind, parent, inputs)
    except Exception as exc:
        _guard.internal_error(exc, "integrations.open_span")
        return NON_RECORDING


def innermost(span: Span) -> Span:
    """The current span if it is ``span`` or lies inside it, else ``span``: the nearest wins.

    For an adapter that knows a call's parent from the library (a callback's
    parent run): when the user's own span, opened inside that parent, is
    current (a ``@tracekit.tool`` function that runs a chain), the call nests
    under the user's span rather than beside it.
    """
    current_span = CURRENT.get()
    if current_span is None or current_span is span:
        return span
    if current_span is NON_RECORDING or span is NON_RECORDING:
        return span
    return current_span if is_inside(current_span, span) else span


def active() -> Span | None:
    """The current span, or None outside any span.

    Unlike :func:`tracekit.current_span`, which returns a non-recording span
    there, this tells "no span" from "inside an unrecorded trace"; pass the
    value back to :func:`attach` to restore it.
    """
    return CURRENT.get()


def attach(span: Span | None) -> contextvars.Token[Span | None]:
    """Make ``span`` current (None: no span) until :func:`detach` with the returned token.

    Prefer :func:`current`. This pair is for code that cannot hold a ``with``
    block around the work, such as a generator driven one step at a time (the
    token must be detached in the frame that attached it, before a ``yield``),
    or a hook running in a context copy that LangChain discards afterwards.
    """
    return CURRENT.set(span)


def detach(token: contextvars.Token[Span | None]) -> None:
    """Reset the current span to the value it had before :func:`attach` returned ``token``.

    Never raises. A token made in another context (a generator finalised
    elsewhere) leaves this context as it is; that is logged once through the
    ``tracekit`` logger and counted in ``stats()["foreign_resets"]``.
    """
    try:
        CURRENT.reset(token)
    except (ValueError, RuntimeError):
        _state.context.foreign_resets += 1
        _guard.log_once(
            "integrations.detach", "tracekit: detach() got a token from another context; ignored"
        )


@contextlib.contextmanager
def current(span: Span) -> Iterator[Span]:
    """Make ``span`` current for the block (so work inside nests under it), then restore.

    A non-recording span (a trace sampled out) is made current too, so nothing
    inside starts a trace of its own; with tracing off nothing changes.
    """
    if span is NON_RECORDING and not _state.is_enabled():
        yield span
        return
    parent = CURRENT.get()
    token = CURRENT.set(span)
    try:
        yield span
    finally:
        restore(token, span, parent)


def finish_span(span: Span, error: BaseException | None = None) -> None:
    """End a span opened with :func:`open_span`, recording ``error`` if given (once)."""
    if span is NON_RECORDING or span.end_ns:
        return
    try:
        finish(span, error)
    except Exception as exc:
        _guard.internal_error(exc, "integrations.finish_span")


def internal_error(exc: Exception, where: str) -> None:
    """Report an adapter's own failure the way tracekit reports its own.

    Counted in ``stats()["internal_errors"]``, logged once per ``where``
    through the ``tracekit`` logger (never with payloads), and re-raised only
    under the pytest plugin (strict mode), so a bug in an adapter fails its
    tests but never the application.

    Args:
        exc: the exception the adapter's code raised.
        where: a short stable name of the place, e.g. ``"skycast.extract"``.
    """
    _guard.internal_error(exc, f"adapter.{where}")


def trace_stream(
    name: str,
    kind: SpanKind | str,
    inputs: Mapping[str, Any] | None,
    call: Callable[[], Any],
    accumulator: Accumulator,
) -> Any:
    """Run ``call()`` (which returns a stream) under a new span that ends with the stream.

    The span is current while ``call`` runs; an exception from it ends the
    span as an error and propagates unchanged. The stream comes back wrapped
    in a :class:`TracedStream`, or an :class:`AsyncTracedStream` when it is an
    async iterator.
    """
    span = open_span(name, kind, inputs)
    with current(span):
        try:
            stream = call()
        except BaseException as exc:
            finish_span(span, exc)
            raise
    return _wrap_stream(span, stream, accumulator)


def _wrap_stream(span: Span, stream: Any, accumulator: Accumulator) -> Any:
    """The stream as the caller gets it: wrapped to end ``span``, or as is when not traced."""
    if span is NON_RECORDING:
        return stream
    proxy = AsyncTracedStream if hasattr(stream, "__aiter__") else TracedStream
    return proxy(stream, span, accumulator)


async def trace_stream_async(
    name: str,
    kind: SpanKind | str,
    inputs: Mapping[str, Any] | None,
    call: Callable[[], Any],
    accumulator: Accumulator,
) -> Any:
    """The async twin of :func:`trace_stream`: ``call()`` returns an awaitable of a stream."""
    span = open_span(name, kind, inputs)
    with current(span):
        try:
            stream = await call()
        except BaseException as exc:
            finish_span(span, exc)
            raise
    return _wrap_stream(span, stream, accumulator)
