"""``init(on_full=...)``: what a traced call does when the export queue is full (#13 item 5).

The default, ``"drop"``, never waits: the span is dropped and counted. A batch
job that prefers completeness asks for ``"wait"``: the call waits for room, at
most ``flush_timeout`` seconds, then drops and counts like the default.
"""

from __future__ import annotations

import threading

import pytest

import tracekit
from tracekit.backends import MemoryBackend


@tracekit.trace
def work(i: int) -> int:
    return i


class GatedBackend(MemoryBackend):
    """Holds every export() until ``gate`` opens; counts the calls that entered."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def export(self, records):
        self.entered.set()
        self.gate.wait()
        super().export(records)


def test_wait_drops_nothing_with_a_queue_far_smaller_than_the_job():
    backend = MemoryBackend()
    # 4 spans of room for 5,000 spans: without waiting, a tight loop drops most of them
    tracekit.init(backend, queue_max_spans=4, batch_size=2, on_full="wait")
    for i in range(5_000):
        assert work(i) == i
    assert tracekit.flush(timeout=30)
    stats = tracekit.stats()
    assert stats["dropped"]["queue_full"] == 0
    assert stats["exported"] == 5_000
    assert sorted(r["inputs"]["i"] for r in backend.records) == list(range(5_000))
    assert stats["config"]["on_full"] == "wait"


def test_wait_is_bounded_by_flush_timeout_then_drops_and_counts():
    backend = GatedBackend()
    tracekit.init(backend, queue_max_spans=2, batch_size=1, on_full="wait", flush_timeout=0.05)
    try:
        work(0)
        assert backend.entered.wait(10)  # the exporter is stuck inside export()
        work(1)
        work(2)  # the queue holds 2 now
        assert work(3) == 3  # no room will come: the call returns after its bound
        assert work(4) == 4
        stats = tracekit.stats()
        assert stats["dropped"]["queue_full"] == 2
        assert stats["created"] == 5
    finally:
        backend.gate.set()
    assert tracekit.flush(timeout=10)
    assert sorted(r["inputs"]["i"] for r in backend.records) == [0, 1, 2]


def test_the_default_never_waits():
    backend = GatedBackend()
    # a flush_timeout no test would sit through: a wait would show as a hang (pytest-timeout)
    tracekit.init(backend, queue_max_spans=2, batch_size=1, flush_timeout=3600)
    try:
        work(0)
        assert backend.entered.wait(10)
        for i in range(1, 10):
            work(i)
        stats = tracekit.stats()
        assert stats["dropped"]["queue_full"] == 7
        assert stats["config"]["on_full"] == "drop"
    finally:
        backend.gate.set()


def test_a_waiting_call_is_released_by_shutdown():
    backend = GatedBackend()
    tracekit.init(backend, queue_max_spans=1, batch_size=1, on_full="wait", flush_timeout=3600)
    work(0)
    assert backend.entered.wait(10)
    work(1)  # fills the queue
    done = threading.Event()

    def waiter() -> None:
        work(2)  # waits for room
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        tracekit.shutdown(timeout=0.1)  # gives up on the stuck backend
        assert done.wait(10), "shutdown did not release the waiting call"
    finally:
        backend.gate.set()
        thread.join(10)
    stats = tracekit.stats()
    assert (
        stats["created"]
        == stats["exported"]
        + sum(
            n for reason, n in stats["dropped"].items() if reason not in ("oversize", "abandoned")
        )
        + stats["pending"]
    )


@pytest.mark.parametrize("bad", ["block", "", None, 1])
def test_on_full_must_be_drop_or_wait(bad):
    with pytest.raises(ValueError, match="on_full"):
        tracekit.init(MemoryBackend(), on_full=bad)
