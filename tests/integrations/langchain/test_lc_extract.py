"""The pure extraction functions, on plain data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tracekit_langchain import _extract


@pytest.mark.parametrize(
    ("run_type", "name", "kind"),
    [
        ("chain", "RunnableSequence", "CHAIN"),
        ("prompt", "ChatPromptTemplate", "CHAIN"),
        ("parser", "StrOutputParser", "CHAIN"),
        ("llm", "FakeListLLM", "LLM"),
        ("chat_model", "ChatOpenAI", "LLM"),
        ("tool", "search", "TOOL"),
        ("retriever", "VectorStoreRetriever", "RETRIEVER"),
        ("embedding", "OpenAIEmbeddings", "EMBEDDING"),
        ("chain", "AgentExecutor", "AGENT"),
        ("chain", "LangGraph", "AGENT"),
        ("chain", "ReActAgent", "AGENT"),
        ("tool", "AgentExecutor", "TOOL"),
        ("something_new", "X", "CHAIN"),
    ],
)
def test_kinds(run_type, name, kind):
    assert _extract.kind_for(run_type, name) == kind


def test_model_and_params_from_invocation_params():
    params = {
        "model": "gpt-4o-mini",
        "_type": "openai-chat",
        "temperature": 0.1,
        "stop": None,
        "max_tokens": None,
        "n": 1,
    }
    assert _extract.model_and_params(params, None) == ("gpt-4o-mini", {"temperature": 0.1, "n": 1})


def test_model_falls_back_to_metadata():
    assert _extract.model_and_params({}, {"ls_model_name": "m"}) == ("m", {})
    assert _extract.model_and_params(None, None) == (None, {})


def _gen(text, usage=None):
    message = SimpleNamespace(content=text, usage_metadata=usage)
    return SimpleNamespace(message=message, text=text)


def test_usage_prefers_the_providers_token_usage():
    result = SimpleNamespace(
        llm_output={"token_usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        generations=[[_gen("a", {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2})]],
    )
    assert _extract.usage(result) == {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "total_tokens": 7,
    }


def test_usage_sums_usage_metadata_and_is_none_without_any():
    usage = {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}
    result = SimpleNamespace(llm_output=None, generations=[[_gen("a", usage)], [_gen("b", usage)]])
    assert _extract.usage(result) == {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}
    assert _extract.usage(SimpleNamespace(llm_output={}, generations=[[_gen("a")]])) is None


def test_parameters_are_the_constructor_kwargs_with_secrets_redacted():
    serialized = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "chat_models", "openai", "ChatOpenAI"],
        "kwargs": {
            "model_name": "gpt-4o-mini",
            "openai_api_key": {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]},
            "prompt": {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain", "prompts", "PromptTemplate"],
                "kwargs": {"template": "hi {x}", "input_variables": ["x"]},
            },
            "client": {"lc": 1, "type": "not_implemented", "id": ["x", "Client"], "repr": "k"},
        },
    }
    assert _extract.parameters(serialized) == {
        "model_name": "gpt-4o-mini",
        "openai_api_key": "[REDACTED]",
        "prompt": {"_type": "PromptTemplate", "template": "hi {x}", "input_variables": ["x"]},
        "client": {"_type": "Client"},
    }


def test_no_parameters_without_a_constructor():
    assert _extract.parameters(None) is None
    assert _extract.parameters({"lc": 1, "type": "not_implemented", "repr": "x"}) is None
    assert _extract.parameters({"lc": 1, "type": "constructor", "kwargs": {}}) is None
