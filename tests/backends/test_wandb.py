"""The wandb backend in W&B offline mode: traces read back from the run's own log.

Two real wandb runs for the whole module (wandb runs are slow to start):
one the backend starts itself, one the application started before tracing.
Each run's offline transaction log (``run-<id>.wandb``) is read back and its
history decoded with wandb's own protobuf ``Record``, so the tests see what
W&B would receive on ``wandb sync``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tracekit
from tracekit import _config, _guard
from tracekit._record import empty_record
from tracekit.backends._wandb_tree import TraceAssembler, model_dict, trace_tree
from tracekit.backends.wandb import WandbBackend

wandb = pytest.importorskip("wandb")

LEVELDB_BLOCK = 32768
HEADER = 7  # ":W&B", a two-byte magic number and a version byte


def read_wandb_log(path: Path) -> list:
    """The records of an offline run's transaction log (LevelDB log format).

    wandb 0.31 reads this file only in its Go core; the framing is LevelDB's
    (7-byte chunk headers in 32 KiB blocks), the payloads wandb's protobufs.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", HEADER
    while pos + 7 <= len(data):
        left = LEVELDB_BLOCK - pos % LEVELDB_BLOCK
        if left < 7:
            pos += left  # block trailer padding
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # FULL
            records.append(chunk)
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            records.append(pending + chunk)
    return [wandb_internal_pb2.Record.FromString(raw) for raw in records]


