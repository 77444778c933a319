"""``@trace`` and its kind presets: the public decorators.

``trace`` analyses the callable once (``_spec``), picks the wrapper for its
shape (``_wrappers``) and returns a ``wrapt.FunctionWrapper`` whose
``enabled`` hook is ``_state.ENABLED``: before ``init()`` (or with tracing
off) wrapt calls the function directly and none of our code runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, overload

import wrapt

from tracekit._span import SpanKind
from tracekit._spec import Spec
from tracekit._state import ENABLED
from tracekit._wrappers import MAKERS, shape

F = TypeVar("F")


class TracedFunction(wrapt.FunctionWrapper[..., Any]):
    """The wrapper ``@trace`` returns; it behaves like the function it wraps."""

    _self_spec: Spec


def _decorate(
    fn: Any,
    name: str | None,
    kind: SpanKind | str,
    capture_inputs: bool,
    capture_outputs: bool,
    ignore_inputs: Iterable[str],
    metadata: Mapping[str, Any] | None,
    tags: Iterable[str],
) -> Any:
    if isinstance(fn, TracedFunction):
        # Decorated twice: the outer decorator's options win and one span is made.
        fn = fn.__wrapped__
    inner = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
    if not callable(inner):
        raise TypeError(f"tracekit.trace expects a function or method, got {type(fn).__name__}")
    spec = Spec(inner, name, kind, capture_inputs, capture_outputs, ignore_inputs, metadata, tags)
    # wrapt tests a non-callable `enabled` by truth value (in C); its stub only names bool.
    wrapper = TracedFunction(fn, MAKERS[shape(inner)](spec), enabled=ENABLED)  # type: ignore[arg-type]
    wrapper._self_spec = spec
    return wrapper


@overload
def trace(fn: F, /) -> F: ...
@overload
def trace(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = "CHAIN",
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    ignore_inputs: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
) -> Callable[[F], F]: ...
def trace(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = "CHAIN",
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    ignore_inputs: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
) -> Any:
    """Trace every call of a function as a span.

    Works bare (``@trace``) or called (``@trace(name=..., kind=...)``), on
    functions, ``async def``, generators, async generators, methods,
    classmethods and staticmethods.

    Args:
        fn: the function (bare form).
        name: the span name; the function's qualified name by default.
        kind: a :class:`SpanKind` or its name.
        capture_inputs: record the bound arguments.
        capture_outputs: record the return value (or the yielded items).
        ignore_inputs: parameter names never recorded.
        metadata: extra attributes recorded on every span of this function.
        tags: tags recorded as the ``tags`` attribute.

    Returns:
        The traced function, or a decorator in the called form.
    """
    options = (name, kind, capture_inputs, capture_outputs, ignore_inputs, metadata, tags)
    if fn is None:
        return lambda f: _decorate(f, *options)
    return _decorate(fn, *options)


class KindDecorator(Protocol):
    """The type of ``agent``, ``tool``, ``chain``, ``llm`` and ``retriever``: bare or called."""

    @overload
    def __call__(self, fn: F, /) -> F: ...
    @overload
    def __call__(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        capture_inputs: bool = True,
        capture_outputs: bool = True,
        ignore_inputs: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
    ) -> Callable[[F], F]: ...


def _preset(kind: SpanKind, doc: str) -> KindDecorator:
    def decorator(
        fn: Any = None,
        /,
        *,
        name: str | None = None,
        capture_inputs: bool = True,
        capture_outputs: bool = True,
        ignore_inputs: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
    ) -> Any:
        return trace(
            fn,
            name=name,
            kind=kind,
            capture_inputs=capture_inputs,
            capture_outputs=capture_outputs,
            ignore_inputs=ignore_inputs,
            metadata=metadata,
            tags=tags,
        )

    decorator.__name__ = decorator.__qualname__ = kind.value.lower()
    decorator.__doc__ = doc
    return decorator


agent: KindDecorator = _preset(
    SpanKind.AGENT, "``@trace`` with kind AGENT: an agent's run or step."
)
tool: KindDecorator = _preset(SpanKind.TOOL, "``@trace`` with kind TOOL: a tool the agent calls.")
chain: KindDecorator = _preset(SpanKind.CHAIN, "``@trace`` with kind CHAIN: a pipeline step.")
llm: KindDecorator = _preset(SpanKind.LLM, "``@trace`` with kind LLM: a model call.")
retriever: KindDecorator = _preset(
    SpanKind.RETRIEVER, "``@trace`` with kind RETRIEVER: a document lookup."
)
