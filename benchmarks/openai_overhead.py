"""What the OpenAI adapter adds to a ``client.chat.completions.create`` round trip.

The real openai client calls the local OpenAI-compatible server the adapter's
tests use (``tests/integrations/openai/server.py``, on 127.0.0.1, run in a
process of its own so that its work does not share this process's GIL), so
the round trip is real HTTP, JSON and pydantic work, without network noise.

Workloads:

* chat:   ``create(model=..., messages=[...], temperature=...)``, JSON answer
* stream: ``create(..., stream=True, stream_options={"include_usage": True})``,
          7 SSE chunks, consumed fully

Variants, run round-robin (one round of each, then the next), so drift on the
machine hits them alike:

* unpatched          openai as installed
* patched, off       ``init(enabled=False)``, then ``autopatch(["openai"])``: the
                     wrappers are installed and pass the call through
* patched, on        ``init(MemoryBackend(), integrations=["openai"])``; each
                     round ends with ``tracekit.flush()``, timed and spread over
                     the round's calls in the "with flush" column

Reported: the median ns per call of each variant, and the overhead of
"patched, on" over "unpatched" in microseconds and as a percentage of the
round trip. Exit status is 0 whatever the numbers: benchmarks report.

Run: ``.venv/bin/python benchmarks/openai_overhead.py [--calls N] [--rounds N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
from _common import environment, median, spread_pct, table, write_json

import tracekit
from tracekit import integrations
from tracekit.backends import MemoryBackend

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "tests", "integrations", "openai", "server.py")

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
VARIANTS = ("unpatched", "patched, off", "patched, on")


@contextlib.contextmanager
def local_server() -> Iterator[str]:
    """The test server in a child process; yields its base URL, stops it afterwards."""
    child = subprocess.Popen(
        [sys.executable, SERVER], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def workloads(client: openai.OpenAI) -> dict[str, Callable[[], Any]]:
    def chat() -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2
        )

    def stream() -> Any:
        chunks = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        return list(chunks)

    return {"chat": chat, "stream": stream}


def switch_to(variant: str) -> MemoryBackend | None:
    """Set tracekit and the patches up for one variant (outside the timing)."""
    if variant == "unpatched":
        tracekit.init("memory", enabled=False)
        integrations.unpatch(["openai"])
        return None
    if variant == "patched, off":
        tracekit.init("memory", enabled=False)  # init() patches only when tracing is on
        integrations.autopatch(["openai"])
        assert integrations.get("openai").patched
        return None
    backend = MemoryBackend()
    tracekit.init(backend, integrations=["openai"])
    assert integrations.get("openai").patched
    return backend


def one_round(call: Callable[[], Any], calls: int, backend: MemoryBackend | None) -> dict[str, Any]:
    gc.collect()
    times = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        call()
        times.append(clock() - start)
    flush_ns = 0
    if backend is not None:
        start = clock()
        assert tracekit.flush(timeout=30), "flush timed out"
        flush_ns = clock() - start
        assert len(backend.records) == calls, (len(backend.records), calls)
    return {"median": median(times), "mean_with_flush": (sum(times) + flush_ns) / calls}


def run(calls: int, rounds: int) -> dict[str, Any]:
    per_round = max(1, calls // rounds)
    results: dict[str, Any] = {}
    with local_server() as url:
        client = openai.OpenAI(base_url=url, api_key="sk-benchmark-key", max_retries=0)
        for name, call in workloads(client).items():
            for _ in range(50):  # warm up: connection, imports, caches
                call()
            samples: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for _ in range(rounds):
                for variant in VARIANTS:
                    backend = switch_to(variant)
                    samples[variant].append(one_round(call, per_round, backend))
            results[name] = samples
        client.close()
    integrations.unpatch(["openai"])
    tracekit.shutdown()
    return {"calls_per_round": per_round, "rounds": rounds, "workloads": results}


def report(data: dict[str, Any]) -> None:
    for name, samples in data["workloads"].items():
        rows = []
        medians = {v: median([r["median"] for r in samples[v]]) for v in VARIANTS}
        for variant in VARIANTS:
            per_round = [r["median"] for r in samples[variant]]
            with_flush = median([r["mean_with_flush"] for r in samples[variant]])
            rows.append(
                [
                    variant,
                    f"{medians[variant]:,.0f}",
                    f"{with_flush:,.0f}",
                    f"{spread_pct(per_round):.1f}%",
                ]
            )
        print(f"\n{name}: {data['rounds']} rounds x {data['calls_per_round']} calls")
        print(
            table(
                ["variant", "median ns/call", "mean ns/call with flush", "round spread"],
                rows,
                right=(1, 2, 3),
            )
        )
        base = medians["unpatched"]
        on = medians["patched, on"] - base
        off = medians["patched, off"] - base
        print(
            f"overhead ({name}): {on / 1000:.1f} us per call traced "
            f"({100 * on / base:.1f}% of the {base / 1000:.0f} us round trip); "
            f"{off / 1000:.1f} us patched with tracing off"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant (all rounds)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the samples as JSON to this path")
    args = parser.parse_args()
    env = environment()
    print(f"openai {openai.__version__}, python {env['python']}, tracekit {env['revision']}")
    data = run(args.calls, args.rounds)
    report(data)
    if args.json:
        write_json(
            args.json,
            {
                "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "environment": {**env, "openai": openai.__version__},
                **data,
            },
        )


if __name__ == "__main__":
    main()
