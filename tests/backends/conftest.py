"""Fixtures for the remote backends: a local OTLP receiver and the OpenAI test server.

``receiver`` is a running :class:`otlp_receiver.OtlpReceiver` on 127.0.0.1;
``openai_client`` is the real ``openai`` client talking to the OpenAI-compatible
server of ``tests/integrations/openai`` (imported from there, not copied).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
OPENAI_TESTS = HERE.parent / "integrations" / "openai"


def _load(name: str, path: Path):
    """A helper module under a name of its own (bare names could clash between folders)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_receiver_module():
    return _load("tracekit_otlp_test_receiver", HERE / "otlp_receiver.py")


@pytest.fixture
def receiver_class():
    """The receiver class, to start one on a chosen port (``OtlpReceiver(port)``)."""
    return load_receiver_module().OtlpReceiver


@pytest.fixture
def closed_port_url(receiver_class):
    """A URL where nothing listens: a receiver's port, once it has stopped."""
    with receiver_class() as stopped:
        return stopped.url


@pytest.fixture
def receiver():
    with load_receiver_module().OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="session")
def _openai_server():
    # the same module name as tests/integrations/openai/conftest.py uses: one server class
    server_module = _load("tracekit_openai_test_server", OPENAI_TESTS / "server.py")
    with server_module.OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_client(_openai_server):
    import openai

    with openai.OpenAI(
        base_url=_openai_server.url, api_key="sk-tracekit-test-unused", max_retries=0
    ) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch, tmp_path):
    """Tests start from a clean OTel environment; any spool lands in tmp_path."""
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "TRACEKIT_OTLP_SPOOL",
        "TRACEKIT_OTLP_SPOOL_MAX_MB",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
