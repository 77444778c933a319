"""The per-call wrappers, one per callable shape, around the user's function.

Sync, async, generator and async generator each get a small wrapper; all share
``_lifecycle.start_span`` / ``_close_ok`` / ``_close_error``. Our own work sits inside guards,
the user's function is called exactly once, and its exception is re-raised
with a bare ``raise`` (same object, traceback intact). Generators are driven
step by step so their span is current only while their own code runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tracekit import _guard, _serialize
from tracekit._context import CURRENT, restore
from tracekit._lifecycle import admit_root, end_span, end_with_exception, start_span
from tracekit._redact import MIN_BARE_SECRET_LEN
from tracekit._serialize import NotPlain
from tracekit._span import CLOSED, IN_CLEAN, NON_RECORDING, OUT_CLEAN, Span, set_end_reason
from tracekit._spec import Spec
from tracekit._state import runtime

_get = CURRENT.get
_set = CURRENT.set
_reset = CURRENT.reset
_snapshot = _serialize.snapshot
_freeze_sized = _serialize.freeze_sized
_copy_plain = _serialize.copy_plain
_str_is_clean = _serialize.str_is_clean
_PLAIN = _serialize._PLAIN
_INT_MIN = _serialize.INT_MIN
_INT_MAX = _serialize.INT_MAX
# Shorter strings are clean unless non-ASCII (a lone surrogate?) or holding "=" or ":"
# (a key=value secret): see _redact.
CLEAN_STR_MAX = MIN_BARE_SECRET_LEN


# -- shared open/close helpers (each guarded: our failures never reach the user) ----


def _capture(spec: Spec, instance: Any, args: Any, kwargs: Any) -> tuple[Any, int, int]:
    """The call's inputs by parameter name, frozen now; IN_CLEAN when they need no prep; size.

    A payload is clean when redaction and the caps could not change it:
    non-secret names, finite numbers within 64 bits, and strings that are
    ASCII and either too short to hide a secret or known unchanged by
    redaction (``_redact.unchanged_by_redaction``); the exporter then uses
    it as it is. Checking costs little here, where every value's type is
    looked at anyway to freeze it. Containers of plain values (chat
    messages, tool arguments) are copied (``_serialize.copy_plain``), not
    encoded; the size is the bytes the strings and copies hold, for the
    queue's byte cap.
    """
    rt = runtime
    if not (spec.capture_inputs and rt.capture_inputs):
        return None, 0, 0
    layout = spec.layout
    names = layout.names if instance is None else layout.names_bound
    if layout.simple and not kwargs and len(args) <= len(names):
        bound = dict(zip(names, args))  # noqa: B905 (the common case, inlined)
    else:
        bound = layout.bind_full(names, args, kwargs)
    clean = spec.keys_clean and not kwargs and len(bound) <= rt.clean_items
    size = 0
    limits = rt.limits
    # _serialize.freeze_sized(bound) inlined: the dict is ours, so plain values need no copy.
    for key, value in bound.items():
        t = type(value)
        if t is str:
            if len(value) >= CLEAN_STR_MAX:
                size += len(value)
                if clean and not _str_is_clean(value, limits.max_string_chars):
                    clean = False  # not searched yet (or holding a secret), or to cut
            elif clean and (not value.isascii() or "=" in value or ":" in value):
                clean = _str_is_clean(value, limits.max_string_chars)
        elif t is int:
            if not _INT_MIN <= value <= _INT_MAX:  # made a marker by the exporter
                clean = False
        elif t is float:
            if value - value != 0.0:  # NaN or an infinity: made text by the exporter
                clean = False
        elif t is dict or t is list or t is tuple:
            try:
                bound[key], more, inner = _copy_plain(value, limits)
            except NotPlain:
                return _snapshot(bound, limits), 0, 0
            size += more
            clean = clean and inner
        elif t not in _PLAIN:
            return _snapshot(bound, limits), 0, 0
    if size > limits.max_record_bytes:  # cut by the careful walk, not queued whole
        return _snapshot(bound, limits), 0, 0
    return bound, IN_CLEAN if clean else 0, size


def _close_ok(spec: Spec, span: Span, result: Any) -> None:
    if span.end_ns:  # exported as abandoned meanwhile: a record must not change after export
        return
    try:
        if spec.capture_outputs and runtime.capture_outputs:
            # The named-outputs rule: a returned dict is the outputs mapping itself.
            t = type(result)
            limits = runtime.limits
            if t in _PLAIN and (t is not str or len(result) <= limits.max_record_bytes):
                span._outputs = {"output": result}  # plain: the value itself is the snapshot
                if t is str and len(result) >= CLEAN_STR_MAX:
                    span._extra_size += len(result)
                if runtime.clean_items > 0 and (
                    (
                        t is str
                        and (
                            (  # too short to hide a secret: no call (the common answer)
                                len(result) < CLEAN_STR_MAX
                                and result.isascii()
                                and "=" not in result
                                and ":" not in result
                            )
                            or _str_is_clean(result, limits.max_string_chars)
                        )
                    )
                    or (t is int and _INT_MIN <= result <= _INT_MAX)
                    or (t is float and result - result == 0.0)
                    or t is bool
                    or result is None
                ):
                    span._flags |= OUT_CLEAN
            elif t is dict:
                span._outputs, size, clean = _freeze_sized(result, limits, owned=False)
                span._extra_size += size
                if clean and runtime.clean_items > 0:
                    span._flags |= OUT_CLEAN
            elif t is list or t is tuple:
                _close_sequence(span, result, limits)
            elif issubclass(t, dict):  # named outputs too; its own items() is bounded there
                span._outputs = _snapshot(result, limits)
            else:
                span._outputs = _snapshot({"output": result}, limits)
        end_span(span)
    except Exception as exc:
        _guard.internal_error(exc, "decorator.close")


def _close_sequence(span: Span, result: list[Any] | tuple[Any, ...], limits: Any) -> None:
    """A returned list or tuple: copied when it holds plain data, else frozen as JSON."""
    try:
        copied, size, clean = _copy_plain(result, limits)
    except NotPlain:
        span._outputs = _snapshot({"output": result}, limits)
        return
    if size > limits.max_record_bytes:  # cut by the careful walk, not queued whole
        span._outputs = _snapshot({"output": result}, limits)
        return
    span._outputs = {"output": copied}
    span._extra_size += size
    if clean and runtime.clean_items > 0:
        span._flags |= OUT_CLEAN


def _close_error(span: Span, exc: BaseException) -> None:
    try:
        end_with_exception(span, exc)
    except Exception as inner:
        _guard.internal_error(inner, "decorator.close_error")


def _close_items(spec: Spec, span: Span, items: list[Any], total: int, closed: bool) -> None:
    if span.end_ns:  # exported as abandoned meanwhile
        return
    try:
        if closed:
            span._flags |= CLOSED
            set_end_reason(span, "closed")
        if spec.capture_outputs and runtime.capture_outputs:
            if total > len(items):
                items = [*items, f"[truncated: {total} items]"]
            size = 0
            clean = len(items) <= runtime.clean_items
            for item in items:
                t = type(item)
                if t is str:
                    if len(item) >= CLEAN_STR_MAX:
                        if len(item) > runtime.limits.max_record_bytes:
                            span._outputs = _snapshot({"output": items}, runtime.limits)
                            break
                        clean = False
                    elif clean and (not item.isascii() or "=" in item or ":" in item):
                        clean = False
                    size += 16 + len(item)
                elif t is int:
                    if not _INT_MIN <= item <= _INT_MAX:
                        clean = False
                elif t is float:
                    clean = False
                elif t not in _PLAIN:
                    span._outputs = _snapshot({"output": items}, runtime.limits)
                    break
            else:
                # Plain items are their own snapshot: the list is ours, no JSON round trip.
                span._outputs = {"output": items}
                span._extra_size += size + 16 * len(items)
                if clean:
                    span._flags |= OUT_CLEAN
        end_span(span)
    except Exception as exc:
        _guard.internal_error(exc, "decorator.close_items")


def _open(spec: Spec, parent: Span | None, instance: Any, args: Any, kwargs: Any) -> Span:
    """The call's span (NON_RECORDING for a new trace sampled out, or on our own failure)."""
    try:
        if parent is not None or admit_root():
            inputs, flags, size = _capture(spec, instance, args, kwargs)
            attrs = spec.attrs and dict(spec.attrs)  # None, or the span's own copy
            return start_span(
                spec.name, spec.kind, parent, inputs, flags, attrs, spec.attrs_size + size
            )
    except Exception as exc:
        _guard.internal_error(exc, "decorator.open")
    return NON_RECORDING


