"""What the built-in redaction costs the exporter, per span and per string.

1. Per span: the same traced calls are exported with ``init(redact=True)``
   (the default) and ``redact=False``, into a backend that counts each batch
   and keeps nothing. Export is deferred (one batch per round), so the timed
   ``tracekit.flush()`` is exactly the exporter's work: records, payload
   preparation, redaction. Rounds of the two settings are interleaved; the
   difference of the medians is what redaction costs a span. Workloads:

   - ``overhead``: the overhead benchmark's calls, ``(i, "query text")`` at
     three levels of nesting;
   - ``messages``: a tool taking a 17-character query and a 3-key dict, an
     LLM function taking two chat-message dicts and a 1 KB prompt, under an
     agent, once with the same prompt on every call (a system prompt) and
     once with a prompt of its own per call (the redaction memo never hits).

2. Per string: ``redact_string`` on a 17-character query, a 100-character log
   line and a 1 KB prompt, each new (as the exporter sees text it has not seen)
   and repeated.

    python benchmarks/redaction.py            # 7 rounds of 5,000 calls
    python benchmarks/redaction.py --quick    # 3 rounds of 1,000 calls
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

from _common import environment, median, table
from overhead import CountingBackend

import tracekit
from tracekit import _config
from tracekit._redact import redact_string

PROMPT = (
    "You are a helpful assistant for a travel agency. Answer in two sentences, cite the "
    "booking rules where they apply, and never promise a refund: refunds are decided by "
    "the desk. The customer is flying from Paris to Lisbon next week; key facts first. "
) * 5
PROMPT = PROMPT[:1024]
LOG = "2026-12-03 16:20:01 INFO request to https://api.example.com/v1/chat done status=200"


def overhead_calls(calls: int) -> int:
    @tracekit.trace
    def leaf(i: int, q: str) -> int:
        return i

    @tracekit.trace
    def middle(i: int, q: str) -> int:
        return leaf(i, q)

    @tracekit.trace
    def outer(i: int, q: str) -> int:
        return middle(i, q)

    for i in range(calls):
        outer(i, "query text")
    return 3 * calls


def message_calls(unique: bool) -> Callable[[int], int]:
    def run(calls: int) -> int:
        @tracekit.tool
        def search(query: str, options: dict[str, Any]) -> str:
            return "3 results"

        @tracekit.llm
        def answer(messages: list[dict[str, str]], prompt: str) -> str:
            return "Lisbon has two terminals; check in at T1."

        @tracekit.agent
        def agent(i: int) -> str:
            search("flights to Lisbon", {"limit": 3, "sort": "price", "direct": True})
            prompt = f"{i} {PROMPT}" if unique else PROMPT
            messages = [
                {"role": "system", "content": "You are a travel assistant."},
                {"role": "user", "content": f"Which terminal in Lisbon? ({i})"},
            ]
            return answer(messages, prompt)

        for i in range(calls):
            agent(i)
        return 3 * calls

    return run


def export_ns_per_span(workload: Callable[[int], int], calls: int, redact: bool) -> float:
    """Exporter nanoseconds per span for one round (traced first, then the flush timed)."""
    _config._reset()
    backend = CountingBackend()
    tracekit.init(
        backend,
        redact=redact,
        export_interval=3600,
        batch_size=100_000,
        queue_max_spans=100_000,
        queue_max_bytes=1 << 40,
    )
    spans = workload(calls)
    gc.collect()
    started = time.perf_counter_ns()
    if not tracekit.flush(timeout=600):
        raise RuntimeError("flush timed out")
    elapsed = time.perf_counter_ns() - started
    if backend.count != spans:
        raise RuntimeError(f"exported {backend.count} of {spans} spans")
    tracekit.shutdown()
    return elapsed / spans


def per_span(rounds: int, calls: int) -> list[list[Any]]:
    workloads = {
        "overhead (i, 'query text')": overhead_calls,
        "messages, same 1 KB prompt": message_calls(unique=False),
        "messages, new 1 KB prompt each call": message_calls(unique=True),
    }
    rows = []
    for name, workload in workloads.items():
        samples: dict[bool, list[float]] = {True: [], False: []}
        export_ns_per_span(workload, min(calls, 200), True)  # warm up
        for r in range(rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for redact in order:
                samples[redact].append(export_ns_per_span(workload, calls, redact))
        on, off = median(samples[True]), median(samples[False])
        rows.append([name, f"{off:,.0f}", f"{on:,.0f}", f"{on - off:+,.0f}"])
    return rows


def per_string(number: int) -> list[list[Any]]:
    counter = itertools.count()
    rows = []
    for name, text in (("17-char query", "flights to Lisbon"), ("100-char log line", LOG),
                       ("1 KB prompt", PROMPT)):  # fmt: skip
        fresh = [f"{text} {next(counter)}" for _ in range(number)]
        texts = iter(fresh)
        new = timeit.timeit(lambda it=texts: redact_string(next(it)), number=number)
        redact_string(text)
        again = timeit.timeit(lambda t=text: redact_string(t), number=number)
        new, again = new / number * 1e9, again / number * 1e9
        rows.append([name, f"{new:,.0f}", f"{again:,.0f}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1,000 calls")
    args = parser.parse_args(argv)
    rounds, calls = (3, 1_000) if args.quick else (7, 5_000)
    env = environment()
    print(
        f"tracekit {env['tracekit']} ({env['revision']}) redaction cost: Python {env['python']}, "
        f"{env['cpus']} CPUs; median of {rounds} interleaved rounds of {calls:,} calls"
    )
    print("\nexporter ns per span (flush timed, export deferred):")
    print(
        table(
            ["workload", "redact=False", "redact=True", "redaction"],
            per_span(rounds, calls),
            right=(1, 2, 3),
        )
    )
    print("\nredact_string ns per call:")
    print(table(["string", "new text", "seen before"], per_string(20_000), right=(1, 2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
