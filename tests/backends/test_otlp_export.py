"""The otlp backend end to end: tracekit spans -> a local OTLP/HTTP receiver.

The receiver decodes each request with the official OpenTelemetry protobuf
definitions; LLM spans come from the OpenAI adapter driving the real
``openai`` client against the local OpenAI-compatible test server.
"""

from __future__ import annotations

import json

import pytest

import tracekit
from tracekit.backends.otlp import OtlpBackend

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
STATUS_ERROR = 2


def otlp_url(receiver, query=""):
    return "otlp+http://" + receiver.url.split("://", 1)[1] + query


@tracekit.tool
def search(query: str) -> list[str]:
    return ["Google was founded in 1998."]


def run_agent(client, question="How old is Google?"):
    @tracekit.agent
    def agent(question: str) -> str:
        facts = search(question)
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": f"{question} {facts[0]}"},
            ],
            temperature=0.2,
            max_tokens=50,
        )
        return reply.choices[0].message.content

    return agent(question)


def test_agent_tool_and_llm_spans_arrive_with_ids_parentage_and_conventions(
    receiver, openai_client
):
    tracekit.init(otlp_url(receiver), project="shop-assistant", integrations=["openai"])
    answer = run_agent(openai_client)
    assert answer == "Paris is the capital of France."
    assert tracekit.flush(timeout=10)

    spans = receiver.wait_for_spans(3)
    named = receiver.by_name()
    agent, tool, llm = named["agent"], named["search"], named["openai.chat.completions.create"]

    # ids and parentage: one trace, the agent is the root, tool and LLM are its children
    assert len({s["trace_id"] for s in spans}) == 1
    assert len(agent["trace_id"]) == 32
    assert len(agent["span_id"]) == 16
    assert agent["parent_id"] is None
    assert tool["parent_id"] == agent["span_id"] == llm["parent_id"]
    assert agent["start_ns"] <= tool["start_ns"] <= tool["end_ns"] <= agent["end_ns"]

    # the project is the service; the scope names tracekit
    assert {s["resource"]["service.name"] for s in spans} == {"shop-assistant"}
    assert {s["scope"] for s in spans} == {"tracekit"}
    assert {s["status"]["code"] for s in spans} == {STATUS_OK}

    # kinds: OpenInference and GenAI operation names, OTel span kinds
    assert agent["attributes"]["openinference.span.kind"] == "AGENT"
    assert agent["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert agent["attributes"]["gen_ai.agent.name"] == "agent"
    assert tool["attributes"]["openinference.span.kind"] == "TOOL"
    assert tool["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert tool["attributes"]["gen_ai.tool.name"] == "search"
    assert llm["attributes"]["openinference.span.kind"] == "LLM"
    assert llm["attributes"]["gen_ai.operation.name"] == "chat"
    assert llm["kind"] == SPAN_KIND_CLIENT
    assert tool["kind"] == SPAN_KIND_INTERNAL

    # inputs and outputs as OpenInference values
    assert json.loads(agent["attributes"]["input.value"]) == {"question": "How old is Google?"}
    assert agent["attributes"]["output.value"] == "Paris is the capital of France."
    assert agent["attributes"]["output.mime_type"] == "text/plain"
    assert json.loads(tool["attributes"]["output.value"]) == {
        "output": ["Google was founded in 1998."]
    }

    # the model call: model, parameters, tokens, messages, in both vocabularies
    attrs = llm["attributes"]
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == attrs["llm.model_name"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert json.loads(attrs["llm.invocation_parameters"]) == {"temperature": 0.2, "max_tokens": 50}
    assert attrs["gen_ai.usage.input_tokens"] == attrs["llm.token_count.prompt"] == 21
    assert attrs["gen_ai.usage.output_tokens"] == attrs["llm.token_count.completion"] == 7
    assert attrs["llm.token_count.total"] == 28
    assert attrs["gen_ai.response.id"] == "chatcmpl-tracekit-001"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Answer briefly."}
    ]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "How old is Google? Google was founded in 1998."}
            ],
        }
    ]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Paris is the capital of France."}],
            "finish_reason": "stop",
        }
    ]
    assert attrs["llm.input_messages.0.message.role"] == "system"
    assert attrs["llm.input_messages.1.message.content"].startswith("How old is Google?")
    assert attrs["llm.output_messages.0.message.content"] == "Paris is the capital of France."


def test_tool_calls_and_embeddings_map_onto_both_vocabularies(receiver, openai_client):
    tracekit.init(otlp_url(receiver), integrations=["openai"])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    openai_client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert tracekit.flush(timeout=10)
    receiver.wait_for_spans(2)
    named = receiver.by_name()

    chat = named["openai.chat.completions.create"]["attributes"]
    output = json.loads(chat["gen_ai.output.messages"])[0]
    assert output["finish_reason"] == "tool_calls"
    assert [part["type"] for part in output["parts"]] == ["tool_call", "tool_call"]
    assert output["parts"][0]["name"] == "get_weather"
    assert chat["llm.output_messages.0.message.tool_calls.1.tool_call.id"] == "call_london"
    assert json.loads(chat["gen_ai.tool.definitions"]) == tools

    embedding = named["openai.embeddings.create"]
    assert embedding["attributes"]["openinference.span.kind"] == "EMBEDDING"
    assert embedding["attributes"]["gen_ai.operation.name"] == "embeddings"
    assert embedding["attributes"]["embedding.model_name"] == "text-embedding-3-small"
    assert embedding["attributes"]["embedding.embeddings.1.embedding.text"] == "b"
    assert embedding["kind"] == SPAN_KIND_CLIENT


