"""The otlp backend's throughput into a local OTLP/HTTP receiver, in spans per second.

1. End to end: traces of an agent, an LLM span (model, parameters, usage,
   chat messages) and three tool calls are traced into one big queue, then
   ``tracekit.flush()`` is timed over the spans still queued: exactly the
   exporter's work (records, redaction, the GenAI/OpenInference mapping,
   protobuf encoding by the official exporter, HTTP to the receiver, 512
   spans a batch). Batches that filled while tracing leave at once; they
   are left out of the rate.
2. The backend alone: ``OtlpBackend.export`` on prebuilt records, batch by
   batch, split into mapping (records -> ReadableSpans) and sending.

The receiver is the tests' (``tests/backends/otlp_receiver.py``) on
127.0.0.1, in this process: it parses every request with opentelemetry-proto
and counts the spans, so its CPU is part of the figure (2 cores shared).

    python benchmarks/otlp_throughput.py            # 50,000 spans
    python benchmarks/otlp_throughput.py --spans 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from typing import Any

import tracekit
from tracekit import _config
from tracekit.backends.otlp import OtlpBackend

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER = os.path.join(HERE, os.pardir, "tests", "backends", "otlp_receiver.py")
QUESTION = "What were the main drivers of revenue growth in EMEA last quarter? " * 4


def load_receiver() -> Any:
    spec = importlib.util.spec_from_file_location("otlp_receiver", RECEIVER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["otlp_receiver"] = module
    spec.loader.exec_module(module)
    return module.OtlpReceiver


def traced_workload(traces: int) -> None:
    @tracekit.tool
    def lookup(query: str, k: int = 3) -> list[str]:
        return [f"document {i} about {query[:40]}" for i in range(k)]

    @tracekit.llm
    def complete(messages: list[dict[str, str]]) -> str:
        span = tracekit.current_span()
        span.set_model("gpt-4o-mini", temperature=0.2, max_tokens=256)
        span.set_usage(prompt_tokens=812, completion_tokens=64)
        return "Revenue grew mainly on enterprise renewals and the new partner channel."

    @tracekit.agent
    def agent(question: str) -> str:
        docs = [lookup(question, k) for k in (1, 2, 3)]
        return complete(
            [
                {"role": "system", "content": "Answer from the documents."},
                {"role": "user", "content": f"{question}\n{docs}"},
            ]
        )

    for _ in range(traces):
        agent(QUESTION)


def end_to_end(url: str, receiver: Any, spans: int) -> tuple[float, dict[str, Any]]:
    _config._reset()
    tracekit.init(
        url,
        export_interval=3600,  # nothing leaves before the timed flush
        queue_max_spans=2 * spans,  # under 90% full: no trace refused at its root (D109)
        queue_max_bytes=1 << 40,
        export_timeout=120,
    )
    before = receiver.span_count
    traced_workload(spans // 5)  # 5 spans a trace
    # a full batch wakes the exporter at once: some batches leave while tracing
    already = tracekit.stats()["exported"]
    started = time.perf_counter()
    ok = tracekit.flush(timeout=600)
    elapsed = time.perf_counter() - started
    stats = tracekit.stats()
    received = receiver.span_count - before
    _config._reset()
    if not ok or received != spans:
        print(f"WARNING: flush returned {ok}, receiver got {received} of {spans} spans")
    stats["timed"] = spans - already
    return (spans - already) / elapsed, stats


def backend_alone(backend: OtlpBackend, records: list[dict[str, Any]]) -> tuple[float, float]:
    batches = [records[i : i + 512] for i in range(0, len(records), 512)]
    started = time.perf_counter()
    for batch in batches:
        for record in batch:
            backend.to_span(record)
    mapping = time.perf_counter() - started
    started = time.perf_counter()
    for batch in batches:
        backend.export(batch)
    whole = time.perf_counter() - started
    return len(records) / mapping, len(records) / whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    args = parser.parse_args()
    spans = args.spans - args.spans % 5

    receiver_class = load_receiver()
    with receiver_class(decode=False) as receiver:
        url = "otlp+http://" + receiver.url.split("://", 1)[1]
        print(
            f"tracekit {tracekit.__version__} otlp throughput: Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs; receiver on {receiver.url} (same process)"
        )
        rate, stats = end_to_end(url + "?timeout=60", receiver, spans)
        dropped = {k: v for k, v in stats["dropped"].items() if v}
        print(
            f"end to end ({spans:,} spans in traces of 5; the flush of the last "
            f"{stats['timed']:,} timed): {rate:,.0f} spans/s; "
            f"exported {stats['exported']:,}, dropped {dropped or 0}"
        )

        # the same records again, straight into the backend
        from tracekit.backends import MemoryBackend

        memory = MemoryBackend()
        _config._reset()
        tracekit.init(memory, queue_max_spans=2 * spans, queue_max_bytes=1 << 40)
        traced_workload(spans // 5)
        tracekit.flush(timeout=600)
        records = memory.records
        _config._reset()
        backend = OtlpBackend(receiver.url + "/v1/traces", timeout=60)
        mapping, whole = backend_alone(backend, records)
        backend.shutdown()
        print(
            f"backend alone, {len(records):,} records in batches of 512: "
            f"mapping {mapping:,.0f} spans/s; mapping + encoding + HTTP {whole:,.0f} spans/s"
        )


if __name__ == "__main__":
    main()