def finished_log(run_dir: Path, deadline_s: float = 60.0) -> list:
    """The run's log records once its ``exit`` record is written.

    ``run.finish()`` returns before wandb's core process has written the
    whole log: poll (with a deadline) for the record that closes it.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        logs = list(run_dir.glob("run-*.wandb"))
        try:
            records = read_wandb_log(logs[0]) if logs else []
        except Exception:  # caught mid-write: a cut record
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        assert time.monotonic() < deadline, f"{run_dir}: the run's log was never closed"
        time.sleep(0.05)


def logged_traces(run_dir: Path, key: str = "trace") -> list[dict]:
    """Every trace tree logged under ``key``: its root span and model dictionary.

    The log flattens a media value into one item per field (``nested_key``
    ``[key, field]``) and leaves out fields equal to the previous step's, so
    fields carry forward from step to step.
    """
    traces, fields = [], {}
    for record in finished_log(run_dir):
        if record.WhichOneof("record_type") != "history":
            continue
        logged = False
        for item in record.history.item:
            path = list(item.nested_key) or [item.key]
            if path[0] == key and len(path) == 2:
                fields[path[1]] = json.loads(item.value_json)
                logged = logged or path[1] == "root_span_dumps"
        if logged:
            assert fields["_type"] == "wb_trace_tree"
            traces.append(
                {
                    "root": json.loads(fields["root_span_dumps"]),
                    "model": json.loads(fields.get("model_dict_dumps", "null")),
                }
            )
    return traces


def walk(span):
    yield span
    for child in span.get("child_spans") or ():
        yield from walk(child)


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    directory = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_DIR", str(directory))
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_CONSOLE", "off")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        mp.setenv("WANDB_DISABLE_CODE", "true")
        mp.delenv("WANDB_PROJECT", raising=False)
        yield directory


@pytest.fixture(scope="module")
def started_run(wandb_env, _openai_server):
    """The backend starts a run; two traces (an agent with an OpenAI call, a failing tool)."""
    import openai

    _config._reset()
    _guard.set_strict(True)
    tracekit.init("wandb://tracekit-tests", project="shop", integrations=["openai", "langchain"])
    client = openai.OpenAI(base_url=_openai_server.url, api_key="sk-unused", max_retries=0)

    @tracekit.tool
    def search(query: str) -> str:
        return "Google was founded in 1998."

    @tracekit.agent
    def agent(question: str) -> str:
        facts = search(question)
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"{question} {facts}"}],
            temperature=0.2,
        )
        return reply.choices[0].message.content

    @tracekit.tool
    def broken() -> None:
        raise RuntimeError("no luck")

    agent("How old is Google?")
    with pytest.raises(RuntimeError):
        broken()
    # a real LangChain chain through the LangChain adapter
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")])
    chain = prompt | FakeListChatModel(responses=["Paris is lovely."])
    assert chain.invoke({"topic": "France"}).content == "Paris is lovely."
    assert tracekit.flush(timeout=30)
    assert tracekit.shutdown(timeout=30)  # finishes the run tracekit started
    stats = tracekit.stats()
    client.close()
    _config._reset()
    (run_dir,) = (wandb_env / "wandb").glob("offline-run-*")
    return run_dir, stats


@pytest.fixture(scope="module")
def users_run(started_run, wandb_env):
    """The application's own active run: traces go there, and it stays the application's."""
    _config._reset()
    _guard.set_strict(True)
    run = wandb.init(project="my-experiments")
    # driven by hand, batch by batch, as the pipeline would
    backend = tracekit.backends.from_url("wandb://ignored-when-a-run-is-active")
    langchain_records = langchain_like_trace()
    backend_records = langchain_records[:-1]  # the root comes in a later batch
    backend.export(backend_records)
    assert backend.logged_traces == 0  # waiting for the root
    backend.export(langchain_records[-1:])
    backend.export(orphan_records())  # a trace whose root never arrives
    backend.shutdown()  # logs the orphan as an incomplete tree; the run stays open
    still_open = wandb.run is run
    run.log({"accuracy": 0.9})  # the application keeps using its run
    run.finish()
    _config._reset()
    (run_dir,) = [d for d in (wandb_env / "wandb").glob("offline-run-*") if d.name.endswith(run.id)]
    return run_dir, still_open


def record(span_id, parent_id, name, kind, start, end, **extra):
    values = {
        "trace_id": "ab" * 16,
        "span_id": span_id,
        "parent_id": parent_id,
        "name": name,
        "kind": kind,
        "project": "lc",
        "start_ns": start * 1_000_000,
        "end_ns": end * 1_000_000,
    }
    return empty_record(**{**values, **extra})


def langchain_like_trace():
    """Records as the LangChain adapter writes them: constructor args and the graph."""
    graph = {
        "nodes": [{"id": "prompt", "name": "ChatPromptTemplate"}, {"id": "llm", "name": "Chat"}],
        "edges": [{"source": "prompt", "target": "llm", "conditional": False}],
    }
    return [
        record("0000000000000002", "0000000000000001", "ChatPromptTemplate", "CHAIN", 1, 2),
        record(
            "0000000000000003",
            "0000000000000001",
            "ChatOpenAI",
            "LLM",
            2,
            9,
            model="gpt-4o-mini",
            usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            attributes={
                "model_parameters": {"temperature": 0.0},
                "langchain.parameters": {"model_name": "gpt-4o-mini", "max_retries": 2},
            },
            inputs={"messages": [{"role": "user", "content": "hi"}]},
            outputs={"output": "hello"},
        ),
        record(
            "0000000000000004",
            "0000000000000001",
            "retriever",
            "RETRIEVER",
            9,
            10,
        ),
        record(
            "0000000000000001",
            None,
            "RunnableSequence",
            "CHAIN",
            0,
            10,
            attributes={"langchain.graph": graph},
            inputs={"topic": "greetings"},
            outputs={"output": "hello"},
        ),
    ]


def orphan_records():
    return [
        record(
            "00000000000000b2", "00000000000000b1", "late-tool", "TOOL", 3, 4, trace_id="cd" * 16
        )
    ]


def test_each_finished_trace_is_logged_as_a_trace_tree(started_run):
    run_dir, stats = started_run
    traces = logged_traces(run_dir)
    assert [t["root"]["name"] for t in traces] == ["agent", "broken", "RunnableSequence"]
    assert stats["dropped"]["backend_error"] == 0
    assert stats["exported"] == 7

    agent = traces[0]["root"]
    assert agent["span_kind"] == "AGENT"
    assert agent["status_code"] == "SUCCESS"
    assert agent["results"] == [
        {
            "inputs": {"question": "How old is Google?"},
            "outputs": {"output": "Paris is the capital of France."},
        }
    ]
    assert [c["name"] for c in agent["child_spans"]] == ["search", "openai.chat.completions.create"]
    tool, llm = agent["child_spans"]
    assert tool["span_kind"] == "TOOL"
    assert llm["span_kind"] == "LLM"
    assert (
        agent["start_time_ms"]
        <= tool["start_time_ms"]
        <= llm["end_time_ms"]
        <= agent["end_time_ms"]
    )
    assert llm["attributes"]["model"] == "gpt-4o-mini-2024-07-18"
    assert llm["attributes"]["usage"]["total_tokens"] == 28
    assert llm["results"][0]["inputs"]["messages"][0]["role"] == "user"


def test_the_model_architecture_lists_the_models_and_parameters(started_run):
    run_dir, _ = started_run
    model = logged_traces(run_dir)[0]["model"]
    assert model["_kind"] == "tracekit.trace"
    assert model["name"] == "agent"
    assert model["project"] == "shop"
    assert model["components"] == {
        "openai.chat.completions.create": {
            "_kind": "llm",
            "model_name": "gpt-4o-mini-2024-07-18",
            "requested_model": "gpt-4o-mini",
            "parameters": {"temperature": 0.2},
        }
    }


def test_an_error_span_is_logged_with_error_status_and_message(started_run):
    run_dir, _ = started_run
    broken = logged_traces(run_dir)[1]["root"]
    assert broken["status_code"] == "ERROR"
    assert broken["status_message"] == "RuntimeError: no luck"


def test_the_run_tracekit_started_is_in_the_project_of_the_url(started_run):
    run_dir, _ = started_run
    runs = [r for r in finished_log(run_dir) if r.HasField("run")]
    assert runs[0].run.project == "tracekit-tests"


def test_an_active_run_of_the_application_gets_the_traces_and_stays_open(users_run):
    run_dir, still_open = users_run
    assert still_open
    traces = logged_traces(run_dir)
    assert [t["root"]["name"] for t in traces] == ["RunnableSequence", "(incomplete trace)"]
    runs = [r for r in finished_log(run_dir) if r.HasField("run")]
    assert runs[0].run.project == "my-experiments"


def test_a_langchain_chain_is_logged_with_its_components_configuration(started_run):
    run_dir, _ = started_run
    trace = logged_traces(run_dir)[2]
    root = trace["root"]
    assert [(c["name"], c["span_kind"]) for c in root["child_spans"]] == [
        ("ChatPromptTemplate", "CHAIN"),
        ("FakeListChatModel", "LLM"),
    ]
    components = trace["model"]["components"]
    template = components["ChatPromptTemplate"]["langchain"]["messages"][0]["prompt"]
    assert template["template"] == "Tell me about {topic}"
    assert components["FakeListChatModel"] == {
        "_kind": "llm",
        "parameters": {"responses": ["Paris is lovely."]},
    }
    # the root runnable's graph, recorded by the LangChain adapter
    graph = trace["model"]["graph"]
    assert {"ChatPromptTemplate", "FakeListChatModel"} <= {n["name"] for n in graph["nodes"]}
    assert {
        "source": "ChatPromptTemplate",
        "target": "FakeListChatModel",
        "conditional": False,
    } in (graph["edges"])


def test_langchain_configuration_and_graph_fill_the_model_architecture(users_run):
    run_dir, _ = users_run
    trace = logged_traces(run_dir)[0]
    assert trace["model"]["components"]["ChatOpenAI"] == {
        "_kind": "llm",
        "model_name": "gpt-4o-mini",
        "parameters": {"temperature": 0.0},
        "langchain": {"model_name": "gpt-4o-mini", "max_retries": 2},
    }
    assert trace["model"]["graph"]["edges"] == [
        {"source": "prompt", "target": "llm", "conditional": False}
    ]
    kinds = {s["name"]: s["span_kind"] for s in walk(trace["root"])}
    # W&B knows four kinds: a retriever is shown as a tool, its own kind kept as an attribute
    assert kinds == {
        "RunnableSequence": "CHAIN",
        "ChatPromptTemplate": "CHAIN",
        "ChatOpenAI": "LLM",
        "retriever": "TOOL",
    }
    retriever = next(s for s in walk(trace["root"]) if s["name"] == "retriever")
    assert retriever["attributes"]["tracekit.kind"] == "RETRIEVER"


def test_a_trace_whose_root_never_arrives_is_logged_incomplete_at_shutdown(users_run):
    run_dir, _ = users_run
    orphan = logged_traces(run_dir)[1]["root"]
    assert orphan["status_message"] == "the trace's root span never reached this backend"
    assert [c["name"] for c in orphan["child_spans"]] == ["late-tool"]


# -- the pure parts, without wandb ------------------------------------------------------


def test_assembler_waits_for_the_root_and_releases_old_traces_when_full():
    assembler = TraceAssembler(max_spans=2)
    chain = langchain_like_trace()
    assert assembler.add(chain[:2]) == []
    assert assembler.pending_spans == 2
    released = assembler.add(orphan_records())  # over the cap: the oldest goes, incomplete
    assert [len(t) for t in released] == [2]
    assert assembler.pending_spans == 1
    assert assembler.drain() == [orphan_records()]


def test_tree_and_model_dict_from_plain_records():
    records = langchain_like_trace()
    tree = trace_tree(records)
    assert tree["name"] == "RunnableSequence"
    assert [c["name"] for c in tree["child_spans"]] == [
        "ChatPromptTemplate",
        "ChatOpenAI",
        "retriever",
    ]
    twice = [*records, {**records[1], "span_id": "0000000000000009", "model": "gpt-4o"}]
    assert set(model_dict(twice)["components"]) == {"ChatOpenAI", "ChatOpenAI#2"}


def test_wandb_urls():
    backend = tracekit.backends.from_url("wandb://team/project?key=agent_traces")
    assert (backend.entity, backend.project, backend.key) == ("team", "project", "agent_traces")
    with pytest.raises(ValueError, match="unknown option"):
        tracekit.backends.from_url("wandb://p?mode=offline")
    with pytest.raises(ValueError, match="entity/project"):
        tracekit.backends.from_url("wandb://a/b/c")


# -- exit order, the active run, and spans lost after acceptance ---------------------------

EXIT_PROGRAM = """
import sys

