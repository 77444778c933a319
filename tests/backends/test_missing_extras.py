"""Without its extra, a remote backend's URL is an ImportError naming the extra, at init().

Each case runs in a subprocess where ``sys.modules`` blocks the package, as if
it were not installed (this environment has both extras).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = """
import sys

sys.modules[{blocked!r}] = None  # as if the package were not installed
import tracekit

try:
    tracekit.init({url!r})
except ImportError as exc:
    print(exc)
    tracekit.init("memory")  # tracing still works with another backend
    sys.exit(0)
sys.exit("no ImportError")
"""


@pytest.mark.parametrize(
    ("blocked", "url", "extra"),
    [
        ("opentelemetry", "otlp+http://127.0.0.1:4318", "tracekit-llm[otlp]"),
        ("wandb", "wandb://my-project", "tracekit-llm[wandb]"),
    ],
)
def test_a_missing_extra_is_an_import_error_naming_it(blocked, url, extra):
    source = textwrap.dedent(PROGRAM).format(blocked=blocked, url=url)
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install '{extra}'" in result.stdout
