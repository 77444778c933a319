"""The tracekit command (this release: demo and --version)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import tracekit
from tracekit.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert tracekit.__version__ in capsys.readouterr().out


def test_demo_prints_the_agent_trace(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-m", "tracekit.cli", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=True,
    )
    out = result.stdout
    assert "AGENT planner-agent" in out
    assert "ERROR TimeoutError" in out  # the failed tool call the agent recovered from
    assert out.count("LLM chat-completion") == 2
    assert "agent answered:" in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
