"""The LangChain adapter's fixtures: real langchain-core runnables and fake models.

``capture`` is tracekit's memory capture with the adapter patched (unpatched
afterwards); ``mode`` is each mode of the call matrix (see ``lc_helpers``).
"""

from __future__ import annotations

import pytest
from lc_helpers import MODES

from tracekit import integrations


@pytest.fixture
def capture(tracekit_capture):
    """tracekit capturing in memory, with the langchain adapter patched for this test."""
    integrations.autopatch(["langchain"])
    yield tracekit_capture
    integrations.unpatch(["langchain"])


@pytest.fixture(params=MODES)
def mode(request):
    return request.param
