"""The export pipeline: failing, hanging and slow backends, caps, fork, exit."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import tracekit
from tracekit.backends import MemoryBackend


class RaisingBackend(MemoryBackend):
    def __init__(self, exc=RuntimeError("disk on fire")):
        super().__init__()
        self.exc = exc
        self.calls = 0

    def export(self, records):
        self.calls += 1
        raise self.exc


class BlockingBackend(MemoryBackend):
    """Blocks inside export() until released; tells when it got there."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def export(self, records):
        self.entered.set()
        self.release.wait()
        super().export(records)


@tracekit.tool
def work(i=0):
    return i


def test_stats_has_the_documented_keys():
    tracekit.init("memory")
    stats = tracekit.stats()
    for key in (
        "created",
        "exported",
        "pending",
        "open_spans",
        "worker_restarts",
        "internal_errors",
    ):
        assert isinstance(stats[key], int), key
    assert set(stats["dropped"]) >= {
        "queue_full",
        "backend_error",
        "timeout",
        "storage_full",
        "oversize",
        "after_shutdown",
        "abandoned",
    }
    assert stats["config"]["queue_max_spans"] == 100_000
    assert stats["config"]["queue_max_bytes"] == 64 * 1024 * 1024
    assert stats["config"]["batch_size"] == 512
    assert stats["config"]["export_interval"] == 1.0
    assert stats["config"]["flush_timeout"] == 5.0
    assert stats["config"]["on_full"] == "drop"


def test_spans_are_exported_and_counted(tracekit_capture):
    for i in range(10):
        work(i)
    assert len(tracekit_capture.records) == 10
    stats = tracekit.stats()
    assert (stats["created"], stats["exported"], stats["pending"]) == (10, 10, 0)


def test_raising_backend_never_reaches_the_app_and_is_counted_and_logged_once(caplog):
    backend = RaisingBackend()
    tracekit.init(backend)
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        for i in range(3):
            assert work(f"payload-{i}") == f"payload-{i}"
            assert tracekit.flush() is False  # the backend failed: flush says so
    stats = tracekit.stats()
    assert stats["dropped"]["backend_error"] == 3
    assert stats["exported"] == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "tracekit"]
    assert len(messages) == 1
    assert "RaisingBackend" in messages[0]
    assert "payload" not in messages[0]  # never log traced data


class RemoteBlockingBackend(BlockingBackend):
    remote = True  # talks to the network: each call is bounded by export_timeout


def test_a_remote_backend_call_is_bounded_by_the_export_timeout():
    hung = RemoteBlockingBackend()
    good = MemoryBackend()
    tracekit.init([hung, good], export_timeout=0.2)
    try:
        work(1)
        assert tracekit.flush() is False
        work(2)  # the hung backend has not returned: skipped at once, counted
        assert tracekit.flush() is False
        assert [r["inputs"]["i"] for r in good.records] == [1, 2]
        assert tracekit.stats()["dropped"]["timeout"] == 2
        assert tracekit.stats()["config"]["export_timeout"] == 0.2
    finally:
        hung.release.set()
    assert hung.entered.is_set()


def test_one_failing_backend_does_not_stop_the_others():
    good = MemoryBackend()
    tracekit.init([RaisingBackend(), good])
    work(1)
    tracekit.flush()
    assert len(good.records) == 1


def test_hanging_backend_blocks_neither_the_app_nor_flush_past_its_timeout():
    backend = BlockingBackend()
    tracekit.init(backend, queue_max_spans=5)
    try:
        work(0)
        started = time.monotonic()
        assert tracekit.flush(timeout=0.3) is False
        assert time.monotonic() - started >= 0.3
        assert backend.entered.is_set()
        for i in range(20):  # the app keeps running while the exporter is stuck
            assert work(i) == i
        assert tracekit.stats()["dropped"]["queue_full"] == 15
    finally:
        backend.release.set()
    assert tracekit.flush() is True
    assert len(backend.records) == 6


def test_queue_is_bounded_by_bytes_too():
    backend = BlockingBackend()
    tracekit.init(backend, queue_max_bytes=20_000)
    try:
        work(0)
        tracekit.flush(timeout=0)
        assert backend.entered.wait(5)
        for _ in range(10):
            work("x" * 5_000)
        assert tracekit.stats()["dropped"]["queue_full"] >= 6
    finally:
        backend.release.set()


