"""Any backend can say why it dropped spans: ``BatchDropped`` and ``dropped_later``."""

from __future__ import annotations

import tracekit
from tracekit.backends import BatchDropped


class PickyBackend:
    """Keeps spans with an even input, refuses the others (and says why)."""

    def __init__(self):
        self.kept = []
        self.dropped_later = {}

    def export(self, records):
        keep = [r for r in records if r["inputs"]["i"] % 2 == 0]
        self.kept.extend(keep)
        if len(keep) < len(records):
            raise BatchDropped("rejected", len(records) - len(keep), "odd inputs")

    def flush(self):
        pass

    def shutdown(self):
        pass


@tracekit.tool
def step(i: int) -> int:
    return i


def test_the_dropped_part_of_a_batch_is_counted_under_the_backends_reason():
    backend = PickyBackend()
    tracekit.init(backend)
    for i in range(5):
        step(i)
    assert tracekit.flush(timeout=5) is False  # something was not delivered
    stats = tracekit.stats()
    assert stats["dropped"]["rejected"] == 2
    assert stats["exported"] == 3
    assert stats["dropped"]["backend_error"] == 0
    assert len(backend.kept) == 3


def test_a_new_reason_gets_its_own_key_and_count_none_means_the_whole_batch():
    class Refusing(PickyBackend):
        def export(self, records):
            raise BatchDropped("quota_exceeded")

    tracekit.init(Refusing())
    step(1)
    step(2)
    tracekit.flush(timeout=5)
    assert tracekit.stats()["dropped"]["quota_exceeded"] == 2
    assert tracekit.stats()["exported"] == 0


def test_spans_a_backend_lost_after_accepting_them_are_added_to_the_stats():
    backend = PickyBackend()
    tracekit.init(backend)
    backend.dropped_later["rejected"] = 4
    backend.dropped_later["expired"] = 1
    dropped = tracekit.stats()["dropped"]
    assert dropped["rejected"] == 4
    assert dropped["expired"] == 1


def test_a_batch_lost_for_several_reasons_is_counted_under_each():
    class Mixed(PickyBackend):
        def export(self, records):
            raise BatchDropped(
                "rejected", detail="two reasons", counts={"rejected": 1, "timeout": 2}
            )

    tracekit.init(Mixed())
    for i in range(5):
        step(i)
    tracekit.flush(timeout=5)
    stats = tracekit.stats()
    assert (stats["dropped"]["rejected"], stats["dropped"]["timeout"]) == (1, 2)
    assert stats["exported"] == 2


def test_with_several_backends_partial_drops_add_up_and_overlaps_count_the_batch_once():
    class Partial(PickyBackend):
        def export(self, records):
            raise BatchDropped("rejected", 1)

    class Refusing(PickyBackend):
        def export(self, records):
            raise BatchDropped("unreachable")

    tracekit.init([PickyBackend(), Partial()])  # 2 odd inputs + 1: three spans lost
    for i in range(4):
        step(i)
    tracekit.flush(timeout=5)
    stats = tracekit.stats()
    assert (stats["dropped"]["rejected"], stats["exported"]) == (3, 1)

    tracekit.init([Refusing(), Partial()])  # the whole batch, and one more: counted once
    for i in range(4):
        step(i)
    tracekit.flush(timeout=5)
    stats = tracekit.stats()
    assert stats["dropped"]["backend_error"] == 4
    assert stats["exported"] == 0


def test_a_remote_backend_gets_the_rest_of_a_round_after_a_request_lost_part_of_its_own():
    class Remote(PickyBackend):
        remote = True

        def __init__(self):
            super().__init__()
            self.requests = []

        def export(self, records):
            self.requests.append(len(records))
            if len(self.requests) == 1:  # one record of the first request stored as a placeholder
                self.kept.extend(records)
                raise BatchDropped("unencodable", 1, "1 placeholder")
            self.kept.extend(records)

    backend = Remote()
    tracekit.init(backend, batch_size=64, queue_max_spans=10_000)
    for i in range(1_000):
        step(i)
    tracekit.flush(timeout=10)
    stats = tracekit.stats()
    assert len(backend.kept) == 1_000  # every request of the round was sent
    assert max(backend.requests) <= 64
    assert stats["dropped"]["unencodable"] == 1
    assert stats["exported"] == 999
