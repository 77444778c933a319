"""The one ContextVar: which span is current, and how that crosses threads.

The variable holds a single immutable pointer (the current span); the parent
chain is the stack. It is pushed with ``set`` and popped with ``reset`` in the
same frame, never across a ``yield``. Threads inherit it by capture: the span
current at ``Thread.start`` / ``Executor.submit`` is attached in the worker.
Only tracekit's own variable crosses: other context variables of the
application are left exactly as Python would leave them.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import wrapt

from tracekit import _guard, _state

if TYPE_CHECKING:
    from tracekit._span import Span

CURRENT: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "tracekit_current_span", default=None
)

F = TypeVar("F")


def restore(token: contextvars.Token[Span | None], span: Span, parent: Span | None) -> None:
    """Pop ``span`` pushed with ``token``; a reset from a foreign context is repaired.

    ``ContextVar.reset`` raises when the token was made in another context (a
    generator finalised by GC or closed from another task). Then the current
    context never saw the push, so it is only repaired if it shows ``span``
    (counted in ``stats()["foreign_resets"]``).
    """
    try:
        CURRENT.reset(token)
    except (ValueError, RuntimeError):
        _state.context.foreign_resets += 1
        if CURRENT.get() is span:
            CURRENT.set(parent)


def _bind(parent: Span, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run_under_parent(*args: Any, **kwargs: Any) -> Any:
        token = CURRENT.set(parent)
        try:
            return fn(*args, **kwargs)
        finally:
            CURRENT.reset(token)

    return run_under_parent


def wrap(fn: F) -> F:
    """Bind ``fn`` to the span current now, wherever and whenever it runs later.

    Use it for callbacks handed to code that tracekit does not propagate
    through on its own (a custom thread pool, a queue consumer). Outside a span
    it returns ``fn`` unchanged.

    Args:
        fn: a sync or async callable.

    Returns:
        A callable with the same behaviour whose spans nest under today's span.
    """
    parent = CURRENT.get()
    if parent is None or not callable(fn):
        return fn
    if inspect.iscoroutinefunction(fn):
        target: Callable[..., Any] = fn

        @functools.wraps(target)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            token = CURRENT.set(parent)
            try:
                return await target(*args, **kwargs)
            finally:
                CURRENT.reset(token)

        return run_async  # type: ignore[return-value]
    return functools.wraps(fn)(_bind(parent, fn))  # type: ignore[return-value]


# -- thread propagation ------------------------------------------------------------


def _thread_start(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    parent = CURRENT.get()
    if parent is not None:
        try:
            # An instance attribute shadows run() also for subclasses that
            # override it; Thread._bootstrap_inner calls self.run().
            instance.run = _bind(parent, instance.run)
        except Exception as exc:
            _guard.internal_error(exc, "context.thread_start", reraise=False)
    return wrapped(*args, **kwargs)


def _executor_submit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    parent = CURRENT.get()
    if parent is not None and args:
        args = (_bind(parent, args[0]), *args[1:])
    return wrapped(*args, **kwargs)


_PATCHES: tuple[tuple[Any, str, Callable[..., Any]], ...] = (
    (threading.Thread, "start", _thread_start),
    (concurrent.futures.ThreadPoolExecutor, "submit", _executor_submit),
)


def install_thread_propagation() -> None:
    """Make threads and thread-pool tasks started in a span nest under it (idempotent).

    ``asyncio.to_thread`` copies the context by itself; ``loop.run_in_executor``
    goes through ``ThreadPoolExecutor.submit``, so both are covered.
    """
    with _state.propagation_lock:
        if _state.context.propagating:
            return
        for owner, attr, wrapper in _PATCHES:
            wrapt.wrap_function_wrapper(owner, attr, wrapper)
        _state.context.propagating = True


def uninstall_thread_propagation() -> None:
    """Undo :func:`install_thread_propagation`, removing only our own wrapper."""
    with _state.propagation_lock:
        if not _state.context.propagating:
            return
        for owner, attr, wrapper in _PATCHES:
            current = owner.__dict__.get(attr)
            if isinstance(current, wrapt.FunctionWrapper) and current._self_wrapper is wrapper:
                setattr(owner, attr, current.__wrapped__)
        _state.context.propagating = False