def test_dead_exporter_thread_is_restarted_and_counted():
    class DiesOnce(MemoryBackend):
        died = False

        def export(self, records):
            if not self.died:
                self.died = True
                raise SystemExit  # a BaseException ends the exporter thread
            super().export(records)

    backend = DiesOnce()
    tracekit.init(backend)
    work(1)
    assert tracekit.flush(timeout=2) is False or True  # the batch died with the thread
    work(2)
    assert tracekit.flush() is True
    stats = tracekit.stats()
    assert stats["worker_restarts"] == 1
    assert stats["dropped"]["backend_error"] == 1
    assert [r["inputs"]["i"] for r in backend.records] == [2]


def test_exporter_thread_is_never_traced():
    traced_in_backend = []

    class TracingBackend(MemoryBackend):
        def export(self, records):
            traced_in_backend.append(work(99))  # e.g. an instrumented HTTP client
            traced_in_backend.append(tracekit.current_span().is_recording)
            super().export(records)

    backend = TracingBackend()
    tracekit.init(backend)
    work(1)
    tracekit.flush()
    tracekit.flush()
    assert [r["inputs"]["i"] for r in backend.records] == [1]
    assert traced_in_backend == [99, False]


def test_flush_called_from_a_backend_returns_instead_of_deadlocking():
    results = []

    class FlushingBackend(MemoryBackend):
        def export(self, records):
            results.append(tracekit.flush(timeout=1))

    tracekit.init(FlushingBackend())
    work(1)
    assert tracekit.flush() is True
    assert results == [False]


def test_backends_are_flushed_and_shut_down():
    class Recorder(MemoryBackend):
        flushed = 0

        def flush(self):
            self.flushed += 1

    backend = Recorder()
    tracekit.init(backend)
    work(1)
    tracekit.flush()
    assert backend.flushed >= 1
    assert tracekit.shutdown() is True
    assert backend.shut_down


def test_spans_after_shutdown_are_dropped_and_counted_then_init_works_again():
    first = MemoryBackend()
    tracekit.init(first)
    with tracekit.span("open across shutdown"):
        work(1)
        tracekit.shutdown()
    work(2)
    assert [r["name"] for r in first.records] == ["work"]
    assert tracekit.stats()["dropped"]["after_shutdown"] == 1  # the open span; work(2) is untraced
    second = MemoryBackend()
    tracekit.init(second)
    work(3)
    tracekit.flush()
    assert [r["inputs"]["i"] for r in second.records] == [3]


def test_init_again_flushes_the_old_pipeline_first(tmp_path):
    first = tmp_path / "first.jsonl"
    tracekit.init(f"jsonl:///{first}", export_interval=3600)
    work(1)
    tracekit.init("memory")
    lines = first.read_text().splitlines()
    assert [json.loads(line)["inputs"] for line in lines] == [{"i": 1}]


def test_flush_on_root_end_exports_before_the_root_returns():
    backend = MemoryBackend()
    tracekit.init(backend, flush_on_root_end=True, export_interval=3600)

    @tracekit.agent
    def handler():
        work(1)
        assert backend.records == []  # children wait for their root
        return "done"

    handler()
    assert [r["name"] for r in backend.records] == ["work", "handler"]


def test_spans_left_open_past_the_cap_are_exported_as_abandoned():
    backend = MemoryBackend()
    tracekit.init(backend, max_open_spans=2)
    scopes = [tracekit.span(f"open-{i}") for i in range(4)]
    for scope in scopes:
        scope.__enter__()
    tracekit.flush()
    abandoned = [
        r for r in backend.records if r["attributes"].get("tracekit.end_reason") == "abandoned"
    ]
    assert sorted(r["name"] for r in abandoned) == ["open-0", "open-1"]
    assert all(r["error"]["type"] == "Abandoned" for r in abandoned)
    assert tracekit.stats()["dropped"]["abandoned"] == 2
    for scope in reversed(scopes):
        scope.__exit__(None, None, None)
    tracekit.flush()
    assert sorted(r["name"] for r in backend.records) == ["open-0", "open-1", "open-2", "open-3"]


def test_spans_older_than_the_age_cap_are_abandoned():
    backend = MemoryBackend()
    tracekit.init(backend, max_span_age_s=0)
    scope = tracekit.span("stale")
    scope.__enter__()
    tracekit.flush()
    assert backend.records[0]["attributes"]["tracekit.end_reason"] == "abandoned"
    scope.__exit__(None, None, None)


