"""tracekit-openai: the OpenAI client's calls as tracekit spans.

This is the distribution in the repository's ``integrations/openai/`` folder,
built only on the public adapter API, :mod:`tracekit.integrations` (the
core module of that name is the API; this package is one adapter on it). It
registers through the ``tracekit.integrations`` entry point, so
``tracekit.init(integrations=["openai"])`` patches openai now, or on its
import if it is imported later. Importing this package imports nothing of
openai and patches nothing.

Traced: chat completions (``create``, with or without ``stream=True``, and
``parse``), the Responses API (``create``, streamed or not, and ``parse``),
and embeddings, for ``OpenAI``, ``AsyncOpenAI``, ``AzureOpenAI`` and
``AsyncAzureOpenAI`` alike, also through ``with_raw_response``. Each call is
one span of kind LLM (EMBEDDING for embeddings) under the current span.

Why the per-resource methods, not the client's single request path
(``OpenAI.request``/``_post``):

* the resource method sees the call as the user made it: keyword arguments
  by name (model, messages, tools, response_format as a pydantic class) and
  the typed response (``ChatCompletion``, ``Response``, the ``Stream`` of
  typed chunks). The request path sees a URL and a JSON body, and would have
  to reverse-engineer every endpoint from them;
* it is where ``with_raw_response``, ``with_streaming_response``, the
  ``chat.completions.stream()``/``responses.stream()`` helpers and the Azure
  clients all pass: each calls the same ``create`` (or ``parse``), so one
  wrapper per method covers them (``with_raw_response`` binds the method when
  it is first used, so it must be reached after patching, as any attribute
  lookup made after ``init`` is);
* the request path is private (``_post``, ``_request``) and changes between
  releases; the resource classes and their ``create`` are the public API;
* the span is current while the request runs, and only the resource method
  knows when a returned stream is done with.

Patching ``parse`` too records the parsed object, and a method that another
patched method calls records nothing of its own (openai 1.40's
``beta.chat.completions.parse`` calls ``chat.completions.create``), so one
call is one span.

Supported: openai 1.40 to 3.x. Tested: 1.40.8 (the oldest; ``make test`` runs
the adapter's tests on it too), 1.66.5 (the first with the Responses API) and
3.54.0. The Responses API is traced where openai has it (1.66 on),
``chat.completions.parse`` likewise (``beta.chat.completions.parse`` before it).
"""

from __future__ import annotations

from tracekit.integrations import Integration, unwrap_method, wrap_method
from tracekit_openai._wrappers import (
    BETA_CHAT_PARSE,
    CHAT_CREATE,
    CHAT_PARSE,
    EMBEDDINGS_CREATE,
    RESPONSES_CREATE,
    RESPONSES_PARSE,
    AsyncCall,
    Endpoint,
    SyncCall,
)

__all__ = ["OpenAIIntegration"]

__version__ = "0.1.0.dev0"

# (module, "Class.method", endpoint, async, required). Optional targets are
# patched where the installed openai has them.
_CHAT = "openai.resources.chat.completions"
_BETA_CHAT = "openai.resources.beta.chat.completions"
_RESPONSES = "openai.resources.responses"
_EMBEDDINGS = "openai.resources.embeddings"
TARGETS: tuple[tuple[str, str, Endpoint, bool, bool], ...] = (
    (_CHAT, "Completions.create", CHAT_CREATE, False, True),
    (_CHAT, "AsyncCompletions.create", CHAT_CREATE, True, True),
    (_CHAT, "Completions.parse", CHAT_PARSE, False, False),
    (_CHAT, "AsyncCompletions.parse", CHAT_PARSE, True, False),
    (_BETA_CHAT, "Completions.parse", BETA_CHAT_PARSE, False, False),
    (_BETA_CHAT, "AsyncCompletions.parse", BETA_CHAT_PARSE, True, False),
    (_RESPONSES, "Responses.create", RESPONSES_CREATE, False, False),
    (_RESPONSES, "AsyncResponses.create", RESPONSES_CREATE, True, False),
    (_RESPONSES, "Responses.parse", RESPONSES_PARSE, False, False),
    (_RESPONSES, "AsyncResponses.parse", RESPONSES_PARSE, True, False),
    (_EMBEDDINGS, "Embeddings.create", EMBEDDINGS_CREATE, False, True),
    (_EMBEDDINGS, "AsyncEmbeddings.create", EMBEDDINGS_CREATE, True, True),
)


class OpenAIIntegration(Integration):
    """The ``openai`` adapter: ``tracekit.init(integrations=["openai"])``."""

    name = "openai"
    requires = "openai>=1.40,<4"
    modules = ("openai",)

    def __init__(self) -> None:
        super().__init__()
        self._calls: list[SyncCall | AsyncCall] = []

    def _patch(self) -> None:
        import openai

        models = (openai.BaseModel,)
        unread = (openai.APIResponse, openai.AsyncAPIResponse)
        for module, path, endpoint, is_async, required in TARGETS:
            kind = AsyncCall if is_async else SyncCall
            call = kind(endpoint, models, unread)
            try:
                wrap_method(module, path, call)
            except (ImportError, AttributeError):
                if required:
                    raise
                continue
            self._calls.append(call)

    def _unpatch(self) -> None:
        for call in self._calls:
            call.live = False
        self._calls.clear()
        for module, path, *_ in TARGETS:
            unwrap_method(module, path)