def test_an_error_becomes_an_error_status_and_an_exception_event(receiver):
    tracekit.init(otlp_url(receiver))

    @tracekit.tool
    def lookup(key: str) -> str:
        raise KeyError(key)

    with pytest.raises(KeyError):
        lookup("missing")
    assert tracekit.flush(timeout=10)
    (span,) = receiver.wait_for_spans(1)
    assert span["status"]["code"] == STATUS_ERROR
    assert span["status"]["message"].startswith("KeyError")
    assert span["attributes"]["error.type"] == "KeyError"
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "KeyError"
    assert "'missing'" in event["attributes"]["exception.message"]
    assert "lookup" in event["attributes"]["exception.stacktrace"]


def test_span_events_tags_and_metadata_are_kept(receiver):
    tracekit.init(otlp_url(receiver))

    @tracekit.chain(tags=["beta"], metadata={"user_id": "u-7", "app.version": "1.2"})
    def pipeline() -> None:
        tracekit.current_span().add_event("retry", {"attempt": 2})

    pipeline()
    assert tracekit.flush(timeout=10)
    (span,) = receiver.wait_for_spans(1)
    assert span["attributes"]["tag.tags"] == ["beta"]
    assert span["attributes"]["app.version"] == "1.2"
    assert json.loads(span["attributes"]["metadata"]) == {"user_id": "u-7"}
    assert "gen_ai.operation.name" not in span["attributes"]  # a chain is no GenAI operation
    assert [(e["name"], e["attributes"]) for e in span["events"]] == [("retry", {"attempt": 2})]


def test_large_payloads_are_cut_with_the_marker_not_dropped(receiver):
    tracekit.init(otlp_url(receiver, "?max_attr_chars=1000"))

    @tracekit.llm
    def complete(prompt: str) -> str:
        return "ok"

    complete("x" * 50_000)
    assert tracekit.flush(timeout=10)
    (span,) = receiver.wait_for_spans(1)
    value = span["attributes"]["input.value"]
    assert value.startswith('{"prompt":"xxx')
    assert value.endswith('…[truncated: 50000 chars]"}')  # still JSON
    assert json.loads(value)["prompt"].startswith("xxx")
    assert len(value) < 1100
    assert tracekit.stats()["dropped"]["backend_error"] == 0


def test_a_big_batch_is_split_into_several_requests(receiver):
    backend = OtlpBackend(receiver.url + "/v1/traces", max_request_bytes=20_000)
    tracekit.init(backend)

    @tracekit.tool
    def echo(text: str) -> str:
        return text

    for i in range(20):
        echo(f"{i}" + "y" * 4000)
    assert tracekit.flush(timeout=10)
    assert len(receiver.wait_for_spans(20)) == 20
    assert len(receiver.requests) > 1
    assert backend.sent == 20


def test_endpoint_headers_and_service_name_come_from_the_otel_environment(receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Bearer t0k")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    tracekit.init("otlp+http://", project="ignored-for-service-name")
    search("q")
    assert tracekit.flush(timeout=10)
    (span,) = receiver.wait_for_spans(1)
    assert span["resource"]["service.name"] == "checkout"
    assert span["resource"]["deployment.environment"] == "staging"
    headers = receiver.requests[0]["headers"]
    assert headers["x-tenant"] == "acme"
    assert headers["authorization"] == "Bearer t0k"
    assert headers["content-type"] == "application/x-protobuf"


def test_traces_endpoint_variable_is_used_as_is(receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url + "/v1/traces")
    monkeypatch.setenv("TRACEKIT_BACKEND", "otlp+http://")
    search("q")  # TRACEKIT_BACKEND alone turns tracing on
    assert tracekit.flush(timeout=10)
    assert len(receiver.wait_for_spans(1)) == 1


def test_url_with_a_base_path_gets_the_traces_path_appended(receiver):
    backend = tracekit.backends.from_url(otlp_url(receiver, "/api/public/otel"))
    assert backend.endpoint == receiver.url + "/api/public/otel/v1/traces"
    backend = tracekit.backends.from_url("otlp+https://collector.example:4318/v1/traces")
    assert backend.endpoint == "https://collector.example:4318/v1/traces"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("otlp+http://h:4318?color=red", "unknown option"),
        ("otlp+http://h:4318?timeout=soon", "timeout must be a number"),
        ("otlp+http://h:4318?timeout=0", "timeout must be positive"),
        ("otlp+http://h:notaport", "port must be a number"),
        ("otlp+http://:4318", "has no host"),
    ],
)
def test_bad_otlp_urls_are_clear_errors_at_init(url, message):
    with pytest.raises(ValueError, match=message):
        tracekit.init(url)


