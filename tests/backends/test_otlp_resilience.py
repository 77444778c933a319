"""The otlp backend when the receiver misbehaves: the application never notices.

Down (a closed port), slow (answers after the client's timeout), 429 with
Retry-After, 503, 400: the traced calls return normally, ``flush(timeout)``
returns, and what was not delivered is counted by reason in
``tracekit.stats()``; with the spool on, it is delivered once the receiver
is back.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

import tracekit
from tracekit.backends.otlp import OtlpBackend

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")


@tracekit.tool
def step(i: int) -> int:
    return i * 2


def traced_calls(n=3):
    """The application's own work: its results must be unaffected by the backend."""
    assert [step(i) for i in range(n)] == [i * 2 for i in range(n)]


def dropped():
    return {k: v for k, v in tracekit.stats()["dropped"].items() if v}


def test_receiver_down_drops_counted_as_unreachable(closed_port_url):
    tracekit.init(OtlpBackend(closed_port_url + "/v1/traces", timeout=0.5))
    traced_calls(3)
    assert tracekit.flush(timeout=5) is False
    assert dropped() == {"unreachable": 3}
    assert tracekit.stats()["exported"] == 0


def test_slow_receiver_times_out_within_the_budget_and_the_app_goes_on(receiver):
    receiver.gate = threading.Event()  # every request waits until the test releases it
    try:
        tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=0.5))
        traced_calls(2)
        assert tracekit.flush(timeout=5) is False
        assert dropped() == {"timeout": 2}
        traced_calls(1)  # still tracing, still returning
    finally:
        receiver.gate.set()
    receiver.gate = None
    assert tracekit.flush(timeout=5) is True
    # the receiver did process the two timed-out requests, late: the client had
    # given up on them (counted as timeout); the third span came through on time
    assert len(receiver.wait_for_spans(3)) == 3


def test_429_with_a_short_retry_after_is_retried_and_delivered(receiver):
    receiver.answer(429, {"Retry-After": "1"})
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5))
    traced_calls(2)
    assert tracekit.flush(timeout=8) is True
    assert [r["status"] for r in receiver.requests] == [429, 200]
    assert len(receiver.wait_for_spans(2)) == 2
    assert dropped() == {}


def test_retry_after_beyond_the_budget_holds_the_backend_back(receiver):
    receiver.answer(429, {"Retry-After": "120"})
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=2))
    traced_calls(2)
    assert tracekit.flush(timeout=5) is False
    traced_calls(1)
    assert tracekit.flush(timeout=5) is False
    # asked to wait 120 s, the backend did not knock again
    assert [r["status"] for r in receiver.requests] == [429]
    assert dropped() == {"unavailable": 3}


def test_503_until_the_budget_runs_out_is_counted_as_unavailable(receiver):
    receiver.answer(503, times=100)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=1.5))
    traced_calls(2)
    assert tracekit.flush(timeout=5) is False
    assert dropped() == {"unavailable": 2}
    assert len(receiver.requests) >= 2  # the exporter retried with backoff


def test_400_is_rejected_at_once_and_not_retried(receiver):
    receiver.answer(400)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5))
    traced_calls(2)
    assert tracekit.flush(timeout=5) is False
    assert [r["status"] for r in receiver.requests] == [400]
    assert dropped() == {"rejected": 2}
    traced_calls(1)
    assert tracekit.flush(timeout=5) is True  # the next batch is fine
    assert len(receiver.wait_for_spans(1)) == 1


def test_a_batch_lost_for_two_reasons_counts_each_spans_under_its_own(receiver):
    # one request per span: the first is refused, the second asks for an hour's
    # quiet (Retry-After), so the third is held back without a request
    receiver.answer(400)
    receiver.answer(429, {"Retry-After": "3600"})
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5, max_request_bytes=1))
    traced_calls(3)
    assert tracekit.flush(timeout=8) is False
    assert [r["status"] for r in receiver.requests] == [400, 429]
    assert dropped() == {"rejected": 1, "unavailable": 2}


