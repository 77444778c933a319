"""Exact accounting: created == exported + lost + pending, in every path (#12 item 6).

``lost`` is the sum of ``stats()["dropped"]`` without the two marks: ``oversize``
(a record cut to the size cap, still exported) and ``abandoned`` (a span ended
by the open-span caps, still exported). Every other reason counts spans that
no backend got whole. The identity must hold at any moment, not only once the
exporter is idle: with a batch in flight, after ``shutdown()`` gave up on a
hung backend, and after that backend finally returns.
"""

from __future__ import annotations

import random
import threading

import pytest

import tracekit
from tracekit.backends import BatchDropped, MemoryBackend, StorageFull

MARKS = ("oversize", "abandoned")


def lost(dropped: dict[str, int]) -> int:
    return sum(n for reason, n in dropped.items() if reason not in MARKS)


def assert_exact() -> dict:
    stats = tracekit.stats()
    assert stats["created"] == stats["exported"] + lost(stats["dropped"]) + stats["pending"], stats
    return stats


_threads_before: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _note_threads():
    _threads_before.clear()
    _threads_before.update(threading.enumerate())


def join_exporter() -> None:
    """Wait for this test's exporter (and runner) threads to end, after shutdown."""
    for thread in threading.enumerate():
        if thread.name.startswith("tracekit-") and thread not in _threads_before:
            thread.join(10)
            assert not thread.is_alive()


class BlockingBackend(MemoryBackend):
    """Blocks in its first export() until released, then keeps the records (or raises)."""

    def __init__(self, then_raise: BaseException | None = None) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.then_raise = then_raise

    def export(self, records):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait()
            if self.then_raise is not None:
                raise self.then_raise
        super().export(records)


class RemoteBlockingBackend(BlockingBackend):
    remote = True


@tracekit.tool
def work(i=0, payload=""):
    return i


@pytest.mark.parametrize("backend_class", [BlockingBackend, RemoteBlockingBackend])
def test_a_batch_that_finishes_after_shutdown_gave_up_on_it_is_counted_once(backend_class):
    # The case: created 1,500; exported 512 + timeout 1,500 (the batch counted twice).
    backend = backend_class()
    # batch_size 32: a round takes 16 batches, 512 spans (D105)
    tracekit.init(backend, queue_max_spans=4096, export_timeout=30, batch_size=32)
    for i in range(1500):
        work(i)
    tracekit.flush(timeout=0)
    assert backend.entered.wait(10)  # the first batch of 512 is in export()
    assert tracekit.shutdown(timeout=0.2) is False
    stats = assert_exact()
    assert (stats["created"], stats["exported"], stats["pending"]) == (1500, 0, 0)
    assert stats["dropped"]["timeout"] == 1500  # the queue and the batch in flight
    backend.release.set()
    join_exporter()
    stats = assert_exact()
    # the batch got through after all: its real outcome replaced its timeout count
    # (the round in flight holds what was queued when the exporter woke: up to 512)
    taken = len(backend.records)
    assert 0 < taken <= 512
    assert (stats["exported"], stats["dropped"]["timeout"]) == (taken, 1500 - taken)


def test_a_batch_that_fails_after_shutdown_gave_up_on_it_is_counted_under_its_reason():
    backend = BlockingBackend(then_raise=RuntimeError("late failure"))
    tracekit.init(backend, batch_size=32)  # rounds of 16 batches: 512 spans (D105)
    for i in range(600):
        work(i)
    tracekit.flush(timeout=0)
    assert backend.entered.wait(10)
    tracekit.shutdown(timeout=0.2)
    backend.release.set()
    join_exporter()
    stats = assert_exact()
    # the round in flight holds what was queued when the exporter woke: up to 512
    failed = stats["dropped"]["backend_error"]
    assert 0 < failed <= 512
    assert (stats["exported"], stats["dropped"]["timeout"]) == (0, 600 - failed)


def test_pending_counts_the_batch_in_flight():
    backend = BlockingBackend()
    tracekit.init(backend)
    try:
        for i in range(10):
            work(i)
        tracekit.flush(timeout=0)
        assert backend.entered.wait(10)
        stats = assert_exact()  # mid-export: neither queued nor exported yet
        assert (stats["pending"], stats["exported"]) == (10, 0)
    finally:
        backend.release.set()
    assert tracekit.flush() is True
    assert assert_exact()["exported"] == 10


def test_marks_are_not_losses_oversize_and_abandoned_spans_are_exported():
    backend = MemoryBackend()
    tracekit.init(backend, max_record_bytes=4096, max_span_age_s=0, redact=False)
    work(1, payload="x" * 20_000)  # cut to the record cap, exported
    with tracekit.span("left open"):  # past the age cap at the exporter's next round
        tracekit.flush()
    tracekit.flush()
    stats = assert_exact()
    assert stats["dropped"]["oversize"] == 1
    assert stats["dropped"]["abandoned"] == 1
    assert stats["exported"] == stats["created"] == 2
    assert lost(stats["dropped"]) == 0
    assert len(backend.records) == 2


