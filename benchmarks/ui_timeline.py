"""Web UI (#6): a trace of 5,000 spans opens with its timeline drawn, in headless Chromium.

Writes one trace of 5,000 spans (an agent, 50 steps, 99 calls under each, of
every kind, with small inputs and outputs) through the sqlite backend, starts
the UI server, and opens ``#/trace/<id>`` in Debian's Chromium driven by
Playwright: the clock runs from ``page.goto`` (a fresh page: HTML, CSS, the
JavaScript modules, the API call) until the page has drawn one bar per span.
Target: under 2 s. Then, over HTTP, the size and time of the trace view's
request (light span records, which it repeats every 2 s while the trace
runs) and of one span's full record (the detail panel). ``--payload-kb``
adds that much text to each span's inputs and outputs, to see that heavy
payloads stay out of the trace view. Needs /usr/bin/chromium and the
``playwright`` package (both installed by ``make test``'s setup and ``.ci/run``).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from tracekit.backends import SqliteBackend
from tracekit.ui import UIServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]  # fmt: skip
KINDS = ("LLM", "TOOL", "RETRIEVER", "CHAIN", "EMBEDDING")
TRACE_ID = "5" * 32
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def span(n: int, parent: int | None, start: int, end: int, payload: str = "") -> dict[str, Any]:
    kind = "AGENT" if parent is None else KINDS[n % len(KINDS)]
    record: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "span_id": f"{n + 1:016x}",
        "parent_id": None if parent is None else f"{parent + 1:016x}",
        "name": "agent" if parent is None else f"{kind.lower()}-{n}",
        "kind": kind,
        "project": "bench",
        "start_ns": start,
        "end_ns": end,
        "status": "ERROR" if n % 97 == 0 and n else "OK",
        "error": None,
        "inputs": {"query": f"question {n}", "messages": [{"role": "user", "content": "hi " * 20}]},
        "outputs": {"output": f"answer {n}"},
        "model": "gpt-4o-mini" if kind == "LLM" else None,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if kind == "LLM"
        else None,
        "attributes": {},
        "events": [],
    }
    if payload:
        record["inputs"]["document"] = payload
        record["outputs"]["document"] = payload
    return record


def build(path: str, spans: int, payload_kb: int = 0) -> None:
    base = 1_800_000_000_000_000_000
    steps = 50
    per_step = (spans - 1 - steps) // steps
    records = []
    blob = "x" * (payload_kb * 512)  # in inputs and in outputs: payload_kb per span
    n = 1
    for s in range(steps):
        step_start = base + s * 20_000_000
        step = n
        n += 1
        for c in range(per_step):
            start = step_start + c * 150_000
            records.append(span(n, step, start, start + 100_000, blob))
            n += 1
        records.append(span(step, 0, step_start, step_start + 19_000_000, blob))
    while n < spans:  # the remainder, straight under the root
        records.append(span(n, 0, base + n, base + n + 1000, blob))
        n += 1
    records.append(span(0, None, base, base + steps * 20_000_000))
    backend = SqliteBackend(path)
    batch = 512 if not payload_kb else max(1, 16_384 // payload_kb)  # bounded memory per batch
    for i in range(0, len(records), batch):
        backend.export(records[i : i + batch])
    backend.shutdown()


def timed_get(port: int, path: str) -> tuple[float, int]:
    """Seconds and response bytes of one GET of ``path``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, len(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payload-kb", type=int, default=0, help="extra KB of inputs+outputs")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"skipped: {CHROMIUM} is not installed (apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "traces.db")
        started = time.perf_counter()
        build(path, args.spans, args.payload_kb)
        print(
            f"store: 1 trace of {args.spans:,} spans (+{args.payload_kb} KB payload each), "
            f"{os.path.getsize(path) / 2**20:,.0f} MiB, "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        server = UIServer(path, "127.0.0.1", 0)
        server.start()
        times = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for _ in range(args.rounds):
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    started = time.perf_counter()
                    page.goto(f"{server.url}#/trace/{TRACE_ID}")
                    page.wait_for_selector("html[data-rendered=trace]", timeout=60_000)
                    # and painted: two animation frames after the DOM is built
                    page.evaluate(PAINTED)
                    elapsed = time.perf_counter() - started
                    bars = page.locator(".bar").count()
                    if bars != args.spans:
                        raise RuntimeError(f"{bars} bars drawn for {args.spans} spans")
                    times.append(elapsed)
                    page.close()
                browser.close()
            trace_s, trace_bytes = timed_get(server.port, f"/api/traces/{TRACE_ID}")
            span_s, span_bytes = timed_get(server.port, f"/api/traces/{TRACE_ID}/spans/{2:016x}")
        finally:
            server.stop()
    median = statistics.median(times)
    verdict = "PASS" if median < 2 else "MISS"
    print(
        f"open a {args.spans:,}-span trace, timeline drawn (median of {args.rounds}): "
        f"{median * 1000:.0f} ms ({verdict} target < 2 s); "
        f"rounds: {', '.join(f'{t * 1000:.0f}' for t in times)} ms"
    )
    print(
        f"GET /api/traces/<id> (light records, polled while running): "
        f"{trace_bytes / 2**20:.2f} MiB in {trace_s * 1000:.0f} ms; "
        f"GET .../spans/<id> (one full record): {span_bytes / 1024:.1f} KiB "
        f"in {span_s * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
