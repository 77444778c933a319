"""What remote backends deliver when the process exits without tracekit.flush().

Each test runs a small program in a subprocess (interpreter exit is the
behaviour under test) against a receiver or an offline W&B directory of the
test's own, then checks what arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_program(source: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(source))
    result = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result


def test_otlp_spans_queued_at_exit_are_sent_on_the_first_export(receiver, tmp_path):
    # The first export happens in the exit hook: the backend must still be able
    # to build its spans (the OTel resource) while the interpreter shuts down.
    run_program(
        """
        import sys
        import tracekit

        tracekit.init(sys.argv[1], project="exit-test")

        @tracekit.tool
        def step(x):
            return x + 1

        step(1)
        """,
        tmp_path,
        f"otlp+http://127.0.0.1:{receiver.port}",
    )
    (span,) = receiver.wait_for_spans(1)
    assert span["name"] == "step"
    assert span["resource"]["service.name"] == "exit-test"
