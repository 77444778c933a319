"""What a user gets at the defaults: realistic arguments, the flush, the store, the drops.

Each round traces one workload in a tight loop with ``tracekit.init()`` at its
published defaults (queue, batching, caps, redaction) into one backend, then
``tracekit.flush()``, and counts the spans the backend holds (rows of the
store, lines of the JSONL file, records in memory). The floor, in the same
process and run, is ``overhead.floor``: wrapt + ContextVar set/reset + two
clock reads + ``json.dumps`` of the arguments and of the result. Rounds are
interleaved (every variant's round 1, then round 2, ...), the order rotated
each round.

Workloads (a call is one top-level call of the loop):

- ``agent``: a root agent calling two tools and an LLM function, 4 spans a
  call, each taking a 17-character string and a 3-key dict;
- ``chat``: the same shape, each taking a list of two chat-message dicts and
  a 1 KB string;
- ``scalar``: overhead.py's ``outer(i, q)`` -> ``middle`` -> ``leaf`` with
  ``(i, "query text")``, 3 spans a call.

Reported per workload and variant (medians over the rounds): hot-path
ns/span (the loop), ns/span including the flush, spans missing from the
backend (with stats()'s reasons, and the traces refused whole at their root),
spans in the backend, both times over the floor's, and (Linux) the largest
peak RSS of a round over the RSS at its start, in MiB: what the queue and
the exporter held (the byte cap is 64 MiB).

    python benchmarks/defaults.py                  # 5 rounds of 20,000 calls
    python benchmarks/defaults.py --quick          # 3 rounds of 2,000 calls
    python benchmarks/defaults.py --calls 250000 --rounds 1 --workloads agent
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import environment, median, table
from overhead import floor

import tracekit
from tracekit import _config

QUERY = "flights to Lisbon"  # 17 characters
OPTIONS = {"limit": 3, "sort": "price", "direct": True}
DOCUMENT = (
    "Lisbon's airport has two terminals. Terminal 1 serves most airlines; Terminal 2 "
    "serves low-cost carriers and is reached by a free shuttle from Terminal 1. "
) * 8
DOCUMENT = DOCUMENT[:1024]
MESSAGES = [
    {"role": "system", "content": "You are a travel assistant. Answer briefly."},
    {"role": "user", "content": "Which terminal does my flight to Lisbon leave from?"},
]

Deco = Callable[[Any], Any]
Workload = Callable[[Deco], tuple[Callable[[int], None], int]]


def agent_workload(deco: Deco) -> tuple[Callable[[int], None], int]:
    @deco
    def search(query: str, options: dict[str, Any]) -> str:
        return "3 flights"

    @deco
    def book(query: str, options: dict[str, Any]) -> dict[str, Any]:
        return {"booked": True, "ref": "TK123"}

    @deco
    def answer(query: str, options: dict[str, Any]) -> str:
        return "Your flight leaves from Terminal 1."

    @deco
    def agent(query: str, options: dict[str, Any]) -> str:
        search(query, options)
        book(query, options)
        return answer(query, options)

    def run(n: int) -> None:
        for _ in range(n):
            agent(QUERY, OPTIONS)

    return run, 4


def chat_workload(deco: Deco) -> tuple[Callable[[int], None], int]:
    @deco
    def search(messages: list[dict[str, str]], document: str) -> str:
        return "3 flights"

    @deco
    def book(messages: list[dict[str, str]], document: str) -> dict[str, Any]:
        return {"booked": True, "ref": "TK123"}

    @deco
    def answer(messages: list[dict[str, str]], document: str) -> str:
        return "Your flight leaves from Terminal 1."

    @deco
    def agent(messages: list[dict[str, str]], document: str) -> str:
        search(messages, document)
        book(messages, document)
        return answer(messages, document)

    def run(n: int) -> None:
        for _ in range(n):
            agent(MESSAGES, DOCUMENT)

    return run, 4


def scalar_workload(deco: Deco) -> tuple[Callable[[int], None], int]:
    @deco
    def leaf(i: int, q: str) -> int:
        return i

    @deco
    def middle(i: int, q: str) -> int:
        return leaf(i, q)

    @deco
    def outer(i: int, q: str) -> int:
        return middle(i, q)

    def run(n: int) -> None:
        for i in range(n):
            outer(i, "query text")

    return run, 3


WORKLOADS: dict[str, Workload] = {
    "agent": agent_workload,
    "chat": chat_workload,
    "scalar": scalar_workload,
}


@dataclasses.dataclass
class Round:
    """One measured round: times in ns, spans made, dropped and held by the backend."""

    hot_ns: int
    total_ns: int
    spans: int
    dropped: int
    held: int
    reasons: dict[str, int]
    peak_mib: float | None = None  # peak RSS over the RSS at the round's start


def _status_kib(field: str) -> int | None:
    """A field of /proc/self/status in KiB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _start_peak() -> int | None:
    """Reset the peak RSS (Linux: clear_refs 5) and return the RSS now, in KiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def _peak_over(start_kib: int | None) -> float | None:
    peak = _status_kib("VmHWM")
    if start_kib is None or peak is None:
        return None
    return (peak - start_kib) / 1024


def floor_round(workload: Workload, calls: int, folder: str) -> Round:
    run, per_call = workload(floor)
    gc.collect()
    start = time.perf_counter_ns()
    run(calls)
    elapsed = time.perf_counter_ns() - start
    spans = calls * per_call
    return Round(elapsed, elapsed, spans, 0, spans, {})


def _count_sqlite(folder: str) -> int:
    path = os.path.join(folder, ".tracekit", "traces.db")
    if not os.path.exists(path):
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])


def _count_jsonl(folder: str) -> int:
    path = os.path.join(folder, "spans.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def tracekit_round(backend: str) -> Callable[[Workload, int, str], Round]:
    def measure(workload: Workload, calls: int, folder: str) -> Round:
        _config._reset()
        cwd = os.getcwd()
        os.chdir(folder)  # the default store is .tracekit/traces.db under the working directory
        try:
            memory = None
            if backend == "sqlite (default)":
                tracekit.init()
            elif backend == "jsonl":
                tracekit.init("jsonl:///spans.jsonl")
            else:
                memory = tracekit.backends.MemoryBackend()
                tracekit.init(memory)
            run, per_call = workload(tracekit.trace)
            gc.collect()
            rss = _start_peak()
            start = time.perf_counter_ns()
            run(calls)
            hot = time.perf_counter_ns() - start
            flushed = tracekit.flush(timeout=600)
            total = time.perf_counter_ns() - start
            peak = _peak_over(rss)
            if not flushed:
                raise RuntimeError("flush did not finish")
            stats = tracekit.stats()
            tracekit.shutdown()
            if memory is not None:
                held = len(memory.records)
            elif backend == "jsonl":
                held = _count_jsonl(folder)
            else:
                held = _count_sqlite(folder)
        finally:
            os.chdir(cwd)
        reasons = {k: v for k, v in stats["dropped"].items() if v}
        if stats.get("refused_traces"):  # refused at the root: the rest of each never existed
            reasons["refused traces"] = stats["refused_traces"]
        spans = calls * per_call
        # spans missing from the backend, counted there (a refused trace's spans included)
        return Round(hot, total, spans, spans - held, held, reasons, peak)

    return measure


VARIANTS: dict[str, Callable[[Workload, int, str], Round]] = {
    "floor": floor_round,
    "sqlite (default)": tracekit_round("sqlite (default)"),
    "jsonl": tracekit_round("jsonl"),
    "memory": tracekit_round("memory"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2,000 calls")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000, help="top-level calls per round")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", metavar="PATH", help="also write every round as JSON")
    args = parser.parse_args(argv)
    rounds, calls = (3, 2_000) if args.quick else (args.rounds, args.calls)
    workloads = [w for w in args.workloads.split(",") if w]
    variants = [v for v in args.variants.split(",") if v]
    if "floor" not in variants:
        variants.insert(0, "floor")
    env = environment()
    print(
        f"tracekit {env['tracekit']} ({env['revision']}) at the defaults: Python "
        f"{env['python']}, {env['cpus']} CPUs; {rounds} interleaved rounds of {calls:,} calls"
    )
    results: dict[str, dict[str, list[Round]]] = {w: {v: [] for v in variants} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="tracekit-defaults-") as scratch:
        n = 0
        for r in range(rounds):
            for workload in workloads:
                order = variants[r % len(variants) :] + variants[: r % len(variants)]
                for variant in order:
                    n += 1
                    folder = os.path.join(scratch, f"round-{n}")
                    os.makedirs(folder)
                    results[workload][variant].append(
                        VARIANTS[variant](WORKLOADS[workload], calls, folder)
                    )
    dump: dict[str, Any] = {"environment": env, "calls": calls, "rounds": rounds, "results": {}}
    for workload in workloads:
        floor_ns = median([x.total_ns / x.spans for x in results[workload]["floor"]])
        rows = []
        for variant in variants:
            done = results[workload][variant]
            hot = median([x.hot_ns / x.spans for x in done])
            total = median([x.total_ns / x.spans for x in done])
            spans = sum(x.spans for x in done)
            dropped = sum(x.dropped for x in done)
            held = sum(x.held for x in done)
            reasons: dict[str, int] = {}
            for x in done:
                for k, v in x.reasons.items():
                    reasons[k] = reasons.get(k, 0) + v
            why = ", ".join(f"{k} {v:,}" for k, v in reasons.items())
            lost = f"{dropped:,} of {spans:,}" + (f" ({why})" if why else "")
            peaks = [x.peak_mib for x in done if x.peak_mib is not None]
            peak = f"{max(peaks):,.1f}" if peaks else "-"
            rows.append(
                [
                    variant,
                    f"{hot:,.0f}",
                    f"{total:,.0f}",
                    f"{hot / floor_ns:.2f}x",
                    f"{total / floor_ns:.2f}x",
                    lost,
                    f"{held:,}",
                    peak,
                ]
            )
            kept = [dataclasses.asdict(x) for x in done]
            dump["results"].setdefault(workload, {})[variant] = kept
        headers = ["variant", "hot ns/span", "with flush", "hot/floor", "flush/floor"]
        print(f"\n{workload}:")
        columns = [*headers, "dropped", "in backend", "peak +MiB"]
        print(table(columns, rows, right=(1, 2, 3, 4, 6, 7)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dump, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
