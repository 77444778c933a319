"""Tracing never raises into the application: our own failures are counted and logged once."""

from __future__ import annotations

import logging

import pytest

import tracekit
from tracekit import _guard, _state


@tracekit.tool
def work(x):
    return x * 2


def broken_clock():
    raise OSError("clock failed")


def test_internal_failure_on_the_hot_path_leaves_the_call_untraced(tracekit_capture, caplog):
    _guard.set_strict(False)  # production mode
    _state.runtime.clock = broken_clock
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        assert [work(i) for i in range(3)] == [0, 2, 4]
    assert tracekit.stats()["internal_errors"] == 3
    assert len([r for r in caplog.records if "internal error" in r.getMessage()]) == 1
    _guard.reset()


def test_internal_failure_raises_in_strict_mode(tracekit_capture):
    _state.runtime.clock = broken_clock
    with pytest.raises(OSError, match="clock failed"):
        work(1)
    _guard.reset()


@pytest.mark.parametrize("shape", ["async", "generator", "async_generator"])
async def test_internal_failure_in_every_shape_still_runs_the_code(tracekit_capture, shape):
    _guard.set_strict(False)
    _state.runtime.clock = broken_clock

    @tracekit.trace
    async def coro():
        return 1

    @tracekit.trace
    def gen():
        yield 1

    @tracekit.trace
    async def agen():
        yield 1

    if shape == "async":
        assert await coro() == 1
    elif shape == "generator":
        assert list(gen()) == [1]
    else:
        assert [x async for x in agen()] == [1]
    assert tracekit.stats()["internal_errors"] >= 1
    _guard.reset()


def test_a_raising_user_processor_is_counted_not_raised(tracekit_capture):
    def bad_processor(record):
        raise KeyError("oops")

    tracekit.init(tracekit_capture.backend, redact=bad_processor)
    assert work(1) == 2
    assert tracekit.flush() is True
    stats = tracekit.stats()
    assert stats["dropped"]["processor_error"] == 1
    assert stats["internal_errors"] == 0  # the user's code failed, not tracekit's
    assert tracekit_capture.backend.records == []
