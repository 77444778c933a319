"""tracekit's pytest plugin: capture spans in memory and assert on them.

Registered through the ``pytest11`` entry point, so installing tracekit makes
these fixtures available to every test suite:

* ``tracekit_capture``: tracekit initialised with a memory backend for the
  test, internal errors raising (strict), torn down afterwards. It yields a
  :class:`Capture`.
* ``tracekit_deterministic``: the same, with sequential ids and a fake clock
  (each clock read advances 1 ms), so whole records can be compared.

Example::

    def test_agent_calls_search(tracekit_capture):
        my_agent("question")
        tracekit_capture.assert_tree('''
            AGENT my_agent
              TOOL search
              LLM answer
        ''')
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tracekit import _config, _guard, _state
from tracekit._record import Node, build_tree, map_tree
from tracekit.backends.memory import MemoryBackend

__all__ = [
    "Capture",
    "reset",
    "sequential_ids",
    "stepping_clock",
    "tracekit_capture",
    "tracekit_deterministic",
]


class Capture:
    """Spans recorded during one test, read through a memory backend."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every span record finished so far (flushes first), in end order."""
        _config.flush()
        return self.backend.records

    def spans(self, name: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Records filtered by name and/or kind."""
        return [
            r
            for r in self.records
            if (name is None or r["name"] == name) and (kind is None or r["kind"] == kind)
        ]

    def span(self, name: str) -> dict[str, Any]:
        """The one record named ``name``; AssertionError if there are none or several."""
        found = self.spans(name)
        assert len(found) == 1, f"expected one span named {name!r}, found {len(found)}"
        return found[0]

    def trace_ids(self) -> list[str]:
        """Trace ids in the order their first span started."""
        ordered = sorted(self.records, key=lambda r: r["start_ns"])
        return list(dict.fromkeys(r["trace_id"] for r in ordered))

    def tree(self, trace_id: str | None = None) -> list[dict[str, Any]]:
        """The spans as nested ``{"name", "kind", "record", "children", "cycle"}`` dicts.

        The tree of ``tracekit show`` and the web UI (``_record.build_tree``):
        roots in start order, each trace's tree on its own.

        Args:
            trace_id: one trace; all traces (roots in start order) when None.
        """

        def one(node: Node) -> dict[str, Any]:  # the outline reads name and kind on the node
            record = node["record"]
            return {
                "name": record.get("name"),
                "kind": record.get("kind"),
                "record": record,
                "children": [],
                "cycle": node["cycle"],
            }

        def named(node: Node) -> dict[str, Any]:
            return map_tree(node, one, _children_of, _children_of)  # type: ignore[no-any-return]

        by_trace: dict[str, list[dict[str, Any]]] = {}
        for r in self.records:
            if trace_id is None or r["trace_id"] == trace_id:
                by_trace.setdefault(r["trace_id"], []).append(r)
        roots = [named(root) for records in by_trace.values() for root in build_tree(records)]
        roots.sort(key=lambda node: (node["record"]["start_ns"], node["record"]["span_id"]))
        return roots

    def outline(self, trace_id: str | None = None) -> str:
        """The tree as indented ``KIND name`` lines (two spaces per level)."""
        lines: list[str] = []

        def walk(node: dict[str, Any], depth: int) -> None:
            lines.append(f"{'  ' * depth}{node['kind']} {node['name']}")
            for child in node["children"]:
                walk(child, depth + 1)

        for root in self.tree(trace_id):
            walk(root, 0)
        return "\n".join(lines)

    def assert_tree(self, expected: str, trace_id: str | None = None) -> None:
        """Assert the recorded tree matches an indented ``KIND name`` outline.

        Siblings are compared in start order; indentation is two spaces.
        """
        want = textwrap.dedent(expected).strip("\n")
        want = "\n".join(line.rstrip() for line in want.splitlines() if line.strip())
        got = self.outline(trace_id)
        assert got == want, f"span tree differs:\n--- expected\n{want}\n--- recorded\n{got}"

    def clear(self) -> None:
        """Forget the records captured so far."""
        _config.flush()
        self.backend.clear()


def _children_of(node: dict[str, Any]) -> list[dict[str, Any]]:
    return node["children"]  # type: ignore[no-any-return]


def sequential_ids() -> Callable[[int], int]:
    """An id source yielding 1, 2, 3... for both trace ids and span ids."""
    counter = itertools.count(1)
    return lambda bits: next(counter)


def stepping_clock(
    start_ns: int = 1_700_000_000_000_000_000, step_ns: int = 1_000_000
) -> Callable[[], int]:
    """A fake clock: each read returns the previous value plus ``step_ns``."""
    counter = itertools.count(start_ns, step_ns)
    return lambda: next(counter)


def reset() -> None:
    """Put tracekit back as if it had just been imported, for a test suite's own fixtures.

    Stops the pipeline (bounded), removes every adapter's patches and forgets
    registered adapters, removes thread propagation, and resets configuration,
    counters and open spans. The fixtures below call it before and after each test.
    """
    _config._reset()


def _capture(**init_options: Any) -> Iterator[Capture]:
    was_strict = _guard.is_strict()
    reset()
    _guard.set_strict(True)
    backend = MemoryBackend()
    _config.init(backend, **init_options)
    try:
        yield Capture(backend)
        errors = _guard.count()
        assert errors == 0, f"tracekit had {errors} internal error(s) during the test"
    finally:
        reset()
        _guard.set_strict(was_strict)


@pytest.fixture
def tracekit_capture() -> Iterator[Capture]:
    """Tracekit initialised with a memory backend for this test (strict errors)."""
    yield from _capture()


@pytest.fixture
def tracekit_deterministic() -> Iterator[Capture]:
    """Like ``tracekit_capture``, with sequential ids and a fake clock."""
    for capture in _capture():
        rt = _state.runtime
        rt.new_id = sequential_ids()
        rt.clock = stepping_clock()
        yield capture
