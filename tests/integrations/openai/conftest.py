"""The OpenAI adapter's tests: the real openai client against a local server.

``openai_server`` is the base URL of an OpenAI-compatible server on
127.0.0.1 (``server.py``, canned bodies in ``payloads/``); ``client`` and
``async_client`` talk to it with a planted fake key; ``capture`` is
tracekit's memory capture with the adapter patched, unpatched afterwards.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import openai
import pytest

import tracekit
from tracekit import integrations

HERE = Path(__file__).resolve().parent
PLANTED_KEY = "sk-tracekit-test-" + "Qm7Zx2Lp9Vw4Rt6Yk3Nb8Hc5"  # 24 characters after the prefix


def _load_server_module():
    """server.py under a name of its own (a bare ``server`` could clash with another folder's)."""
    name = "tracekit_openai_test_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "server.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


OpenAIServer = _load_server_module().OpenAIServer


@pytest.fixture(scope="session")
def _server_process():
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def server(_server_process):
    """The running server, its request log cleared for this test."""
    _server_process.clear()
    return _server_process


@pytest.fixture
def openai_server(server):
    """The server's base URL, as ``base_url`` for the client."""
    return server.url


@pytest.fixture
def planted_key():
    """The fake API key every client here sends: it must reach the server and nothing else."""
    return PLANTED_KEY


@pytest.fixture
def client(openai_server):
    with openai.OpenAI(base_url=openai_server, api_key=PLANTED_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def async_client(openai_server):
    async with openai.AsyncOpenAI(base_url=openai_server, api_key=PLANTED_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def capture(tracekit_capture):
    """tracekit capturing in memory, with the openai adapter patched for this test."""
    integrations.autopatch(["openai"])
    yield tracekit_capture
    integrations.unpatch(["openai"])


@pytest.fixture(autouse=True)
def _adapter_errors_fail_the_test():
    """The adapter reports its own failures to tracekit's guard: here any one fails the test."""
    yield
    assert tracekit.stats()["internal_errors"] == 0, "the openai adapter had an internal error"


class Caller:
    """One call in a mode of the matrix: sync or async client, streamed or not.

    ``run`` returns the response, or for a stream the list of its chunks;
    ``fail`` returns the exception the call raised.
    """

    def __init__(self, client, async_client, mode):
        self.client = client if mode == "sync" else async_client
        self.mode = mode

    async def run(self, method, **kwargs):
        result = method(self.client)(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        if kwargs.get("stream"):
            if self.mode == "sync":
                return list(result)
            return [chunk async for chunk in result]
        return result

    async def fail(self, method, **kwargs):
        try:
            await self.run(method, **kwargs)
        except openai.APIError as exc:
            return exc
        raise AssertionError("the call did not raise")


@pytest.fixture(params=["sync", "async"])
def caller(request, client, async_client):
    return Caller(client, async_client, request.param)