def test_otlp_https_without_a_host_never_falls_back_to_plain_http(monkeypatch):
    assert tracekit.backends.from_url("otlp+https://").endpoint == (
        "https://localhost:4318/v1/traces"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318")
    assert tracekit.backends.from_url("otlp+https://").endpoint is None  # the exporter reads it
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:pw@collector.example:4318")
    with pytest.raises(ValueError, match="asks for TLS") as error:
        tracekit.init("otlp+https://")
    assert "pw" not in str(error.value)


def test_the_exporters_own_http_calls_are_not_traced(receiver):
    """With requests instrumented by a user adapter, the backend's own requests make no span."""
    import requests

    from tracekit import integrations

    def traced_request(wrapped, instance, args, kwargs):
        with tracekit.span("http.request"):
            return wrapped(*args, **kwargs)

    integrations.wrap_method(requests.Session, "request", traced_request)
    try:
        tracekit.init([otlp_url(receiver), "memory"])
        search("first")
        assert tracekit.flush(timeout=10)  # one export through the instrumented requests
        with requests.Session() as session:  # the application's own request is traced
            session.get(receiver.url + "/health", timeout=5)
        search("second")
        assert tracekit.flush(timeout=10)
        spans = receiver.wait_for_spans(3)
    finally:
        integrations.unwrap_method(requests.Session, "request")
    assert sorted(s["name"] for s in spans) == ["http.request", "search", "search"]
    assert len(receiver.requests) == 2  # both exports went through the wrapped method


def test_retry_after_in_seconds_or_as_an_http_date():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from tracekit.backends._otlp_outcome import retry_after

    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after(later) <= 120
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_compression_from_the_environment_reaches_the_receiver(receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    tracekit.init(otlp_url(receiver))
    search("q")
    assert tracekit.flush(timeout=10)
    assert len(receiver.wait_for_spans(1)) == 1
    assert receiver.requests[0]["headers"]["content-encoding"] == "gzip"


def test_a_langchain_chain_maps_onto_otel_spans_with_its_messages(receiver):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate

    tracekit.init(otlp_url(receiver), integrations=["langchain"])
    prompt = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")])
    chain = prompt | FakeListChatModel(responses=["Paris is lovely."])
    chain.invoke({"topic": "France"})
    assert tracekit.flush(timeout=10)
    receiver.wait_for_spans(3)
    named = receiver.by_name()
    root, model = named["RunnableSequence"], named["FakeListChatModel"]
    assert root["parent_id"] is None
    assert model["parent_id"] == root["span_id"]
    assert root["attributes"]["openinference.span.kind"] == "CHAIN"
    assert json.loads(root["attributes"]["langchain.graph"])["edges"]
    attrs = model["attributes"]
    assert attrs["openinference.span.kind"] == "LLM"
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me about France"}]}
    ]
    assert attrs["llm.output_messages.0.message.content"] == "Paris is lovely."
    assert json.loads(attrs["llm.invocation_parameters"]) == {"responses": ["Paris is lovely."]}


@pytest.mark.parametrize(
    "variables",
    [
        {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "40"},
        # the span-specific limit wins over the general one
        {
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "40",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "9999",
        },
    ],
)
def test_the_otel_attribute_length_limit_is_honoured(receiver, monkeypatch, variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    tracekit.init(otlp_url(receiver))
    search("q" * 500)
    assert tracekit.flush(timeout=10)
    (span,) = receiver.wait_for_spans(1)
    assert span["attributes"]["gen_ai.tool.call.arguments"].startswith('{"query":"qqq')
    assert len(span["attributes"]["input.value"]) < 100
    assert "…[truncated:" in span["attributes"]["input.value"]


@pytest.mark.parametrize("same_batch", [True, False], ids=["one batch", "child first"])
def test_a_wrapped_llm_call_sends_its_tokens_once(receiver, same_batch):
    # A framework's LLM span over the client's request reports the same usage:
    # only the innermost owns it, so a collector that sums tokens counts the call once.
    tracekit.init(otlp_url(receiver))

    @tracekit.llm
    def client_request() -> str:
        tracekit.current_span().set_usage(prompt_tokens=7, completion_tokens=3)
        return "answer"

    @tracekit.llm
    def framework_model() -> str:
        answer = client_request()
        if not same_batch:
            assert tracekit.flush(timeout=10)  # the child is exported before its parent
        tracekit.current_span().set_usage(prompt_tokens=7, completion_tokens=3)
        return answer

    framework_model()
    assert tracekit.flush(timeout=10)
    spans = {s["name"]: s["attributes"] for s in receiver.wait_for_spans(2)}
    assert spans["client_request"]["llm.token_count.total"] == 10
    assert "llm.token_count.total" not in spans["framework_model"]
    assert "gen_ai.usage.input_tokens" not in spans["framework_model"]
    assert spans["framework_model"]["tracekit.usage_counted_below"] is True
