"""Stream proxies: end a span exactly once when a returned stream is done with.

A client call that streams returns before the work is over. The adapter
wraps the returned stream in :class:`TracedStream` (or
:class:`AsyncTracedStream`): it behaves as the stream (every attribute passes
through, as with any wrapt proxy), feeds each chunk to an
:class:`Accumulator`, and ends the span on exhaustion, ``close()``,
context-manager exit, an error, or garbage collection, whichever comes first.
An early end reads status OK with end reason "closed".
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

import wrapt

from tracekit import _guard
from tracekit._lifecycle import end_span, end_with_exception
from tracekit._span import CLOSED, NON_RECORDING, Span, set_end_reason


class Accumulator(Protocol):
    """Folds a stream's chunks into the span (an adapter supplies one per call)."""

    def add(self, chunk: Any) -> None:
        """Take one chunk, as the caller receives it."""

    def finish(self, span: Span) -> None:
        """Write what was accumulated (outputs, usage, model...) onto the span, before it ends."""


class _StreamState:
    """What a proxy needs to end its span; kept apart so GC can end it without the proxy."""

    __slots__ = ("__weakref__", "accumulator", "done", "span")

    def __init__(self, span: Span, accumulator: Accumulator) -> None:
        self.span = span
        self.accumulator = accumulator
        self.done = span is NON_RECORDING

    def add(self, chunk: Any) -> None:
        if self.done:
            return
        try:
            self.accumulator.add(chunk)
        except Exception as exc:
            _guard.internal_error(exc, "streams.add")

    def end(self, error: BaseException | None = None, *, closed: bool = False) -> None:
        if self.done:
            return
        self.done = True
        span = self.span
        try:
            self.accumulator.finish(span)
        except Exception as exc:
            _guard.internal_error(exc, "streams.finish", reraise=False)
        try:
            if error is not None:
                end_with_exception(span, error)
                return
            if closed:
                span._flags |= CLOSED
                set_end_reason(span, "closed")
            end_span(span)
        except Exception as exc:
            _guard.internal_error(exc, "streams.end", reraise=False)

    def end_collected(self) -> None:
        """The stream was garbage-collected before it was consumed or closed."""
        self.end(closed=True)


class _TracedProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """What both stream proxies share: the stream, and the state that ends its span."""

    def __init__(self, stream: Any, span: Span, accumulator: Accumulator) -> None:
        super().__init__(stream)
        state = _StreamState(span, accumulator)
        self._self_state = state
        self._self_iterator: Any = None
        if not state.done:
            weakref.finalize(self, state.end_collected)


class TracedStream(_TracedProxy):
    """A sync stream (iterator, and context manager if the stream is one) that ends a span."""

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        state: _StreamState = self._self_state
        if self._self_iterator is None:
            self._self_iterator = iter(self.__wrapped__)
        try:
            chunk = next(self._self_iterator)
        except StopIteration:
            state.end()
            raise
        except BaseException as exc:
            state.end(exc)
            raise
        state.add(chunk)
        return chunk

    def close(self) -> Any:
        """Close the stream; the span ends (as closed if chunks were left)."""
        try:
            closer = getattr(self.__wrapped__, "close", None)
            return closer() if closer is not None else None
        finally:
            self._self_state.end(closed=True)

    def __enter__(self) -> TracedStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            leave = getattr(self.__wrapped__, "__exit__", None)
            return leave(exc_type, exc, tb) if leave is not None else None
        finally:
            self._self_state.end(exc, closed=exc is None)


class AsyncTracedStream(_TracedProxy):
    """The async twin of :class:`TracedStream` (async iterator and async context manager)."""

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        state: _StreamState = self._self_state
        if self._self_iterator is None:
            self._self_iterator = self.__wrapped__.__aiter__()
        try:
            chunk = await self._self_iterator.__anext__()
        except StopAsyncIteration:
            state.end()
            raise
        except BaseException as exc:
            state.end(exc)
            raise
        state.add(chunk)
        return chunk

    async def close(self) -> Any:
        """Close the stream (``close`` or ``aclose``, whichever it has)."""
        try:
            closer = getattr(self.__wrapped__, "close", None) or getattr(
                self.__wrapped__, "aclose", None
            )
            if closer is not None:
                result = closer()
                if hasattr(result, "__await__"):
                    return await result
                return result
            return None
        finally:
            self._self_state.end(closed=True)

    async def aclose(self) -> Any:
        """Alias of :meth:`close` for async-generator-like streams."""
        return await self.close()

    async def __aenter__(self) -> AsyncTracedStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            leave = getattr(self.__wrapped__, "__aexit__", None)
            return (await leave(exc_type, exc, tb)) if leave is not None else None
        finally:
            self._self_state.end(exc, closed=exc is None)