def test_filtered_and_processor_errors_are_counted_once_each():
    def processor(record):
        i = record["inputs"].get("i", 0)
        if i % 3 == 1:
            return None
        if i % 3 == 2:
            raise ValueError("bad record")
        return record

    tracekit.init(MemoryBackend(), redact=processor)
    for i in range(9):
        work(i)
    tracekit.flush()
    stats = assert_exact()
    assert (stats["exported"], stats["dropped"]["filtered"]) == (3, 3)
    assert stats["dropped"]["processor_error"] == 3


def test_queue_full_and_after_shutdown_are_counted_in_created():
    backend = BlockingBackend()
    tracekit.init(backend, queue_max_spans=5)
    for i in range(3):
        work(i)
    tracekit.flush(timeout=0)
    assert backend.entered.wait(10)
    for i in range(20):
        work(i)
    assert_exact()
    backend.release.set()
    # drained first: a root started while the queue is full is refused whole (D109)
    assert tracekit.flush(timeout=10)
    with tracekit.span("ends after shutdown"):
        tracekit.shutdown()
    stats = assert_exact()
    assert stats["dropped"]["queue_full"] == 15
    assert stats["dropped"]["after_shutdown"] == 1
    assert stats["exported"] == 8


def test_several_failing_backends_count_each_span_once():
    class Partial(MemoryBackend):
        def export(self, records):
            raise BatchDropped("rejected", 2)

    class Raising(MemoryBackend):
        def export(self, records):
            raise RuntimeError("down")

    tracekit.init([MemoryBackend(), Partial()])
    for i in range(5):
        work(i)
    tracekit.flush()
    stats = assert_exact()
    assert (stats["exported"], stats["dropped"]["rejected"]) == (3, 2)
    tracekit.init([Raising(), Partial(), MemoryBackend()])  # overlapping losses
    for i in range(5):
        work(i)
    tracekit.flush()
    stats = assert_exact()
    assert (stats["exported"], stats["dropped"]["backend_error"]) == (0, 5)


def test_spans_a_backend_loses_after_accepting_them_move_from_exported():
    class Spooling(MemoryBackend):
        def __init__(self):
            super().__init__()
            self.dropped_later = {}

    backend = Spooling()
    tracekit.init(backend)
    for i in range(5):
        work(i)
    tracekit.flush()
    backend.dropped_later["rejected"] = 2  # refused later, when replayed
    stats = assert_exact()
    assert (stats["exported"], stats["dropped"]["rejected"]) == (3, 2)


# -- every path at once, seeded ------------------------------------------------------


class Chaotic(MemoryBackend):
    """Per batch, at random: takes it, raises, drops part of it, or is full."""

    def __init__(self, rng: random.Random, remote: bool = False) -> None:
        super().__init__()
        self.rng = random.Random(rng.random())
        self.remote = remote

    def export(self, records):
        roll = self.rng.random()
        if roll < 0.15:
            raise RuntimeError("down")
        if roll < 0.25:
            raise StorageFull("full")
        if roll < 0.4:
            raise BatchDropped("rejected", self.rng.randint(0, len(records)))
        if roll < 0.45:
            raise BatchDropped("unreachable", counts={"unreachable": 1, "timeout": 1})
        super().export(records)


@pytest.mark.parametrize("seed", range(24))
def test_created_equals_exported_plus_lost_plus_pending_in_every_path(seed):
    rng = random.Random(seed)
    blocker = (RemoteBlockingBackend if rng.random() < 0.3 else BlockingBackend)()
    backends = [Chaotic(rng, remote=rng.random() < 0.3) for _ in range(rng.randint(0, 2))]
    hang = rng.random() < 0.5  # the blocker holds a batch until after shutdown
    if hang:
        backends.insert(rng.randint(0, len(backends)), blocker)
    elif not backends:
        backends = [MemoryBackend()]

    picky = random.Random(rng.random())  # the exporter thread's own

    def processor(record):
        roll = picky.random()
        if roll < 0.05:
            return None
        if roll < 0.1:
            raise ValueError("bad record")
        return record

    tracekit.init(
        backends,
        queue_max_spans=rng.choice([20, 100, 2048]),
        batch_size=rng.choice([1, 7, 64, 512]),
        max_record_bytes=rng.choice([4096, 1 << 20]),
        max_span_age_s=rng.choice([0, 3600]),
        redact=processor if rng.random() < 0.5 else True,
        export_timeout=30,
    )
    try:
        with tracekit.span("outer"):  # may be abandoned, or end after shutdown
            for step in range(rng.randint(1, 6)):
                for i in range(rng.randint(0, 120)):
                    big = rng.random() < 0.05
                    work(i, payload="y" * (20_000 if big else rng.randint(0, 50)))
                assert_exact()
                if rng.random() < 0.5:
                    tracekit.flush(timeout=rng.choice([0, 0.05] if hang else [0, 5]))
                    assert_exact()
            tracekit.shutdown(timeout=rng.choice([0.05, 0.2]) if hang else 5)
            assert_exact()
            work(-1)  # untraced after shutdown
        assert_exact()
    finally:
        blocker.release.set()
    join_exporter()
    stats = assert_exact()
    assert stats["pending"] == 0
    assert stats["exported"] >= 0
    assert all(n >= 0 for n in stats["dropped"].values()), stats