# -- process lifecycle (subprocesses) ---------------------------------------------------


def run_python(code: str, tmp_path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_pending_spans_are_flushed_at_interpreter_exit(tmp_path):
    result = run_python(
        """
        import tracekit
        tracekit.init("jsonl:///spans.jsonl", export_interval=3600)

        @tracekit.tool
        def step(i):
            return i

        for i in range(100):
            step(i)
        print(tracekit.stats()["pending"])
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == 100  # still queued when the script ended
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    assert len(lines) == 100


def test_exit_with_a_hung_backend_is_bounded_and_counts_what_it_drops(tmp_path):
    result = run_python(
        """
        import atexit, threading, tracekit

        def report():  # registered first, so it runs after tracekit's exit flush
            print(tracekit.stats()["dropped"]["timeout"] + tracekit.stats()["pending"])
        atexit.register(report)

        class Hung:
            def export(self, records):
                threading.Event().wait()
            def flush(self): pass
            def shutdown(self): pass

        tracekit.init(Hung(), flush_timeout=0.5)

        @tracekit.tool
        def step(i):
            return i

        for i in range(10):
            step(i)
        tracekit.flush(timeout=0)
        for i in range(10):
            step(i)
        """,
        tmp_path,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_starts_fresh_and_never_exports_the_parent_queue(tmp_path):
    path = tmp_path / "spans.jsonl"
    tracekit.init(f"jsonl:///{path}", export_interval=3600)
    work("before fork")  # queued in the parent, not exported yet
    with tracekit.span("open at fork"):
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                stats = tracekit.stats()
                work("in child")
                tracekit.flush()
                code = 0 if (stats["pending"], stats["created"]) == (0, 0) else 2
            finally:
                tracekit._state.config.pipeline = None  # skip the inherited exit handlers' work
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tracekit.flush()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    names = sorted((r["name"], json.dumps(r["inputs"])) for r in records)
    assert names == [
        ("open at fork", "{}"),
        ("work", '{"i": "before fork"}'),
        ("work", '{"i": "in child"}'),
    ]
    child = next(r for r in records if r["inputs"] == {"i": "in child"})
    parent_open = next(r for r in records if r["name"] == "open at fork")
    assert child["parent_id"] == parent_open["span_id"]  # nested, but exported once, by the parent


def test_flush_called_from_a_remote_backend_returns_at_once():
    results = []

    class RemoteFlushing(MemoryBackend):
        remote = True

        def export(self, records):
            results.append(tracekit.flush(timeout=30))

    tracekit.init(RemoteFlushing(), export_timeout=60)
    work(1)
    assert tracekit.flush() is True
    assert results == [False]


def test_backend_shutdown_runs_untraced():
    seen = []

    class Tracing(MemoryBackend):
        def shutdown(self):
            seen.append((work(1), tracekit.current_span().is_recording))

    backend = Tracing()
    tracekit.init(backend)
    tracekit.shutdown()
    assert seen == [(1, False)]
    assert backend.records == []


def test_flush_reports_a_batch_lost_with_the_exporter_thread():
    class DiesOnce(MemoryBackend):
        died = False

        def export(self, records):
            if not self.died:
                self.died = True
                raise SystemExit
            super().export(records)

    tracekit.init(DiesOnce())
    work(1)
    assert tracekit.flush() is False


def test_an_abandoned_span_is_not_changed_when_its_call_finally_ends():
    backend = MemoryBackend()
    tracekit.init(backend, max_open_spans=1, redact=False)
    release = threading.Event()
    abandoned = threading.Event()

    @tracekit.tool
    def slow():
        abandoned.wait(10)
        return "late result"

    worker = threading.Thread(target=slow)
    worker.start()
    with tracekit.span("newer"):  # pushes the open-span count past the cap of 1
        tracekit.flush()
    for _ in range(100):  # bounded: the exporter abandons `slow` on its next pass
        if any(r["name"] == "slow" for r in backend.records):
            break
        tracekit.flush()
    abandoned.set()
    worker.join(10)
    release.set()
    tracekit.flush()
    (record,) = [r for r in backend.records if r["name"] == "slow"]
    assert record["attributes"]["tracekit.end_reason"] == "abandoned"
    assert record["outputs"] == {}