def _sync(spec: Spec) -> Callable[..., Any]:
    # The hottest function in tracekit: helpers (_open too) are inlined on purpose.
    def traced_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        parent = _get()
        if parent is NON_RECORDING:
            return wrapped(*args, **kwargs)
        try:
            span: Span = NON_RECORDING  # stays so for a new trace sampled out
            if parent is not None or admit_root():
                inputs, flags, size = _capture(spec, instance, args, kwargs)
                attrs = spec.attrs and dict(spec.attrs)  # None, or the span's own copy
                span = start_span(
                    spec.name, spec.kind, parent, inputs, flags, attrs, spec.attrs_size + size
                )
        except Exception as exc:
            _guard.internal_error(exc, "decorator.open")
            span = NON_RECORDING
        token = _set(span)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            restore(token, span, parent)
            if span is not NON_RECORDING:
                _close_error(span, exc)
            raise
        try:
            _reset(token)
        except (ValueError, RuntimeError):
            restore(token, span, parent)
        if span is not NON_RECORDING:
            _close_ok(spec, span, result)
        return result

    return traced_call


def _async(spec: Spec) -> Callable[..., Any]:
    async def traced_coroutine(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        # The span opens when the coroutine starts running, in the context of
        # the task running it: never-awaited coroutines leave no open span.
        parent = _get()
        if parent is NON_RECORDING:
            return await wrapped(*args, **kwargs)
        span = _open(spec, parent, instance, args, kwargs)
        token = _set(span)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            restore(token, span, parent)
            if span is not NON_RECORDING:
                _close_error(span, exc)
            raise
        restore(token, span, parent)
        if span is not NON_RECORDING:
            _close_ok(spec, span, result)
        return result

    return traced_coroutine


def _defer(
    spec: Spec, parent: Span | None, instance: Any, args: Any, kwargs: Any
) -> tuple[Any, int, int] | None:
    """For generators: sample and freeze the inputs now (the caller may change them later).

    The span opens on first resume (:func:`_begin`); None when the new trace is
    sampled out or capturing failed.
    """
    try:
        if parent is None and not admit_root():
            return None
        return _capture(spec, instance, args, kwargs)
    except Exception as exc:
        _guard.internal_error(exc, "decorator.capture")
        return None


def _begin(spec: Spec, parent: Span | None, captured: tuple[Any, int, int] | None) -> Span:
    """Open a generator's span under ``parent`` with the inputs :func:`_defer` froze."""
    if captured is None:
        return NON_RECORDING
    inputs, flags, size = captured
    attrs = spec.attrs and dict(spec.attrs)  # None, or the span's own copy
    try:
        return start_span(
            spec.name, spec.kind, parent, inputs, flags, attrs, spec.attrs_size + size
        )
    except Exception as exc:
        _guard.internal_error(exc, "decorator.begin")
        return NON_RECORDING


def _generator(spec: Spec) -> Callable[..., Any]:
    def traced_generator_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        parent = _get()
        if parent is NON_RECORDING:
            return wrapped(*args, **kwargs)
        inputs = _defer(spec, parent, instance, args, kwargs)
        try:
            gen = wrapped(*args, **kwargs)  # runs no user code: only binds arguments
        except BaseException as exc:
            span = _begin(spec, parent, inputs)
            if span is not NON_RECORDING:
                _close_error(span, exc)
            raise
        return _drive(spec, parent, inputs, gen)

    return traced_generator_call


def _drive(spec: Spec, parent: Span | None, inputs: Any, gen: Any) -> Any:  # noqa: PLR0915 (one flat yield-from loop)
    """Delegate to ``gen`` like ``yield from``, with the span current only while it runs.

    The span opens here, on first resume. No context token is held across our
    own ``yield``: each resumption sets and resets the variable within one
    step, so closing this generator from another task or by GC cannot corrupt
    anyone's context.
    """
    span = _begin(spec, parent, inputs)
    recording = span is not NON_RECORDING
    cap = runtime.limits.max_items
    items: list[Any] = []
    total = 0
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        token = _set(span)
        try:
            if thrown is None:
                item = gen.send(sent)
            else:
                exc, thrown = thrown, None
                item = gen.throw(exc)
        except StopIteration as stop:
            restore(token, span, parent)
            if recording:
                _close_items(spec, span, items, total, closed=False)
            return stop.value
        except BaseException as exc:
            restore(token, span, parent)
            if recording:
                _close_error(span, exc)
            raise
        try:
            _reset(token)
        except (ValueError, RuntimeError):
            restore(token, span, parent)
        if total < cap:
            items.append(item)
        total += 1
        try:
            sent = yield item
        except GeneratorExit:
            # close() or garbage collection before exhaustion.
            token = _set(span)
            try:
                gen.close()
            except BaseException as exc:
                restore(token, span, parent)
                if recording:
                    _close_error(span, exc)
                raise
            restore(token, span, parent)
            if recording:
                _close_items(spec, span, items, total, closed=True)
            raise
        except BaseException as exc:
            thrown = exc


def _async_generator(spec: Spec) -> Callable[..., Any]:
    def traced_async_generator_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        parent = _get()
        if parent is NON_RECORDING:
            return wrapped(*args, **kwargs)
        inputs = _defer(spec, parent, instance, args, kwargs)
        try:
            agen = wrapped(*args, **kwargs)
        except BaseException as exc:
            span = _begin(spec, parent, inputs)
            if span is not NON_RECORDING:
                _close_error(span, exc)
            raise
        return _adrive(spec, parent, inputs, agen)

    return traced_async_generator_call


async def _adrive(spec: Spec, parent: Span | None, inputs: Any, agen: Any) -> Any:  # noqa: PLR0915
    """The async twin of :func:`_drive`: the span is current only inside ``agen``."""
    span = _begin(spec, parent, inputs)
    recording = span is not NON_RECORDING
    cap = runtime.limits.max_items
    items: list[Any] = []
    total = 0
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        token = _set(span)
        try:
            if thrown is None:
                item = await agen.asend(sent)
            else:
                exc, thrown = thrown, None
                item = await agen.athrow(exc)
        except StopAsyncIteration:
            restore(token, span, parent)
            if recording:
                _close_items(spec, span, items, total, closed=False)
            return
        except BaseException as exc:
            restore(token, span, parent)
            if recording:
                _close_error(span, exc)
            raise
        try:
            _reset(token)
        except (ValueError, RuntimeError):
            restore(token, span, parent)
        if total < cap:
            items.append(item)
        total += 1
        try:
            sent = yield item
        except GeneratorExit:
            token = _set(span)
            try:
                await agen.aclose()
            except BaseException as exc:
                restore(token, span, parent)
                if recording:
                    _close_error(span, exc)
                raise
            restore(token, span, parent)
            if recording:
                _close_items(spec, span, items, total, closed=True)
            raise
        except BaseException as exc:
            thrown = exc


MAKERS = {
    "sync": _sync,
    "async": _async,
    "generator": _generator,
    "async_generator": _async_generator,
}


def shape(fn: Any) -> str:
    """Classify a callable once: sync, async, generator or async_generator."""
    if inspect.isasyncgenfunction(fn):
        return "async_generator"
    if inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isgeneratorfunction(fn):
        return "generator"
    return "sync"
