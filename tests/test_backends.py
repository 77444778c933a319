"""The simple backends: memory, jsonl, console."""

from __future__ import annotations

import json
import os
import stat

import tracekit
from tracekit._record import empty_record
from tracekit.backends import ConsoleBackend, JsonlBackend, MemoryBackend


@tracekit.agent
def agent(question):
    lookup(question)
    answer(question)
    return "42"


@tracekit.tool
def lookup(query):
    return ["doc"]


@tracekit.llm
def answer(prompt):
    span = tracekit.current_span()
    span.set_model("demo-model")
    span.set_usage(prompt_tokens=10, completion_tokens=5)
    return "42"


def test_memory_backend_keeps_records_and_clears():
    backend = MemoryBackend()
    tracekit.init(backend)
    agent("q")
    tracekit.flush()
    assert [r["name"] for r in backend.records] == ["lookup", "answer", "agent"]
    backend.clear()
    assert backend.records == []


def test_jsonl_writes_one_record_per_line_with_private_permissions(tmp_path):
    path = tmp_path / "nested" / "dir" / "spans.jsonl"
    tracekit.init(f"jsonl:///{path}")
    assert not path.exists()  # nothing is created until there is something to write
    agent("q")
    tracekit.flush()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in records] == ["lookup", "answer", "agent"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_jsonl_appends_across_runs(tmp_path):
    path = tmp_path / "spans.jsonl"
    for _ in range(2):
        tracekit.init(JsonlBackend(path))
        lookup("q")
        tracekit.shutdown()
    assert len(path.read_text().splitlines()) == 2


def test_console_prints_a_tree_per_finished_trace(capsys):
    tracekit.init("console")
    agent("How old is Google?")
    tracekit.flush()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("trace ")
    assert "3 spans" in lines[0]
    assert "15 tokens" in lines[0]
    assert "└─ AGENT agent" in lines[1]
    assert any("├─ TOOL lookup" in line for line in lines)
    assert any(
        "└─ LLM answer" in line and "demo-model" in line and "15 tokens" in line for line in lines
    )
    assert 'in:  {"question": "How old is Google?"}' in out


def test_console_shows_errors_and_stderr(capsys):
    tracekit.init("console://stderr")

    @tracekit.tool
    def broken():
        raise ValueError("no luck")

    try:
        broken()
    except ValueError:
        pass
    tracekit.flush()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ERROR ValueError: no luck" in captured.err


def test_console_neutralises_control_characters(capsys):
    tracekit.init("console")

    @tracekit.tool
    def echo(text):
        return text

    echo("\x1b[2J\x1b]0;pwned\x07 hello")
    tracekit.flush()
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b[2J" in out


def test_console_prints_unfinished_traces_at_shutdown(capsys):
    backend = ConsoleBackend()
    orphan = empty_record(trace_id="1" * 32, span_id="2" * 16, parent_id="3" * 16,
                          name="orphan", kind="TOOL", project="p", end_ns=5_000_000)  # fmt: skip
    backend.export([orphan])
    assert capsys.readouterr().out == ""
    backend.shutdown()
    assert "TOOL orphan  5.0 ms  OK" in capsys.readouterr().out
