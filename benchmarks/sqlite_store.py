"""The embedded store: write throughput, and read latency over a large store.

1. Spans per second written to SQLite by the exporter thread, with 1 KB
   payloads: spans are traced with export deferred (one huge queue), then
   ``tracekit.flush()`` is timed, which is exactly the exporter's work
   (records, redaction, JSON, one transaction per 512-span batch).
2. ``ls`` first page and ``show`` of a 1,000-span trace over a store of
   100,000 traces (1,000,000 spans), built by writing records through the
   backend directly (the same code path as the exporter's, minus tracing).

Targets (issue #3): >= 50k spans/s; ls first page < 50 ms; show < 100 ms.

    python benchmarks/sqlite_store.py            # full size (about a minute)
    python benchmarks/sqlite_store.py --quick    # smaller store, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import tracekit
from tracekit import _config
from tracekit._render import render_trace
from tracekit.backends import SqliteBackend
from tracekit.store import Store

PAYLOAD = ("The quarterly report says revenue grew 12% in EMEA while costs fell. " * 15)[:1000]


def throughput(path: str, spans: int) -> tuple[float, float]:
    """Spans per second the exporter writes into the store (1 KB input on each tool span).

    Returns:
        (spans per second of wall time, spans per second of CPU time): the
        second leaves out the time the exporter waited on the disk.
    """
    _config._reset()
    tracekit.init(
        f"sqlite:///{path}",
        export_interval=3600,
        queue_max_spans=2 * spans,  # under 90% full: no trace refused at its root (D109)
        queue_max_bytes=1 << 40,
        batch_size=512,
    )

    @tracekit.tool
    def lookup(i: int, document: str) -> int:
        return i

    @tracekit.agent
    def agent(i: int) -> int:
        return sum(lookup(j, PAYLOAD) for j in range(9))

    for i in range(spans // 10):  # traces of 10 spans: an agent and nine tool calls
        agent(i)
    started, cpu_started = time.perf_counter(), time.process_time()
    if not tracekit.flush(timeout=600):
        raise RuntimeError("flush timed out")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stats = tracekit.stats()
    tracekit.shutdown()
    if stats["exported"] != spans:
        raise RuntimeError(f"exported {stats['exported']} of {spans}: {stats['dropped']}")
    return spans / elapsed, spans / cpu


def _record(trace: int, span: int, parent: str | None, start: int) -> dict[str, Any]:
    return {
        "trace_id": f"{trace + 1:032x}",
        "span_id": f"{trace * 10_000 + span + 1:016x}",
        "parent_id": parent,
        "name": "agent" if parent is None else f"step-{span}",
        "kind": "AGENT" if parent is None else ("LLM" if span % 3 == 0 else "TOOL"),
        "project": "bench",
        "start_ns": start + span * 1_000,
        "end_ns": start + span * 1_000 + 500,
        "status": "OK",
        "error": None,
        "inputs": {"query": f"question {trace} about item {span}"},
        "outputs": {"output": f"answer {trace}.{span}"},
        "model": None,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if span % 3 == 0
        else None,
        "attributes": {},
        "events": [],
    }


def build_store(path: str, traces: int, spans_per_trace: int) -> None:
    """Write ``traces`` traces of ``spans_per_trace`` spans, children before roots."""
    backend = SqliteBackend(path)
    batch: list[dict[str, Any]] = []
    base = 1_700_000_000_000_000_000
    for t in range(traces):
        start = base + t * 1_000_000
        root_id = f"{t * 10_000 + 1:016x}"
        for s in range(1, spans_per_trace):
            batch.append(_record(t, s, root_id, start))
        batch.append(_record(t, 0, None, start))
        if len(batch) >= 512:
            backend.export(batch)
            batch = []
    if batch:
        backend.export(batch)
    backend.shutdown()


def median_ms(fn: Any, repeat: int = 15) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small store, for a smoke test")
    args = parser.parse_args(argv)
    traces, per_trace, spans = (2_000, 10, 20_000) if args.quick else (100_000, 10, 200_000)
    with tempfile.TemporaryDirectory() as folder:
        rate, cpu_rate = throughput(os.path.join(folder, "throughput.db"), spans)
        print(f"  (per CPU second of the process during the flush: {cpu_rate:,.0f} spans/s)")
        print(
            f"exporter -> SQLite, 1 KB inputs: {rate:,.0f} spans/s over {spans:,} spans "
            f"({'PASS' if rate >= 50_000 else 'MISS'} target >= 50,000)"
        )

        path = os.path.join(folder, "large.db")
        started = time.perf_counter()
        build_store(path, traces, per_trace)
        big = SqliteBackend(path)
        base = 1_800_000_000_000_000_000
        big_trace = [
            _record(traces + 1, s, f"{(traces + 1) * 10_000 + 1:016x}", base)
            for s in range(1, 1000)
        ]
        big_trace.append(_record(traces + 1, 0, None, base))
        for i in range(0, len(big_trace), 512):
            big.export(big_trace[i : i + 512])
        big.shutdown()
        built = time.perf_counter() - started
        size_mb = os.path.getsize(path) / 2**20
        print(
            f"store: {traces + 1:,} traces, {traces * per_trace + 1000:,} spans, "
            f"{size_mb:,.0f} MiB, built in {built:.1f} s "
            f"({(traces * per_trace + 1000) / built:,.0f} spans/s through the backend)"
        )

        with Store(path) as store:
            ls_ms = median_ms(lambda: store.list_traces(limit=50))
            page2 = store.list_traces(limit=50).next_cursor
            ls2_ms = median_ms(lambda: store.list_traces(limit=50, cursor=page2))
            big_id = f"{traces + 2:032x}"
            show_ms = median_ms(lambda: render_trace(store.get_trace(big_id)), repeat=7)
            search_ms = median_ms(lambda: store.list_traces(limit=50, search="item 7"), repeat=5)
            kind_ms = median_ms(lambda: store.list_traces(limit=50, kind="LLM"), repeat=5)
            miss_ms = median_ms(lambda: store.list_traces(limit=50, search="zebra"), repeat=1)
        verdict = "PASS" if ls_ms < 50 else "MISS"
        print(f"ls first page (50 rows): {ls_ms:.2f} ms ({verdict} target < 50 ms)")
        print(f"ls second page (cursor): {ls2_ms:.2f} ms")
        print(
            f"show 1,000-span trace (read + render): {show_ms:.1f} ms "
            f"({'PASS' if show_ms < 100 else 'MISS'} target < 100 ms)"
        )
        print(f"ls with --search, matches on the first page: {search_ms:.1f} ms")
        print(f"ls with --search found nowhere (scans every span): {miss_ms:,.0f} ms")
        print(f"ls with --kind LLM: {kind_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