def test_the_drop_log_line_names_the_status_and_endpoint_and_no_secret(
    caplog, receiver, monkeypatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=tk-secret-123")
    receiver.answer(401)
    tracekit.init(f"otlp+http://robot:hunter2@127.0.0.1:{receiver.port}")
    traced_calls(2)
    assert tracekit.flush(timeout=8) is False
    assert receiver.requests[0]["headers"]["x-api-key"] == "tk-secret-123"
    (line,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert "HTTP 401" in line
    assert f"http://127.0.0.1:{receiver.port}/v1/traces" in line
    for secret in ("tk-secret-123", "hunter2", "robot"):
        assert secret not in line


def test_failures_are_logged_once_through_the_tracekit_logger(caplog, closed_port_url):
    tracekit.init(OtlpBackend(closed_port_url + "/v1/traces", timeout=0.5))
    for _ in range(3):
        traced_calls(1)
        tracekit.flush(timeout=5)
    ours = [r for r in caplog.records if r.name == "tracekit" and "unreachable" in r.getMessage()]
    assert len(ours) == 1
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


# -- the spool -------------------------------------------------------------------------


def spooled_files(directory):
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_a_batch_spooled_while_down_is_sent_when_the_receiver_is_back(tmp_path, receiver_class):
    spool = tmp_path / "spool"
    first = receiver_class().start()
    port = first.port
    first.stop()  # down
    url = f"otlp+http://127.0.0.1:{port}?timeout=0.5&spool={spool}"
    tracekit.init(url)
    traced_calls(3)
    assert tracekit.flush(timeout=5) is False  # not delivered yet...
    assert dropped() == {}  # ...but not lost either
    (batch,) = spooled_files(spool)
    assert [r["name"] for r in json.loads(batch.read_text())] == ["step"] * 3
    assert oct(spool.stat().st_mode & 0o777) == "0o700"
    assert oct(batch.stat().st_mode & 0o777) == "0o600"

    with receiver_class(port) as back:
        assert tracekit.flush(timeout=5) is True
        spans = back.wait_for_spans(3)
    assert sorted(s["attributes"]["input.value"] for s in spans) == [
        '{"i":0}',
        '{"i":1}',
        '{"i":2}',
    ]
    assert spooled_files(spool) == []
    assert dropped() == {}


def test_a_spool_left_by_an_earlier_process_is_sent_with_the_next_batch(tmp_path, receiver):
    spool = tmp_path / "spool"
    receiver.answer(503, times=100)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=0.5, spool=spool))
    traced_calls(2)
    tracekit.shutdown(timeout=5)  # exits with the batch still on disk
    assert len(spooled_files(spool)) == 1

    receiver._plan.clear()  # the receiver recovers
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5, spool=spool))
    traced_calls(1)
    assert tracekit.flush(timeout=8) is True
    assert len(receiver.wait_for_spans(3)) == 3
    assert spooled_files(spool) == []


def test_the_spool_is_bounded_and_a_batch_that_does_not_fit_is_counted(tmp_path, closed_port_url):
    spool = tmp_path / "spool"
    url = closed_port_url.split("://", 1)[1]
    tracekit.init(f"otlp+http://{url}?timeout=0.5&spool={spool}&spool_max_mb=0.001")
    traced_calls(3)  # ~600 bytes: fits in 1 kB
    tracekit.flush(timeout=5)
    traced_calls(3)  # does not fit any more
    tracekit.flush(timeout=5)
    assert len(spooled_files(spool)) == 1
    assert dropped() == {"spool_full": 3}


def test_400_for_a_spooled_batch_is_counted_when_it_is_replayed(tmp_path, receiver):
    spool = tmp_path / "spool"
    receiver.answer(503, times=100)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=0.5, spool=spool))
    traced_calls(2)
    tracekit.flush(timeout=5)
    receiver._plan[:] = [(400, {})]  # the spooled batch is refused for good
    assert tracekit.flush(timeout=5) is True  # nothing left waiting
    assert spooled_files(spool) == []
    assert dropped() == {"rejected": 2}


