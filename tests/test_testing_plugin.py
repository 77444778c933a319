"""tracekit.testing is a pytest plugin registered like a third party's."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import tracekit


def test_plugin_is_registered_through_pytest11():
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "tracekit"]
    assert entry.value == "tracekit.testing"
    assert entry.load().__name__ == "tracekit.testing"


def test_assert_tree_reports_a_readable_difference(tracekit_capture):
    @tracekit.agent
    def run():
        return None

    run()
    tracekit_capture.assert_tree("AGENT run")
    with pytest.raises(AssertionError, match="span tree differs"):
        tracekit_capture.assert_tree("TOOL run")


def test_capture_helpers(tracekit_capture):
    @tracekit.tool
    def a():
        return 1

    a()
    a()
    assert len(tracekit_capture.spans("a")) == 2
    assert len(tracekit_capture.spans(kind="TOOL")) == 2
    assert len(tracekit_capture.trace_ids()) == 2
    with pytest.raises(AssertionError, match="expected one span"):
        tracekit_capture.span("a")
    tracekit_capture.clear()
    assert tracekit_capture.records == []


def test_internal_errors_raise_under_the_plugin(tracekit_capture):
    from tracekit import _guard

    with pytest.raises(RuntimeError):
        _guard.internal_error(RuntimeError("bug"), "test")
    _guard.reset()  # the fixture would otherwise fail the test for this planted error
