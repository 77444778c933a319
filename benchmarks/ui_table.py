"""Web UI (#6): the trace table's first page over a store of 100k traces, through HTTP.

Builds a store of 100,000 traces through the sqlite backend, starts the UI
server on a free loopback port, and times ``GET /api/traces`` (the request the
table makes on load and every 2 s while live) over a kept-alive HTTP
connection: the server's whole path (Host check, store open, query, JSON).
Target: the first page in under 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sqlite_store import build_store  # the store benchmark's builder: same records

from tracekit.ui import UIServer


def timed_get(conn: http.client.HTTPConnection, host: str, path: str, repeat: int) -> float:
    """Median milliseconds of ``repeat`` GETs of ``path``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--spans-per-trace", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 traces: a smoke test")
    args = parser.parse_args(argv)
    traces = 2_000 if args.quick else args.traces
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "traces.db")
        started = time.perf_counter()
        build_store(path, traces, args.spans_per_trace)
        print(
            f"store: {traces:,} traces x {args.spans_per_trace} spans, "
            f"{os.path.getsize(path) / 2**20:,.0f} MiB, "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        server = UIServer(path, "127.0.0.1", 0)
        server.start()
        try:
            host = f"127.0.0.1:{server.port}"
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            first = timed_get(conn, host, "/api/traces?limit=50", 25)
            conn.request("GET", "/api/traces?limit=50", headers={"Host": host})
            page = json.loads(conn.getresponse().read())
            second = timed_get(
                conn,
                host,
                "/api/traces?" + urlencode({"limit": 50, "cursor": page["next_cursor"]}),
                25,
            )
            cases = {
                "status=ERROR (none match: scans the aggregates)": {"status": "ERROR"},
                "project=bench": {"project": "bench"},
                "q=item 1 (matches recent traces)": {"q": "item 1"},
                "since=1h": {"since": "1h"},
            }
            filtered = {
                label: timed_get(conn, host, "/api/traces?" + urlencode({**q, "limit": 50}), 5)
                for label, q in cases.items()
            }
            one = page["traces"][0]["trace_id"]
            trace_ms = timed_get(conn, host, f"/api/traces/{one}", 25)
            conn.close()
        finally:
            server.stop()
    verdict = "PASS" if first < 100 else "MISS"
    print(f"GET /api/traces first page (50 rows): {first:.2f} ms ({verdict} target < 100 ms)")
    print(f"GET /api/traces second page (cursor): {second:.2f} ms")
    for label, ms in filtered.items():
        print(f"GET /api/traces {label}: {ms:.2f} ms")
    print(f"GET /api/traces/<id> ({args.spans_per_trace} spans): {trace_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
