"""Peak RSS while 1,000,000 spans pass through a deliberately slow backend.

The backend sleeps 1 ms per record it receives (about 1,000 records/s, a
thousand times slower than the traced loop produces spans), so the export
queue fills within milliseconds and stays full. tracekit must then drop and
count new spans instead of buffering them: memory is bounded by the queue caps
(2048 spans or 64 MiB, plus the one batch the backend is holding), not by the
number of spans traced.

The script samples the resident set size (VmRSS), its high-water mark (VmHWM,
or ``ru_maxrss`` off Linux) at 10%, 25%, 50% and 100% of the spans, prints the
growth over a baseline taken after a warm-up that already filled the queue,
and reports PASS when the peak grows by less than 20 MiB between the 25% and
the 100% checkpoints.

Run: ``make bench`` or ``.venv/bin/python benchmarks/memory_bound.py [--spans N]``.
Exit status is 0 whatever the numbers: benchmarks report, they do not gate.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from _common import MIB, environment, rss_bytes, table, write_json

import tracekit
from tracekit import _state

CHECKPOINTS = (0.10, 0.25, 0.50, 1.00)
GROWTH_LIMIT_MIB = 20.0
PAYLOAD = ("What did the quarterly report say about revenue growth in the EMEA region? " * 2)[:100]


class SlowBackend:
    """A backend far slower than production: it sleeps ``delay_s`` per record."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.received = 0
        self.batches = 0
        self._stop = threading.Event()  # set at the end so the sleeping thread lets go

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        self.received += len(records)
        self.batches += 1
        self._stop.wait(self.delay_s * len(records))

    def flush(self) -> None:
        """Nothing buffered here."""

    def shutdown(self) -> None:
        self._stop.set()

    def release(self) -> None:
        self._stop.set()


@tracekit.trace
def answer(i: int, question: str) -> str:
    return question[:16]


def deep_size_of_queued_span() -> int:
    """Rough bytes one queued span of this shape holds (span + payload dicts + values)."""
    pipeline = _state.config.pipeline
    if pipeline is None or not pipeline._queue:
        return 0
    span = pipeline._queue[-1]
    total = sys.getsizeof(span)
    for payload in (span._inputs, span._outputs):
        if payload is None:
            continue
        total += sys.getsizeof(payload)
        if isinstance(payload, dict):
            total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in payload.items())
    return total


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MIB:.1f}"