import wandb

import tracekit

mode = sys.argv[1]
if mode == "app-before":
    run = wandb.init(project="app")
tracekit.init("wandb://tk-project")


@tracekit.tool
def step(x):
    return x + 1


if mode == "app-after":
    run = wandb.init(project="app")  # the application's run, started after tracekit.init
step(1)
if mode == "mid":
    assert tracekit.flush(timeout=60)  # tracekit starts its run here, mid-process
step(2)
step(3)
# exit without tracekit.flush() or run.finish()
"""


@pytest.mark.parametrize("mode", ["mid", "app-after", "app-before"])
def test_every_trace_reaches_the_run_when_the_process_exits(tmp_path, mode):
    script = tmp_path / "program.py"
    script.write_text(EXIT_PROGRAM)
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
    }
    for name in ("WANDB_PROJECT", "WANDB_SERVICE"):  # not the wandb service of this process
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(script), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    # one run: the application's when it has one (the active run wins), else tracekit's
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    assert [t["root"]["name"] for t in logged_traces(run_dir)] == ["step"] * 3
    project = "tk-project" if mode == "mid" else "app"
    runs = [r for r in finished_log(run_dir) if r.WhichOneof("record_type") == "run"]
    assert runs[0].run.project == project


def with_bad_start(record):
    """A processor that damages child spans: their trace cannot become W&B spans.

    (A record without ids no longer does: the tree takes any record.)
    """
    if record["parent_id"]:
        record["start_ns"] = "soon"
    return record


def test_a_trace_that_cannot_be_logged_counts_every_span_it_held(wandb_env):
    # the child waits in the assembler (exported with its batch); the trace fails
    # when its root arrives in a later batch: both spans are counted as dropped
    _config._reset()
    backend = WandbBackend("tracekit-tests")
    tracekit.init(backend=backend, redact=with_bad_start)

    @tracekit.tool
    def child() -> int:
        return 1

    with tracekit.span("root"):
        child()
        assert tracekit.flush(timeout=30)
        assert backend.assembler.pending_spans == 1
    assert tracekit.flush(timeout=30)
    assert backend.logged_traces == 0
    assert tracekit.stats()["dropped"]["backend_error"] == 2
    tracekit.shutdown(timeout=30)
    _config._reset()


def test_a_trace_that_fails_at_shutdown_is_counted(wandb_env):
    _config._reset()
    backend = WandbBackend("tracekit-tests")
    tracekit.init(backend=backend, redact=with_bad_start)
    with tracekit.span("root"):

        @tracekit.tool
        def child() -> int:
            return 1

        child()
        assert tracekit.flush(timeout=30)
        assert tracekit.shutdown(timeout=30)  # the root never ended: drained incomplete
    assert tracekit.stats()["dropped"]["backend_error"] == 1
    _config._reset()


def test_assembler_releases_a_trace_that_waited_longer_than_max_wait_s():
    assembler = TraceAssembler(max_wait_s=0.0)
    assert assembler.add(orphan_records()) == []
    start = time.monotonic()
    while time.monotonic() == start:  # the clock moves on (no sleep: a spin of a few ns)
        pass
    assert assembler.add([]) == [orphan_records()]
    assert assembler.pending_spans == 0
    patient = TraceAssembler(max_wait_s=3600.0)
    patient.add(orphan_records())
    assert patient.add([]) == []
