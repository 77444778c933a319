"""shutdown(timeout) and the interpreter's exit are bounded whatever a backend does (#12).

Each test runs a script in a subprocess and the parent times it: the line the
script prints just before the call (or as its last line) against the line it
prints after the call returns (or the moment the process has exited). A
backend "hangs" by waiting on an Event nobody sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Time allowed over a bound for Python to return, print and exit on a loaded machine.
MARGIN_S = 1.0

BACKENDS = """
import atexit, json, logging, threading, time, tracekit

def lost(dropped):  # every reason but the marks: oversize and abandoned spans are kept
    return sum(n for r, n in dropped.items() if r not in ("oversize", "abandoned"))

class Hung:
    '''A local backend that hangs in the call named by `hang`.'''
    def __init__(self, hang):
        self.hang = hang
        self.hanging = threading.Event()  # set when the hung call has begun
    def _maybe_hang(self, call):
        if self.hang == call:
            self.hanging.set()
            threading.Event().wait()
    def export(self, records):
        self._maybe_hang("export")
    def flush(self):
        self._maybe_hang("flush")
    def shutdown(self):
        self._maybe_hang("shutdown")

@tracekit.tool
def step(i):
    return i

def report():
    s = tracekit.stats()
    print("stats", json.dumps({
        "created": s["created"], "exported": s["exported"], "pending": s["pending"],
        "timeout": s["dropped"]["timeout"], "lost": lost(s["dropped"]),
    }), flush=True)
"""


class Run:
    """A script in a subprocess; the parent notes when each stdout line arrived."""

    def __init__(self, code: str, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
        environ.pop("TRACEKIT_BACKEND", None)
        self.stderr_path = tmp_path / "stderr.txt"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BACKENDS + textwrap.dedent(code)],
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tmp_path,
                env=environ,
            )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("the process did not exit within 60 s")
        self.exited_at = time.monotonic()
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append((time.monotonic(), raw.decode().rstrip("\n")))

    def at(self, label: str) -> float:
        """When the line starting with ``label`` arrived."""
        return next(t for t, line in self.lines if line.startswith(label))

    def value(self, label: str) -> str:
        return next(line for _, line in self.lines if line.startswith(label))[len(label) :].strip()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


def stats_of(run: Run) -> dict[str, int]:
    import json

    result: dict[str, int] = json.loads(run.value("stats"))
    return result


@pytest.mark.parametrize("hang", ["shutdown", "export", "flush"])
def test_shutdown_returns_within_its_timeout_whatever_call_of_a_local_backend_hangs(tmp_path, hang):
    run = Run(
        f"""
        logging.basicConfig(level=logging.WARNING)
        tracekit.init(Hung({hang!r}))
        for i in range(3):
            step(i)
        tracekit.flush(timeout=0.2)
        print("calling", flush=True)
        ok = tracekit.shutdown(timeout=1)
        print("returned", ok, flush=True)
        report()
        """,
        tmp_path,
    )
    assert run.proc.returncode == 0, run.stderr
    took = run.at("returned") - run.at("calling")
    assert took < 1 + MARGIN_S, f"shutdown(timeout=1) took {took:.2f} s"
    assert run.value("returned") == "False"
    stats = stats_of(run)
    assert stats["created"] == stats["exported"] + stats["lost"] + stats["pending"]
    if hang == "export":  # the spans the hung call holds are counted, once
        assert (stats["timeout"], stats["exported"]) == (3, 0)
    else:
        assert (stats["timeout"], stats["exported"]) == (0, 3)
    # the hung call is logged, naming the backend and the call
    assert f"tracekit backend Hung did not return from {hang}()" in run.stderr


@pytest.mark.parametrize("hang", ["shutdown", "export"])
def test_exit_is_bounded_by_flush_timeout_whatever_a_local_backend_does(tmp_path, hang):
    run = Run(
        f"""
        atexit.register(report)  # registered first: runs after tracekit's exit hook
        tracekit.init(Hung({hang!r}), flush_timeout=1)
        for i in range(1500):
            step(i)
        print("end", flush=True)
        """,
        tmp_path,
    )
    assert run.proc.returncode == 0, run.stderr
    took = run.exited_at - run.at("end")
    assert took < 1 + MARGIN_S, f"exit took {took:.2f} s with flush_timeout=1"
    stats = stats_of(run)
    assert stats["created"] == 1500
    assert stats["created"] == stats["exported"] + stats["lost"] + stats["pending"]
    if hang == "export":
        # every span is counted once: the hung batch and the queue behind it
        assert (stats["timeout"], stats["exported"], stats["pending"]) == (1500, 0, 0)
        assert "tracekit: 1,500 spans dropped (timeout)" in run.stderr
    else:
        assert (stats["timeout"], stats["exported"]) == (0, 1500)


def test_exit_at_the_default_bound_ends_within_five_seconds(tmp_path):
    # The published bound: exit never waits longer than flush_timeout (5 s), teardown included.
    run = Run(
        """
        tracekit.init(Hung("shutdown"))
        step(1)
        print("end", flush=True)
        """,
        tmp_path,
    )
    assert run.proc.returncode == 0, run.stderr
    took = run.exited_at - run.at("end")
    assert took < 5.0 + MARGIN_S, f"exit took {took:.2f} s at the default flush_timeout"


def test_a_remote_backend_hung_in_export_holds_neither_shutdown_nor_exit(tmp_path):
    run = Run(
        """
        class RemoteHung(Hung):
            remote = True
        atexit.register(report)
        tracekit.init(RemoteHung("export"), flush_timeout=1, export_timeout=30)
        for i in range(10):
            step(i)
        print("end", flush=True)
        """,
        tmp_path,
    )
    assert run.proc.returncode == 0, run.stderr
    assert run.exited_at - run.at("end") < 1 + MARGIN_S
    stats = stats_of(run)
    assert (stats["created"], stats["timeout"], stats["exported"]) == (10, 10, 0)


def test_shutdown_waits_no_longer_than_its_timeout_for_another_thread_in_init(tmp_path):
    # A daemon thread re-initialising while its old backend hangs in shutdown holds
    # tracekit's lock; the exit's shutdown does not wait past its own bound for it.
    run = Run(
        """
        hung = Hung("shutdown")
        tracekit.init(hung, flush_timeout=3)
        step(1)
        tracekit.flush()
        def reinit():
            tracekit.init("memory")  # shuts the hung one down first: 3 s, holding the lock
        threading.Thread(target=reinit, daemon=True).start()
        hung.hanging.wait()
        print("calling", flush=True)
        ok = tracekit.shutdown(timeout=0.5)
        print("returned", ok, flush=True)
        """,
        tmp_path,
    )
    assert run.proc.returncode == 0, run.stderr
    assert run.at("returned") - run.at("calling") < 0.5 + MARGIN_S
