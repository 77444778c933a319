"""Per-span overhead of tracekit against floors measured in the same run.

Three workloads, each run under every variant, round-robin (one round of every
variant, then the next round), so drift on the machine hits all variants alike:

* sync:      outer(i, q) -> middle(i, q) -> leaf(i, q)      3 spans per call
* async:     the same nesting with ``async def``, awaited    3 spans per call
             sequentially inside one event loop (one ``run_until_complete``
             per round)
* generator: answer(i, q) does ``yield from chunks(i, q)``;  2 spans per call
             chunks yields 4 small items; consumed fully

Variants:

* undecorated                  the plain functions
* bare wrapt                   ``wrapt.FunctionWrapper`` whose wrapper only calls
                               ``wrapped(*args, **kwargs)`` (coroutines and
                               generators are returned as they are)
* floor                        wrapt + ContextVar set/reset + two ``time.time_ns()``
                               + a ``__slots__`` record + ``json.dumps`` of the
                               arguments and of the result (the issue's floor)
* tracekit before init()       ``@tracekit.trace``, state as just imported
* tracekit init(enabled=False) ``@tracekit.trace``, tracing switched off
* tracekit enabled             ``tracekit.init(MemoryBackend())``; every round ends
                               with ``tracekit.flush()`` inside the timing; the
                               queue is sized to hold one round so that every
                               span is exported and counted (asserted)
* tracekit enabled, default    the same with the published queue caps (2048
  queue caps                   spans): what a tight loop does to the queue
                               (dropped spans are reported; not an acceptance row)
* OpenTelemetry SDK            if ``opentelemetry-sdk`` is importable: a wrapt
                               decorator doing ``start_as_current_span`` + the
                               same JSON attributes, BatchSpanProcessor sized to
                               the round + InMemorySpanExporter, force_flush timed

Run: ``make bench`` or ``.venv/bin/python benchmarks/overhead.py [--quick] [--json PATH]``.
Exit status is 0 whatever the numbers: benchmarks report, they do not gate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import datetime
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wrapt
from _common import environment, median, spread_pct, table, write_json

import tracekit
from tracekit import _config
from tracekit.backends import MemoryBackend

QUERY = "query text"
SPANS_PER_CALL = {"sync": 3, "async": 3, "generator": 2}
WORKLOADS = ("sync", "async", "generator")

# Acceptance targets of the issue.
ENABLED_LIMIT = 1.5  # (a), (b): enabled + flush <= 1.5x the floor decorator
OFF_LIMIT = 1.2  # (c): off / before init() <= 1.2x a bare wrapt pass-through

# -- the workloads ------------------------------------------------------------------

Deco = Callable[[Any], Any]


def build_sync(deco: Deco) -> Callable[[int], None]:
    @deco
    def leaf(i: int, q: str) -> int:
        return len(q) + i

    @deco
    def middle(i: int, q: str) -> int:
        return leaf(i, q) * 2

    @deco
    def outer(i: int, q: str) -> int:
        return middle(i, q) + 1

    def run(n: int) -> None:
        for i in range(n):
            outer(i, QUERY)

    return run


def build_async(deco: Deco, loop: asyncio.AbstractEventLoop) -> Callable[[int], None]:
    @deco
    async def leaf(i: int, q: str) -> int:
        return len(q) + i

    @deco
    async def middle(i: int, q: str) -> int:
        return (await leaf(i, q)) * 2

    @deco
    async def outer(i: int, q: str) -> int:
        return (await middle(i, q)) + 1

    async def drive(n: int) -> None:
        for i in range(n):
            await outer(i, QUERY)

    def run(n: int) -> None:
        loop.run_until_complete(drive(n))

    return run


def build_generator(deco: Deco) -> Callable[[int], None]:
    @deco
    def chunks(i: int, q: str) -> Any:
        yield "The"
        yield " answer"
        yield " is"
        yield i

    @deco
    def answer(i: int, q: str) -> Any:
        return (yield from chunks(i, q))

    def run(n: int) -> None:
        for i in range(n):
            for _ in answer(i, QUERY):
                pass

    return run


# -- bare wrapt pass-through ----------------------------------------------------------


def _passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)  # a coroutine or generator is returned as it is


def bare_wrapt(fn: Any) -> Any:
    return wrapt.FunctionWrapper(fn, _passthrough)


# -- the floor decorator (the definition, nothing more) ------------------------

_FLOOR_CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("floor", default=None)
_floor_set = _FLOOR_CURRENT.set
_floor_reset = _FLOOR_CURRENT.reset
_dumps = json.dumps
_time_ns = time.time_ns


class FloorRecord:
    __slots__ = ("end_ns", "inputs", "name", "outputs", "start_ns")


def floor(fn: Any) -> Any:
    """wrapt + ContextVar set/reset + 2 clock reads + a __slots__ object + json.dumps x2."""
    name = fn.__qualname__
    if asyncio.iscoroutinefunction(fn):

        async def floor_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            rec = FloorRecord()
            rec.name = name
            rec.start_ns = _time_ns()
            rec.inputs = _dumps(args) if not kwargs else _dumps([args, kwargs])
            token = _floor_set(rec)
            try:
                result = await wrapped(*args, **kwargs)
            finally:
                _floor_reset(token)
            rec.outputs = _dumps(result)
            rec.end_ns = _time_ns()
            return result

        return wrapt.FunctionWrapper(fn, floor_async)

    if _is_generator_function(fn):

        def floor_gen(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            rec = FloorRecord()
            rec.name = name
            rec.start_ns = _time_ns()
            rec.inputs = _dumps(args) if not kwargs else _dumps([args, kwargs])
            return _floor_drive(rec, wrapped(*args, **kwargs))

        return wrapt.FunctionWrapper(fn, floor_gen)

    def floor_sync(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        rec = FloorRecord()
        rec.name = name
        rec.start_ns = _time_ns()
        rec.inputs = _dumps(args) if not kwargs else _dumps([args, kwargs])
        token = _floor_set(rec)
        try:
            result = wrapped(*args, **kwargs)
        finally:
            _floor_reset(token)
        rec.outputs = _dumps(result)
        rec.end_ns = _time_ns()
        return result

    return wrapt.FunctionWrapper(fn, floor_sync)


def _floor_drive(rec: FloorRecord, gen: Any) -> Any:
    """The contextvar is set around each ``next``; the items are dumped at the end."""
    items = []
    while True:
        token = _floor_set(rec)
        try:
            item = next(gen)
        except StopIteration as stop:
            _floor_reset(token)
            rec.outputs = _dumps(items)
            rec.end_ns = _time_ns()
            return stop.value
        _floor_reset(token)
        items.append(item)
        yield item


def _is_generator_function(fn: Any) -> bool:
    import inspect

    return inspect.isgeneratorfunction(fn)


# -- OpenTelemetry SDK (optional) -------------------------------------------------------


class OTel:
    """A like-for-like OpenTelemetry decorator: span + JSON input/output attributes."""

    def __init__(self, queue_size: int) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace as otel_trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, max_queue_size=queue_size, max_export_batch_size=512)
        )
        self.tracer = self.provider.get_tracer("tracekit-benchmark")
        self._attach = otel_context.attach
        self._detach = otel_context.detach
        self._in_context = otel_trace.set_span_in_context

    def flush(self) -> bool:
        return bool(self.provider.force_flush(30_000))

    def count_and_clear(self) -> int:
        n = len(self.exporter.get_finished_spans())
        self.exporter.clear()
        return n

    def shutdown(self) -> None:
        self.provider.shutdown()

    def deco(self, fn: Any) -> Any:
        name = fn.__qualname__
        tracer = self.tracer
        if asyncio.iscoroutinefunction(fn):

            async def otel_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                with tracer.start_as_current_span(name) as span:
                    span.set_attribute("input", _dumps(args))
                    result = await wrapped(*args, **kwargs)
                    span.set_attribute("output", _dumps(result))
                    return result

            return wrapt.FunctionWrapper(fn, otel_async)

        if _is_generator_function(fn):
            attach, detach, in_context = self._attach, self._detach, self._in_context

            def otel_drive(span: Any, gen: Any) -> Any:
                ctx = in_context(span)
                items = []
                while True:
                    token = attach(ctx)
                    try:
                        item = next(gen)
                    except StopIteration as stop:
                        detach(token)
                        span.set_attribute("output", _dumps(items))
                        span.end()
                        return stop.value
                    detach(token)
                    items.append(item)
                    yield item

            def otel_gen(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                span = tracer.start_span(name)
                span.set_attribute("input", _dumps(args))
                return otel_drive(span, wrapped(*args, **kwargs))

            return wrapt.FunctionWrapper(fn, otel_gen)

        def otel_sync(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            with tracer.start_as_current_span(name) as span:
                span.set_attribute("input", _dumps(args))
                result = wrapped(*args, **kwargs)
                span.set_attribute("output", _dumps(result))
                return result

        return wrapt.FunctionWrapper(fn, otel_sync)


def otel_available() -> tuple[bool, str]:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
        from opentelemetry.version import __version__
    except ImportError as exc:
        return False, f"opentelemetry-sdk not importable ({exc}); row skipped"
    return True, __version__


# -- variants ----------------------------------------------------------------------------

UNDECORATED = "undecorated"
BARE = "bare wrapt"
FLOOR = "floor"
BEFORE_INIT = "tracekit before init()"
DISABLED = "tracekit init(enabled=False)"
ENABLED = "tracekit enabled + flush"
ENABLED_DEFAULT = "tracekit enabled, default caps"
DEFERRED = "tracekit enabled, export deferred"
DISCARD = "tracekit enabled + flush, write-and-drop backend"
OTEL = "OpenTelemetry SDK + flush"


@dataclass
class Variant:
    name: str
    runs: dict[str, Callable[[int], None]]
    setup: Callable[[str], None] = lambda workload: None
    finish: Callable[[], None] = lambda: None  # inside the timing
    check: Callable[[str, int], dict[str, Any]] = lambda workload, spans: {}
    samples: dict[str, list[float]] = field(default_factory=dict)
    # The part of each round spent in ``finish`` (the flush), per span.
    finish_samples: dict[str, list[float]] = field(default_factory=dict)
    # Time spent in the cyclic GC during each round, per span.
    gc_samples: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _build_all(deco: Deco, loop: asyncio.AbstractEventLoop) -> dict[str, Callable[[int], None]]:
    return {
        "sync": build_sync(deco),
        "async": build_async(deco, loop),
        "generator": build_generator(deco),
    }


class CountingBackend:
    """Counts records and keeps none, as a backend that writes them out does.

    The memory backend keeps every record alive until the round ends, and the
    cyclic GC walks them all; real backends (jsonl, sqlite, OTLP) drop each
    batch once written. This row shows the cost without that retention.
    """

    def __init__(self) -> None:
        self.count = 0

    def export(self, records: Any) -> None:
        self.count += len(records)

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def clear(self) -> None:
        self.count = 0

    def check(self, spans: int) -> dict[str, Any]:
        got, self.count = self.count, 0
        _config._reset()
        if got != spans:
            raise AssertionError(f"expected {spans} records, got {got}")
        return {"exported": got}


def make_variants(
    loop: asyncio.AbstractEventLoop, calls: dict[str, int], use_otel: bool
) -> list[Variant]:
    identity: Deco = lambda fn: fn  # noqa: E731
    traced = _build_all(tracekit.trace, loop)  # decorated once; the state is switched
    max_round_spans = max(calls[w] * SPANS_PER_CALL[w] for w in WORKLOADS)
    # twice a round: the queue stays under the 90% at which new traces are refused (D109)
    backend = MemoryBackend()
    discarding = CountingBackend()

    def before_init(workload: str) -> None:
        _config._reset()

    def disabled(workload: str) -> None:
        _config._reset()
        tracekit.init(enabled=False)

    def enabled_with(
        queue_max_spans: int | None, defer: bool = False, sink: Any = backend
    ) -> Callable[[str], None]:
        def setup(workload: str) -> None:
            _config._reset()
            kwargs: dict[str, Any] = {}
            if queue_max_spans is not None:
                kwargs["queue_max_spans"] = queue_max_spans
            if defer:  # one batch per round, exported only by the flush
                kwargs["batch_size"] = queue_max_spans
                kwargs["export_interval"] = 3600.0
            tracekit.init(sink, **kwargs)
            traced[workload](2)  # start the exporter thread outside the timing
            tracekit.flush()
            sink.clear()

        return setup

    def flush() -> None:
        if not tracekit.flush(timeout=60):
            raise RuntimeError("tracekit.flush() timed out")

    def check_enabled(exact: bool) -> Callable[[str, int], dict[str, Any]]:
        def check(workload: str, spans: int) -> dict[str, Any]:
            got = len(backend.records)
            stats = tracekit.stats()
            # a trace refused at its root counts its root; its other spans never existed
            refused = stats.get("refused_traces", 0) * (SPANS_PER_CALL[workload] - 1)
            dropped = stats["dropped"]["queue_full"] + refused
            backend.clear()
            _config._reset()
            if exact and got != spans:
                raise AssertionError(f"{workload}: expected {spans} records, got {got}")
            if got + dropped != spans:
                raise AssertionError(f"{workload}: {got} exported + {dropped} dropped != {spans}")
            return {"exported": got, "dropped_queue_full": dropped}

        return check

    variants = [
        Variant(UNDECORATED, _build_all(identity, loop)),
        Variant(BARE, _build_all(bare_wrapt, loop)),
        Variant(FLOOR, _build_all(floor, loop)),
        Variant(BEFORE_INIT, traced, setup=before_init),
        Variant(DISABLED, traced, setup=disabled, check=lambda w, s: _reset_state()),
        Variant(
            ENABLED,
            traced,
            setup=enabled_with(2 * max_round_spans + 64),
            finish=flush,
            check=check_enabled(exact=True),
        ),
        Variant(
            ENABLED_DEFAULT,
            traced,
            setup=enabled_with(None),
            finish=flush,
            check=check_enabled(exact=False),
        ),
        Variant(
            DISCARD,
            traced,
            setup=enabled_with(2 * max_round_spans + 64, sink=discarding),
            finish=flush,
            check=lambda workload, spans: discarding.check(spans),
        ),
        Variant(
            DEFERRED,
            traced,
            setup=enabled_with(2 * max_round_spans + 64, defer=True),
            finish=flush,
            check=check_enabled(exact=True),
        ),
    ]
    if use_otel:
        otel = OTel(queue_size=max_round_spans + 64)

        def otel_finish() -> None:
            if not otel.flush():
                raise RuntimeError("OpenTelemetry force_flush timed out")

        def otel_setup(workload: str) -> None:
            otel.count_and_clear()

        def otel_check(workload: str, spans: int) -> dict[str, Any]:
            got = otel.count_and_clear()
            if got != spans:
                raise AssertionError(f"otel {workload}: expected {spans} spans, got {got}")
            return {"exported": got}

        variants.append(
            Variant(
                OTEL,
                _build_all(otel.deco, loop),
                setup=otel_setup,
                finish=otel_finish,
                check=otel_check,
            )
        )
    return variants


def _reset_state() -> dict[str, Any]:
    _config._reset()
    return {}


# -- timing ------------------------------------------------------------------------------


class GcClock:
    """Time spent in the cyclic garbage collector (gc stays enabled during rounds)."""

    def __init__(self) -> None:
        self.total_ns = 0
        self._start = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.total_ns += time.perf_counter_ns() - self._start


def time_round(variant: Variant, workload: str, n: int) -> tuple[int, dict[str, Any]]:
    run = variant.runs[workload]
    variant.setup(workload)
    gc.collect()
    clock = GcClock()
    gc.callbacks.append(clock)
    try:
        t0 = time.perf_counter_ns()
        run(n)
        t1 = time.perf_counter_ns()
        variant.finish()
        t2 = time.perf_counter_ns()
    finally:
        gc.callbacks.remove(clock)
    info = variant.check(workload, n * SPANS_PER_CALL[workload])
    info["finish_ns"] = t2 - t1
    info["gc_ns"] = clock.total_ns
    return t2 - t0, info


def measure(variants: list[Variant], calls: dict[str, int], rounds: int, warmup: int) -> None:
    for workload in WORKLOADS:
        for v in variants:  # warm-up: caches, code objects, first-call paths
            time_round(v, workload, warmup)
    for r in range(rounds):
        for workload in WORKLOADS:
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for v in order:
                elapsed, info = time_round(v, workload, calls[workload])
                spans = calls[workload] * SPANS_PER_CALL[workload]
                v.samples.setdefault(workload, []).append(elapsed / spans)
                v.finish_samples.setdefault(workload, []).append(info.pop("finish_ns") / spans)
                v.gc_samples.setdefault(workload, []).append(info.pop("gc_ns") / spans)
                if info:
                    v.extra.setdefault(workload, []).append(info)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)


# -- report ------------------------------------------------------------------------------


def summarize(variants: list[Variant], calls: dict[str, int]) -> list[dict[str, Any]]:
    by_name = {v.name: v for v in variants}
    results = []
    for workload in WORKLOADS:
        base = median(by_name[UNDECORATED].samples[workload])
        floor_ns = median(by_name[FLOOR].samples[workload])
        bare_ns = median(by_name[BARE].samples[workload])
        for v in variants:
            samples = v.samples[workload]
            ns = median(samples)
            row: dict[str, Any] = {
                "workload": workload,
                "variant": v.name,
                "ns_per_span": round(ns, 1),
                "overhead_ns_per_span": round(ns - base, 1),
                "spread_pct": round(spread_pct(samples), 1),
                "gc_ns_per_span": round(median(v.gc_samples[workload]), 1),
                "rounds_ns_per_span": [round(s, 1) for s in samples],
                "calls_per_round": calls[workload],
                "spans_per_round": calls[workload] * SPANS_PER_CALL[workload],
            }
            if v.name in (ENABLED, ENABLED_DEFAULT, DISCARD, DEFERRED, OTEL):
                row["flush_ns_per_span"] = round(median(v.finish_samples[workload]), 1)
            if v.name in (FLOOR, ENABLED, ENABLED_DEFAULT, DISCARD, DEFERRED, OTEL):
                row["ratio"] = round(ns / floor_ns, 3)
                row["ratio_vs"] = "floor"
                row["overhead_ratio"] = round((ns - base) / (floor_ns - base), 3)
            elif v.name in (BARE, BEFORE_INIT, DISABLED):
                row["ratio"] = round(ns / bare_ns, 3)
                row["ratio_vs"] = "bare wrapt"
                row["overhead_ratio"] = round((ns - base) / (bare_ns - base), 3)
            extra = v.extra.get(workload)
            if extra and "dropped_queue_full" in extra[0]:
                drops = [e["dropped_queue_full"] for e in extra]
                row["dropped_queue_full_per_round"] = drops
            results.append(row)
    return results


def acceptance(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def row(workload: str, variant: str) -> dict[str, Any]:
        for r in results:
            if r["workload"] == workload and r["variant"] == variant:
                return r
        raise KeyError((workload, variant))

    def ratio(workload: str, variant: str) -> float:
        return float(row(workload, variant)["ratio"])

    def ratio_without_gc(workload: str) -> float:
        # Informational: the memory backend keeps every record of the round alive,
        # so the cyclic GC scans them; a backend that writes records out does not.
        mine, ref = row(workload, ENABLED), row(workload, FLOOR)
        return round(
            (mine["ns_per_span"] - mine["gc_ns_per_span"])
            / (ref["ns_per_span"] - ref["gc_ns_per_span"]),
            3,
        )

    checks = [
        ("(a)", "sync, enabled + flush vs floor", ratio("sync", ENABLED), ENABLED_LIMIT),
        ("(b)", "async, enabled + flush vs floor", ratio("async", ENABLED), ENABLED_LIMIT),
        ("(b)", "generator, enabled + flush vs floor", ratio("generator", ENABLED), ENABLED_LIMIT),
    ]
    for workload in WORKLOADS:
        for variant, label in ((BEFORE_INIT, "before init()"), (DISABLED, "init(enabled=False)")):
            checks.append(
                ("(c)", f"{workload}, {label} vs bare wrapt", ratio(workload, variant), OFF_LIMIT)
            )
    out = [
        {"target": t, "what": what, "ratio": value, "limit": limit, "pass": value <= limit}
        for t, what, value, limit in checks
    ]
    for check, workload in zip(out[: len(WORKLOADS)], WORKLOADS, strict=True):
        check["ratio_without_gc"] = ratio_without_gc(workload)
    return out


def print_report(
    results: list[dict[str, Any]], checks: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    env = meta["environment"]
    print(
        f"tracekit {env['tracekit']} overhead benchmark: Python {env['python']}, "
        f"{env['cpus']} CPUs, wrapt {env['wrapt']}, {meta['otel']}, "
        f"revision {env['revision']}"
    )
    print(
        f"median of {meta['rounds']} rounds; calls per round: "
        + ", ".join(f"{w} {meta['calls'][w]} x {SPANS_PER_CALL[w]} spans" for w in WORKLOADS)
    )
    print()
    rows = []
    for r in results:
        ratio = f"{r['ratio']:.2f}x {r['ratio_vs']}" if "ratio" in r else ""
        oratio = f"{r['overhead_ratio']:.2f}x" if "overhead_ratio" in r else ""
        note = ""
        if "dropped_queue_full_per_round" in r:
            drops = r["dropped_queue_full_per_round"]
            if any(drops):
                pct = 100.0 * median(drops) / r["spans_per_round"]
                note = f"dropped {median(drops):.0f}/round ({pct:.1f}%), max {max(drops)}"
            else:
                note = "0 dropped"
        if r["variant"] == DEFERRED:
            flush_ns = r["flush_ns_per_span"]
            note = f"hot path {r['ns_per_span'] - flush_ns:.0f} + export {flush_ns:.0f}"
        rows.append(
            [
                r["workload"],
                r["variant"],
                f"{r['ns_per_span']:.0f}",
                f"{r['overhead_ns_per_span']:.0f}",
                f"±{r['spread_pct'] / 2:.0f}%",
                f"{r['gc_ns_per_span']:.0f}",
                ratio,
                oratio,
                note,
            ]
        )
    print(
        table(
            [
                "workload",
                "variant",
                "ns/span",
                "overhead",
                "noise",
                "gc",
                "ratio",
                "overhead ratio",
                "note",
            ],
            rows,
            right=(2, 3, 4, 5),
        )
    )
    print()
    print(
        "overhead = ns/span - undecorated ns/span; ratio = ns/span / the floor's (or bare "
        "wrapt's) ns/span;\noverhead ratio = overhead / the floor's (or bare wrapt's) overhead; "
        "noise = half the (max - min) spread of the rounds;\ngc = ns/span spent in the "
        "cyclic garbage collector during the round (included in ns/span)."
    )
    print()
    for c in checks:
        verdict = "PASS" if c["pass"] else "MISS"
        extra = ""
        if "ratio_without_gc" in c:
            extra = f"  [{c['ratio_without_gc']:.2f}x with GC time taken out of both]"
        print(
            f"{verdict} {c['target']} {c['what']}: {c['ratio']:.2f}x "
            f"(target <= {c['limit']}x){extra}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, small N (smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7)")
    parser.add_argument("--calls", type=int, default=None, help="top-level calls per round")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--no-otel", action="store_true", help="skip the OpenTelemetry row")
    args = parser.parse_args(argv)

    # Before init() means no TRACEKIT_BACKEND either (it would switch tracing on).
    for var in ("TRACEKIT_BACKEND", "TRACEKIT_DISABLED", "TRACEKIT_SAMPLE_RATE"):
        os.environ.pop(var, None)

    rounds = args.rounds or (3 if args.quick else 7)
    n = args.calls or (1_000 if args.quick else 10_000)
    calls = dict.fromkeys(WORKLOADS, n)
    use_otel, otel_note = (False, "OpenTelemetry row skipped (--no-otel)")
    if not args.no_otel:
        use_otel, version = otel_available()
        otel_note = f"opentelemetry-sdk {version}" if use_otel else version

    loop = asyncio.new_event_loop()
    try:
        variants = make_variants(loop, calls, use_otel)
        measure(variants, calls, rounds, warmup=max(100, n // 10))
    finally:
        _config._reset()
        loop.close()

    meta = {
        "date": datetime.date.today().isoformat(),
        "environment": environment(),
        "rounds": rounds,
        "calls": calls,
        "spans_per_call": SPANS_PER_CALL,
        "otel": otel_note,
    }
    results = summarize(variants, calls)
    checks = acceptance(results)
    print_report(results, checks, meta)
    if not use_otel:
        print(f"\nnote: {otel_note}")
    if args.json:
        write_json(args.json, {"meta": meta, "results": results, "acceptance": checks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
