"""One way to open a span, one sampling rule, one constructor for a span's fields."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import tracekit
from tracekit import _lifecycle, _span, integrations
from tracekit.backends import MemoryBackend

PACKAGE = Path(tracekit.__file__).resolve().parent


def _slots(cls: type) -> list[str]:
    return [s for c in cls.__mro__ for s in getattr(c, "__slots__", ()) if s != "__weakref__"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: tracekit.Span(name="hand-built"),
        lambda: _span.NonRecordingSpan(),
        lambda: _lifecycle.start_span("opened", "CHAIN", None),
    ],
    ids=["seed Span()", "NonRecordingSpan()", "start_span"],
)
def test_every_field_of_a_span_is_set_by_its_constructor(make):
    tracekit.init(MemoryBackend())
    span = make()
    for slot in _slots(tracekit.Span):
        getattr(span, slot)  # AttributeError here: a field nobody set


def _calls_in(path: Path, name: str) -> int:
    """Calls of the bare name ``name`` (as imported from tracekit's own modules)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name
    )


def test_only_the_lifecycle_module_opens_spans_and_samples():
    modules = sorted(PACKAGE.rglob("*.py"))
    # a span comes to life (registered as open, sampled) in _lifecycle alone
    registers = {
        p.name
        for p in modules
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and getattr(node.value, "id", None) == "open_spans"
    }
    assert registers == {"_lifecycle.py"}
    samplers = {p.name for p in modules if "random()" in p.read_text(encoding="utf-8")}
    samplers |= {p.name for p in modules if _calls_in(p, "_random")}
    assert samplers == {"_lifecycle.py"}
    builders = {p.name for p in modules if _calls_in(p, "setup")}
    assert builders == {"_span.py", "_lifecycle.py"}


@pytest.mark.parametrize(("rate", "kept"), [(0.0, 0), (1.0, 4)])
def test_every_way_of_opening_a_span_follows_the_one_sampling_rule(rate, kept):
    backend = MemoryBackend()
    tracekit.init(backend, sample_rate=rate)

    @tracekit.agent
    def decorated():
        return 1

    decorated()
    with tracekit.span("manual"):
        pass
    integrations.finish_span(integrations.open_span("adapter", "LLM"))
    tracekit.log(tracekit.Span(name="seed"))
    tracekit.flush()
    assert len(backend.records) == kept


def test_a_sampled_out_root_leaves_its_children_unrecorded():
    backend = MemoryBackend()
    tracekit.init(backend, sample_rate=0.0)

    @tracekit.tool
    def child():
        return tracekit.current_span().is_recording

    @tracekit.agent
    def root():
        return child()

    assert root() is False
    tracekit.flush()
    assert backend.records == []


class Untouchable(dict):
    """Inputs that fail when read: with tracing off nobody may read them."""

    def keys(self):
        raise AssertionError("inputs read while tracing is off")

    def __iter__(self):
        raise AssertionError("inputs read while tracing is off")


def test_with_tracing_off_the_inputs_of_manual_and_adapter_spans_are_not_read():
    tracekit.init(enabled=False)
    with tracekit.span("manual", inputs=Untouchable(a=1)) as span:
        assert span.is_recording is False
    opened = integrations.open_span("adapter", "LLM", Untouchable(a=1))
    assert opened.is_recording is False
    assert tracekit.stats()["internal_errors"] == 0


def _children_never_start_traces(records: list[dict], root: str) -> None:
    roots = [r for r in records if r["parent_id"] is None]
    assert {r["name"] for r in roots} <= {root}, "a span inside a sampled-out root made a trace"
    assert len(records) == 2 * len(roots)  # every kept trace is whole: root and child


def test_a_sampled_out_root_keeps_every_span_inside_it_unrecorded_whatever_opened_it():
    random.seed(20261203)
    backend = MemoryBackend()
    tracekit.init(backend, sample_rate=0.5)

    @tracekit.tool
    def child():
        return 1

    @tracekit.agent
    def decorated_root():
        return child()

    for _ in range(100):
        decorated_root()
    tracekit.flush()
    _children_never_start_traces(backend.records, "decorated_root")
    backend.clear()

    for _ in range(100):
        with tracekit.span("manual_root"):
            child()
    tracekit.flush()
    _children_never_start_traces(backend.records, "manual_root")
    backend.clear()

    for _ in range(100):
        span = integrations.open_span("adapter_root", "LLM")
        with integrations.current(span):
            child()
        integrations.finish_span(span)
    tracekit.flush()
    _children_never_start_traces(backend.records, "adapter_root")
    kept = len([r for r in backend.records if r["parent_id"] is None])
    assert 20 < kept < 80  # sampled, not all or nothing


class Costly(dict):
    """An argument whose capture is counted: a sampled-out root must not pay for it."""

    reads = 0

    def items(self):
        Costly.reads += 1
        return super().items()

    def __iter__(self):
        Costly.reads += 1
        return super().__iter__()


def test_a_sampled_out_root_does_not_capture_its_inputs():
    tracekit.init(MemoryBackend(), sample_rate=0.0)

    @tracekit.tool
    def root(payload):
        return 1

    @tracekit.tool
    def gen_root(payload):
        yield 1

    Costly.reads = 0
    root(Costly(a=1))
    list(gen_root(Costly(a=1)))
    with tracekit.span("manual", inputs=Costly(a=1)):
        pass
    integrations.open_span("adapter", "LLM", Costly(a=1))
    assert Costly.reads == 0


def test_a_logged_tree_is_exported_at_once_with_flush_on_root_end():
    backend = MemoryBackend()
    tracekit.init(backend, flush_on_root_end=True, export_interval=60)
    tracekit.log(tracekit.Span(name="seed root"))
    assert [r["name"] for r in backend.records] == ["seed root"]
