"""Every test starts from a freshly imported tracekit, with internal errors raising."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracekit import _config, _guard


@pytest.fixture(autouse=True)
def _fresh_tracekit() -> Iterator[None]:
    _config._reset()
    _guard.set_strict(True)
    yield
    _config._reset()
    _guard.set_strict(False)
