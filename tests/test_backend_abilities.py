"""A backend's optional abilities: typed protocols, read once at init(), typos reported."""

from __future__ import annotations

import logging

import pytest

import tracekit
from tracekit.backends import (
    Backend,
    ForkAware,
    JsonlBackend,
    LiveBackend,
    MemoryBackend,
    RemoteBackend,
    ReportsLateDrops,
    SqliteBackend,
)


class Plain:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def export(self, records):
        self.records.extend(records)

    def flush(self):
        pass

    def shutdown(self):
        pass


def test_the_shipped_backends_declare_what_they_can_do(tmp_path):
    store = SqliteBackend(str(tmp_path / "t.db"))
    assert isinstance(store, LiveBackend)
    assert isinstance(store, ForkAware)
    assert isinstance(JsonlBackend(str(tmp_path / "s.jsonl")), ForkAware)
    memory = MemoryBackend()
    assert isinstance(memory, Backend)
    assert not isinstance(memory, (LiveBackend, RemoteBackend, ForkAware, ReportsLateDrops))
    store.shutdown()


def test_a_misspelled_ability_is_reported_at_init(caplog):
    class Typo(Plain):
        def export_start(self, records):  # meant export_started
            pass

    with caplog.at_level(logging.WARNING, logger="tracekit"):
        tracekit.init(Typo())
    messages = [r.getMessage() for r in caplog.records]
    assert any("'export_start'" in m and "'export_started'" in m for m in messages), messages


def test_an_ability_of_the_wrong_type_is_refused_before_anything_changes():
    kept = Plain()
    tracekit.init(kept)

    class Odd(Plain):
        export_interval = "soon"

    with pytest.raises(ValueError, match="export_interval must be a positive number"):
        tracekit.init(Odd())

    class NotAFlag(Plain):
        remote = "yes"

    with pytest.raises(ValueError, match="remote must be True or False"):
        tracekit.init(NotAFlag())

    @tracekit.tool
    def still_traced():
        return 1

    still_traced()
    assert tracekit.flush()
    assert [r["name"] for r in kept.records] == ["still_traced"]


def test_abilities_are_read_once_at_init():
    reads = []

    class Counting(Plain):
        @property
        def export_interval(self):
            reads.append(1)
            return 0.5

    tracekit.init(Counting())

    @tracekit.tool
    def work():
        return 1

    for _ in range(20):
        work()
        tracekit.flush()
    tracekit.stats()
    assert len(reads) == 1
    assert tracekit.stats()["config"]["export_interval"] == 0.5


def test_late_drops_of_a_backend_that_declares_them_reach_stats():
    class Spooling(Plain):
        def __init__(self) -> None:
            super().__init__()
            self.dropped_later = {"rejected": 0}

    backend = Spooling()
    assert isinstance(backend, ReportsLateDrops)
    tracekit.init(backend)
    backend.dropped_later["rejected"] = 3
    assert tracekit.stats()["dropped"]["rejected"] == 3


def test_late_drops_are_read_when_stats_asks_even_if_they_came_later_or_went_odd():
    backend = Plain()
    tracekit.init(backend)
    backend.dropped_later = {"unavailable": 2}  # created after init
    assert tracekit.stats()["dropped"]["unavailable"] == 2
    backend.dropped_later = None  # a backend clearing it at shutdown
    assert tracekit.stats()["dropped"]["unavailable"] == 0


def test_a_non_finite_interval_is_refused_and_the_backends_built_for_it_are_released():
    released = []

    class Infinite(Plain):
        export_interval = float("nan")

        def shutdown(self):
            released.append(self)

    with pytest.raises(ValueError, match="export_interval"):
        tracekit.init(Infinite())
    assert len(released) == 1