def test_spool_from_the_environment(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("TRACEKIT_OTLP_SPOOL", "on")
    url = closed_port_url.split("://", 1)[1]
    tracekit.init(f"otlp+http://{url}?timeout=0.5")
    traced_calls(1)
    tracekit.flush(timeout=5)
    # the default place, relative to the working directory (tmp_path here)
    assert len(spooled_files(tmp_path / ".tracekit" / "otlp-spool")) == 1


def test_the_spool_and_the_folders_it_creates_are_private_and_kept_out_of_git(
    tmp_path, closed_port_url
):
    url = closed_port_url.split("://", 1)[1]
    previous = os.umask(0o022)  # the usual umask: mkdir would give 0755
    try:
        tracekit.init(f"otlp+http://{url}?timeout=0.5&spool=on")
        traced_calls(1)
        tracekit.flush(timeout=5)
    finally:
        os.umask(previous)
    store = tmp_path / ".tracekit"
    for folder in (store, store / "otlp-spool"):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder
    gitignore = store / ".gitignore"
    assert gitignore.read_text().splitlines()[-1] == "*"
    assert oct(gitignore.stat().st_mode & 0o777) == "0o600"
    # a spool under folders of its own: each is private, the topmost ignored by git
    deep = tmp_path / "var" / "spool" / "otlp"
    tracekit.init(f"otlp+http://{url}?timeout=0.5&spool={deep}")
    traced_calls(1)
    tracekit.flush(timeout=5)
    for folder in (tmp_path / "var", tmp_path / "var" / "spool", deep):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder
    assert (tmp_path / "var" / ".gitignore").exists()
    assert len(spooled_files(deep)) == 1


def test_spool_off_in_the_url_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEKIT_OTLP_SPOOL", str(tmp_path / "env-spool"))
    backend = tracekit.backends.from_url("otlp+http://127.0.0.1:9?spool=off")
    assert backend.spool is None
    backend = tracekit.backends.from_url("otlp+http://127.0.0.1:9")
    assert backend.spool.directory == tmp_path / "env-spool"


def test_a_batch_claimed_by_a_process_that_died_is_sent_again(tmp_path, receiver):
    import subprocess
    import sys

    spool = tmp_path / "spool"
    receiver.answer(503, times=100)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=0.5, spool=spool))
    traced_calls(2)
    tracekit.shutdown(timeout=5)
    (batch,) = spooled_files(spool)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    claimed = batch.with_name(f"{batch.name}.{dead.stdout.strip()}.sending")
    batch.rename(claimed)  # as if that process had died while sending it
    (spool / "00000000000000000001-1-0.json").write_text("not json")  # a damaged file

    receiver._plan.clear()
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5, spool=spool))
    assert tracekit.flush(timeout=8) is True
    assert len(receiver.wait_for_spans(2)) == 2
    assert [p.name for p in spool.iterdir()] == [".gitignore"]  # no batch left


def test_the_budget_stays_inside_the_export_timeout_and_the_env_timeout_is_capped(
    monkeypatch, receiver
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")  # milliseconds, by the spec
    assert tracekit.backends.from_url("otlp+http://127.0.0.1:9").timeout == 8
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3")
    assert tracekit.backends.from_url("otlp+http://127.0.0.1:9").timeout == 3

    receiver.gate = threading.Event()  # a receiver that never answers in time
    try:
        backend = OtlpBackend(receiver.url + "/v1/traces", timeout=30)
        tracekit.init(backend, export_timeout=1)
        assert backend.export_timeout == 1  # the runner hands the pipeline's bound over
        traced_calls(1)
        assert tracekit.flush(timeout=5) is False
        # the backend gave up inside the 1 s export timeout: counted by its own reason
        assert dropped() == {"timeout": 1}
    finally:
        receiver.gate.set()


def test_the_spool_is_replayed_right_after_a_batch_gets_through(tmp_path, receiver):
    # a batch an earlier process left; the next export that is delivered sends it too,
    # with no flush() in between
    spool = tmp_path / "spool"
    receiver.answer(503, times=100)
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=0.5, spool=spool))
    traced_calls(2)
    tracekit.shutdown(timeout=5)
    assert len(spooled_files(spool)) == 1
    receiver._plan.clear()
    backend = OtlpBackend(receiver.url + "/v1/traces", timeout=5, spool=spool)
    record = json.loads(spooled_files(spool)[0].read_text())[0]
    backend.export([{**record, "span_id": "00000000000000ff", "parent_id": None}])
    assert len(receiver.wait_for_spans(3)) == 3
    assert spooled_files(spool) == []
    assert backend.sent == 3
    backend.shutdown()


def test_the_spool_bound_from_the_environment(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("TRACEKIT_OTLP_SPOOL_MAX_MB", "0.001")
    spool = tmp_path / "spool"
    url = closed_port_url.split("://", 1)[1]
    tracekit.init(f"otlp+http://{url}?timeout=0.5&spool={spool}")
    traced_calls(3)  # ~600 bytes: fits in 1 kB
    tracekit.flush(timeout=5)
    traced_calls(3)  # does not fit any more
    tracekit.flush(timeout=5)
    assert len(spooled_files(spool)) == 1
    assert dropped() == {"spool_full": 3}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns about fork() with threads running (the receiver's); the child
# only traces, flushes and leaves with os._exit
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_is_not_held_back_by_its_parents_retry_after(receiver):
    receiver.answer(429, {"Retry-After": "3600"})
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5))
    traced_calls(1)
    assert tracekit.flush(timeout=8) is False  # the parent now waits an hour
    pid = os.fork()
    if pid == 0:  # the child: its own connections, no inherited hold
        ok = False
        try:
            step(21)
            ok = tracekit.flush(timeout=8)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (span,) = receiver.wait_for_spans(1)
    assert span["attributes"]["input.value"] == '{"i":21}'