def signed_mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MIB:+.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to trace (1M)")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="backend sleep per record")
    parser.add_argument("--warmup", type=int, default=20_000, help="spans before the baseline")
    parser.add_argument(
        "--payload-chars",
        type=int,
        default=len(PAYLOAD),
        help="length of the traced string argument (large values exercise the 64 MiB cap)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    payload = (PAYLOAD * (args.payload_chars // len(PAYLOAD) + 1))[: args.payload_chars]
    for var in ("TRACEKIT_BACKEND", "TRACEKIT_DISABLED", "TRACEKIT_SAMPLE_RATE"):
        os.environ.pop(var, None)

    backend = SlowBackend(args.delay_ms / 1000.0)
    before_init = rss_bytes()
    tracekit.init(backend)
    started = time.perf_counter()

    for i in range(args.warmup):
        answer(i, payload)
    gc.collect()
    baseline = rss_bytes()
    span_bytes = deep_size_of_queued_span()
    warm_stats = tracekit.stats()

    marks = sorted({max(1, int(args.spans * f)) for f in CHECKPOINTS})
    rows: list[dict[str, Any]] = []
    done = 0
    t0 = time.perf_counter()
    for mark in marks:
        for i in range(done, mark):
            answer(i, payload)
        done = mark
        now = rss_bytes()
        stats = tracekit.stats()
        rows.append(
            {
                "spans": mark,
                "elapsed_s": round(time.perf_counter() - t0, 2),
                "rss": now["rss"],
                "peak": now["peak"],
                "rss_growth": None if now["rss"] is None else now["rss"] - baseline["rss"],
                "peak_growth": now["peak"] - baseline["peak"],
                "created": stats["created"],
                "exported": stats["exported"],
                "dropped_queue_full": stats["dropped"]["queue_full"],
                "pending": stats["pending"],
            }
        )
    loop_s = time.perf_counter() - t0

    shutdown_t = time.perf_counter()
    shutdown_ok = tracekit.shutdown(timeout=2)
    shutdown_s = time.perf_counter() - shutdown_t
    final = tracekit.stats()  # read before the backend lets go of the batch it holds
    backend.release()
    total_s = time.perf_counter() - started

    env = environment()
    print(
        f"tracekit {env['tracekit']} bounded-memory benchmark: Python {env['python']}, "
        f"{env['cpus']} CPUs, revision {env['revision']}"
    )
    print(
        f"{args.spans:,} spans of answer(i, <{len(payload)}-char str>) through a backend "
        f"sleeping {args.delay_ms:g} ms per record; queue caps "
        f"{final['config']['queue_max_spans']} spans / "
        f"{final['config']['queue_max_bytes'] // MIB} MiB, batch {final['config']['batch_size']}"
    )
    print(
        f"RSS before init(): {mib(before_init['rss'])} MiB; baseline after a "
        f"{args.warmup:,}-span warm-up: RSS {mib(baseline['rss'])} MiB, "
        f"peak {mib(baseline['peak'])} MiB (queue already holding "
        f"{warm_stats['pending']} spans)"
    )
    print()
    print(
        table(
            [
                "spans",
                "elapsed s",
                "RSS MiB",
                "RSS growth",
                "peak MiB",
                "peak growth",
                "created",
                "exported",
                "dropped.queue_full",
                "pending",
            ],
            [
                [
                    f"{r['spans']:,}",
                    f"{r['elapsed_s']:.1f}",
                    mib(r["rss"]),
                    signed_mib(r["rss_growth"]),
                    mib(r["peak"]),
                    signed_mib(r["peak_growth"]),
                    f"{r['created']:,}",
                    f"{r['exported']:,}",
                    f"{r['dropped_queue_full']:,}",
                    f"{r['pending']:,}",
                ]
                for r in rows
            ],
            right=tuple(range(10)),
        )
    )
    print()
    per_span_ns = loop_s / args.spans * 1e9
    print(
        f"traced loop: {loop_s:.1f} s ({per_span_ns:.0f} ns/span, queue full: every span "
        f"past the caps is dropped and counted); whole run {total_s:.1f} s"
    )
    if span_bytes:
        unbounded = span_bytes * args.spans / MIB
        print(
            f"one queued span of this shape holds ~{span_bytes} bytes: keeping all "
            f"{args.spans:,} would need ~{unbounded:.0f} MiB"
        )
    print(
        f"shutdown(timeout=2): returned {shutdown_ok} after {shutdown_s:.1f} s; final stats: "
        f"created {final['created']:,}, exported {final['exported']:,}, "
        f"dropped.queue_full {final['dropped']['queue_full']:,}, "
        f"dropped.timeout {final['dropped']['timeout']:,}, pending {final['pending']}"
    )
    accounted = final["exported"] + sum(final["dropped"].values()) + final["pending"]
    in_flight = final["created"] - accounted
    print(
        f"accounting after shutdown: exported + dropped + pending = {accounted:,} of "
        f"{final['created']:,} created; {in_flight:,} were in the batch the backend was "
        f"still sleeping on at the deadline ({backend.received:,} records reached export())"
    )
    print()

    first = next((r for r in rows if r["spans"] >= int(args.spans * 0.25)), rows[0])
    last = rows[-1]
    growth = (last["peak"] - first["peak"]) / MIB
    filled = last["dropped_queue_full"] > 0
    verdict = "PASS" if growth < GROWTH_LIMIT_MIB and filled else "MISS"
    print(
        f"{verdict} peak RSS growth from {first['spans']:,} to {last['spans']:,} spans: "
        f"{growth:+.1f} MiB (target < {GROWTH_LIMIT_MIB:g} MiB; growth since the baseline "
        f"{last['peak_growth'] / MIB:+.1f} MiB)"
    )
    if not filled:
        print("MISS the queue never filled: the backend was not slow enough to test the bound")

    if args.json:
        write_json(
            args.json,
            {
                "meta": {
                    "date": datetime.date.today().isoformat(),
                    "environment": env,
                    "spans": args.spans,
                    "delay_ms": args.delay_ms,
                    "payload_chars": len(payload),
                },
                "before_init": before_init,
                "baseline": baseline,
                "checkpoints": rows,
                "final_stats": {k: final[k] for k in ("created", "exported", "pending", "dropped")},
                "shutdown_ok": shutdown_ok,
                "in_flight_at_shutdown": in_flight,
                "growth_25_to_100_mib": round(growth, 2),
                "pass": verdict == "PASS",
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
