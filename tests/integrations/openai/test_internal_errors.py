"""The adapter's own failures go through the adapter API: counted in stats(), never raised."""

from __future__ import annotations

import contextlib
import logging

import pytest

import tracekit
from tracekit import _guard

MESSAGES = [{"role": "user", "content": "Capital of France?"}]


class UnprintableModel:
    """A model name object whose str() fails: the adapter cannot record it."""

    def __str__(self) -> str:
        raise RuntimeError("no name")


@pytest.fixture
def production_guard():
    """The guard as in an application: internal errors are counted and logged, not raised."""
    _guard.set_strict(False)
    yield
    _guard.reset()  # this test's planted error must not fail it through the autouse check
    _guard.set_strict(True)


def test_an_adapter_failure_is_counted_in_stats_and_the_call_goes_on(
    capture, client, production_guard, caplog
):
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        # whatever the client itself makes of the odd model is its own business
        with contextlib.suppress(Exception):
            client.chat.completions.create(model=UnprintableModel(), messages=MESSAGES)
        assert tracekit.stats()["internal_errors"] == 1
    assert any("adapter.openai.start" in r.getMessage() for r in caplog.records)
    # the failed call's span ended without what could not be read; the next call is whole
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    first, second = capture.spans(kind="LLM")
    assert first["model"] is None
    assert second["model"].startswith("gpt-4o-mini")
