"""The first drop of each reason is said on stderr, once, even without logging (#12 item 7).

A person running a script sees one line per reason that lost spans, naming
the reason and ``tracekit.stats()``; the application's logging, when it
shows tracekit's warnings on stderr, shows that line instead (never twice).
``init(drop_notice=False)`` or ``TRACEKIT_DROP_NOTICE=0`` turns it off. The
write never raises and never blocks: stderr may be missing, closed, a broken
pipe, or a full pipe nobody reads.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import tracekit
from tracekit import _guard
from tracekit.backends import MemoryBackend

SCRIPT = """
import logging, os, sys, tracekit

class Broken:
    def export(self, records):
        raise RuntimeError("database disk image is malformed")
    def flush(self): pass
    def shutdown(self): pass

@tracekit.tool
def step(i):
    return i
"""

# Three failed batches (backend_error), then a span that ends after shutdown.
DROPS = """
for i in range(3):
    step(i)
    tracekit.flush()
with tracekit.span("ends after shutdown"):
    tracekit.shutdown()
print("done", flush=True)
"""


def run(code: str, tmp_path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    for name in ("TRACEKIT_BACKEND", "TRACEKIT_DROP_NOTICE"):
        if name not in (env or {}):
            environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=60,
        check=False,
    )


def notices(stderr: str, reason: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"dropped ({reason})" in line]


def test_without_logging_each_reason_is_one_line_on_stderr(tmp_path):
    result = run("tracekit.init(Broken())" + DROPS, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr  # one per reason, nothing else
    (error,) = notices(result.stderr, "backend_error")
    assert error == (
        "tracekit: 1 span dropped (backend_error): backend Broken raised RuntimeError "
        "during export; see tracekit.stats()"
    )
    (late,) = notices(result.stderr, "after_shutdown")
    assert late.startswith("tracekit: 1 span dropped (after_shutdown): ")
    assert late.endswith("; see tracekit.stats()")


def test_logging_on_stderr_shows_the_line_once(tmp_path):
    result = run("logging.basicConfig()\ntracekit.init(Broken())" + DROPS, tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = notices(result.stderr, "backend_error")
    assert line.startswith("WARNING:tracekit:tracekit: 1 span dropped (backend_error)")
    assert len(notices(result.stderr, "after_shutdown")) == 1


@pytest.mark.parametrize(
    "setup",
    [
        "logging.basicConfig(level=logging.ERROR)",  # tracekit's warnings filtered out
        "logging.basicConfig(filename='app.log')",  # shown somewhere else
        "logging.getLogger('tracekit').propagate = False",
        "logging.disable(logging.CRITICAL)",
    ],
)
def test_logging_that_hides_it_does_not_hide_the_stderr_line(tmp_path, setup):
    result = run(setup + "\ntracekit.init(Broken())" + DROPS, tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = notices(result.stderr, "backend_error")
    assert line.startswith("tracekit: 1 span dropped (backend_error)")


@pytest.mark.parametrize(
    ("init", "env"),
    [
        ("tracekit.init(Broken(), drop_notice=False)", {}),
        ("tracekit.init(Broken())", {"TRACEKIT_DROP_NOTICE": "0"}),
    ],
)
def test_it_can_be_turned_off(tmp_path, init, env):
    code = init + "\nprint(tracekit.stats()['config']['drop_notice'])" + DROPS
    result = run(code, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False\ndone\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    "break_stderr",
    ["sys.stderr = None", "sys.stderr.close()", "os.close(2)"],
)
def test_a_missing_or_closed_stderr_is_harmless(tmp_path, break_stderr):
    result = run(break_stderr + "\ntracekit.init(Broken())" + DROPS, tmp_path)
    assert result.returncode == 0
    assert result.stdout == "done\n"


def test_a_broken_pipe_on_stderr_at_exit_is_harmless(tmp_path):
    code = """
    tracekit.init(Broken())
    print("ready", flush=True)
    sys.stdin.readline()  # the parent closes our stderr pipe meanwhile
    step(1)  # dropped at exit: said to a pipe nobody reads any more
    import atexit
    atexit.register(lambda: print("done", flush=True))  # runs after tracekit's hook
    """
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    environ.pop("TRACEKIT_DROP_NOTICE", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT + textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=environ,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    assert proc.stderr is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.stderr.close()
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    out = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0  # 120 would mean stderr failed to flush at exit
    assert out == b"done\n"


def test_a_full_stderr_pipe_does_not_block_the_traced_call(tmp_path):
    code = """
    read_end, write_end = os.pipe()  # nobody reads it: filled, it would block a write
    os.dup2(write_end, 2)
    os.set_blocking(2, False)
    try:
        while True:
            os.write(2, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(2, True)
    tracekit.init("memory")
    with tracekit.span("ends after shutdown"):  # its drop is said on this thread
        tracekit.shutdown()
    print("done", flush=True)
    os._exit(0)  # skip the interpreter's own flush of the full pipe
    """
    result = run(code, tmp_path)
    assert result.returncode == 0
    assert result.stdout == "done\n"


# -- in process ------------------------------------------------------------------------


class RaisingBackend(MemoryBackend):
    def export(self, records):
        raise RuntimeError("disk on fire")


@tracekit.tool
def work(i=0):
    return i


def test_once_per_reason_per_process_across_pipelines(capsys):
    for _ in range(2):
        tracekit.init(RaisingBackend())
        work(1)
        tracekit.flush()
    err = capsys.readouterr().err
    assert len(notices(err, "backend_error")) == 1


def test_spans_a_processor_filters_on_purpose_are_logged_not_said_on_stderr(capsys, caplog):
    tracekit.init(MemoryBackend(), redact=lambda record: None)
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        work(1)
        tracekit.flush()
    assert capsys.readouterr().err == ""
    assert any("dropped (filtered)" in r.getMessage() for r in caplog.records)


def test_the_option_is_validated_and_reported(monkeypatch):
    with pytest.raises(ValueError, match="drop_notice"):
        tracekit.init("memory", drop_notice="no")
    monkeypatch.setenv("TRACEKIT_DROP_NOTICE", "maybe")
    with pytest.raises(ValueError, match="TRACEKIT_DROP_NOTICE"):
        tracekit.init("memory")
    monkeypatch.setenv("TRACEKIT_DROP_NOTICE", "0")
    tracekit.init("memory")
    assert tracekit.stats()["config"]["drop_notice"] is False
    tracekit.init("memory", drop_notice=True)  # explicit wins over the environment
    assert tracekit.stats()["config"]["drop_notice"] is True


class Unwritable(io.StringIO):
    def write(self, text):
        raise OSError("broken pipe")


@pytest.mark.parametrize("stream", [None, Unwritable()])
def test_writing_to_stderr_never_raises(monkeypatch, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    assert _guard.write_stderr("tracekit: a line") is False
