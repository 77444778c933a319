"""The "Write your own adapter" page: its example runs as written and traces what it says."""

from __future__ import annotations

import re
from pathlib import Path

from tracekit import integrations

PAGE = Path(__file__).resolve().parent.parent / "docs" / "write-an-adapter.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_example_adapter_is_under_sixty_lines():
    assert len(python_blocks()[0].strip().splitlines()) < 60


def test_the_example_runs_and_traces_both_calls(tracekit_capture, capsys):
    adapter, usage = python_blocks()[:2]
    namespace: dict = {}
    exec(compile(adapter, str(PAGE), "exec"), namespace)  # noqa: S102 (our own docs)
    usage = usage.replace("tracekit.init(", "tracekit.init(tracekit_capture.backend, ")
    namespace["tracekit_capture"] = tracekit_capture
    exec(compile(usage, str(PAGE), "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.strip() == "Sunny in Rome"
    forecast = tracekit_capture.span("skycast.forecast")
    assert forecast["kind"] == "LLM"
    assert forecast["model"] == "sky-1"
    assert forecast["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert forecast["outputs"] == {"output": "Sunny in Oslo"}
    assert tracekit_capture.span("skycast.stream")["outputs"] == {"output": "Sunny in Rome"}
    integrations.unpatch(["skycast"])
    assert type(namespace["Client"].__dict__["forecast"]).__name__ == "function"
