"""Every Python snippet of README.md and docs/**/*.md runs as written.

One subprocess per page (``snippet_runner.py``) runs the page's Python blocks
(`` ```python ``, `` ```py ``, with attributes or not) in order, each in a
fresh namespace and a temporary working directory, with tracekit reset
between them. OpenAI and LangChain models talk to the
local OpenAI-compatible server of the OpenAI adapter's tests, through
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``. A snippet that cannot run alone
says so on the line before its fence (the page's source shows it):
``<!-- snippet: continues -->`` runs it after the previous snippet of the page,
``<!-- snippet: skip (reason) -->`` does not run it. A snippet that raises
(a warning at its own line counts), whose tests fail under pytest, that
reaches off this machine or writes outside its directory fails its page.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from snippet_runner import PageError, Sandbox, groups, parse

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "snippet_runner.py"
SERVER = Path(__file__).resolve().parent / "integrations" / "openai" / "server.py"
KEY = "sk-tracekit-docs-" + "Qm7Vx2Lp9Wd4Rt6Yk3Nb8Hc5"


# Counted apart from the runner's own FENCE: the first word of a fence's info string.
OPENER = re.compile(r"^\s*```+\s*\{?\.?([A-Za-z0-9_+-]+)")
PYTHON_WORDS = frozenset({"python", "py", "python3"})


def python_fences(text: str) -> int:
    """How many fences of ``text`` open a Python block, by their language word."""
    return sum(
        1
        for line in text.splitlines()
        if (m := OPENER.match(line)) and m.group(1).lower() in PYTHON_WORDS
    )


def pages() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    return [p for p in found if python_fences(p.read_text(encoding="utf-8"))]


def _server_class():
    name = "tracekit_openai_test_server"  # the name the OpenAI tests load it under
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SERVER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].OpenAIServer


@pytest.fixture(scope="module")
def openai_server():
    with _server_class()() as running:
        yield running


def run_page(page: Path, tmp_path: Path, server) -> tuple[dict, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACEKIT_", "OPENAI_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(sys.path),
        PYTHONDONTWRITEBYTECODE="1",
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY=KEY,
        WANDB_MODE="offline",  # never a login, never the network
        WANDB_SILENT="true",
    )
    temp = tmp_path / "tmp"  # the snippets' temporary folder (and their directories' parent)
    temp.mkdir()
    env["TMPDIR"] = str(temp)
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(page), str(results)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert results.exists(), f"the runner died:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(results.read_text(encoding="utf-8")), proc


def failures(outcome: dict) -> list[str]:
    found = [outcome["page_error"]] if "page_error" in outcome else []
    for group in outcome["groups"]:
        where = "the snippet at line " + ", ".join(str(n) for n in group["lines"])
        if "error" in group:
            found.append(f"{where} raised:\n{group['error']}")
        if "sandbox" in group:
            found.append(f"{where} was stopped: {'; '.join(group['sandbox'])}")
        if "internal_errors" in group:
            found.append(f"{where} caused {group['internal_errors']} tracekit internal error(s)")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_snippet_of_the_page_runs(page, tmp_path, openai_server):
    outcome, proc = run_page(page, tmp_path, openai_server)
    problems = failures(outcome)
    if problems:
        output = f"\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        pytest.fail(f"{page.relative_to(ROOT)}:\n" + "\n".join(problems) + output)
    # Every Python fence of the page was parsed (none skipped silently), and it ran something.
    assert outcome["snippets"] == python_fences(page.read_text(encoding="utf-8"))
    assert outcome["groups"], f"{page.relative_to(ROOT)} runs no snippet"
    for skipped in outcome["skipped"]:
        assert skipped["reason"], skipped  # every opt-out says why


def test_every_python_fence_of_every_page_is_parsed():
    # fast, without running: the runner sees each fence the page opens, whatever its spelling
    for page in pages():
        text = page.read_text(encoding="utf-8")
        assert len(parse(text)) == python_fences(text), page.relative_to(ROOT)
        assert groups(parse(text)), f"{page.relative_to(ROOT)} runs no snippet"


def test_the_pages_include_the_readme_and_every_docs_folder():
    found = {p.relative_to(ROOT).as_posix() for p in pages()}
    assert "README.md" in found
    assert "docs/langchain.md" in found
    assert "docs/backends/otlp.md" in found  # a subfolder: docs/decisions/ is found the same way


# -- the runner itself ---------------------------------------------------------------------


def page_of(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    return page


def test_markers_skip_and_continue_and_bad_ones_are_refused():
    snippets = parse(
        textwrap.dedent("""\
        ```python
        x = 1
        ```
        <!-- snippet: continues -->
        ```python
        y = x + 1
        ```
        <!-- snippet: skip (needs a W&B login) -->
        ```python
        wandb.login()
        ```
        """)
    )
    assert [(s.line, s.mode, s.reason) for s in snippets] == [
        (2, "run", ""),
        (6, "continues", ""),
        (10, "skip", "needs a W&B login"),
    ]
    assert [[s.line for s in g] for g in groups(snippets)] == [[2, 6]]
    bad = [
        "<!-- snippet: skip -->\n```python\npass\n```\n",  # no reason
        "<!-- snippet: skip () -->\n```python\npass\n```\n",
        "<!-- snippet: ignore (why) -->\n```python\npass\n```\n",  # unknown
        "<!-- snippet: continues -->\n```python\npass\n```\n",  # nothing before it
        "<!-- snippet: skip (x) -->\n\n```python\npass\n```\n",  # not right before the fence
        "```python\npass\n",  # never closed
    ]
    for text in bad:
        with pytest.raises(PageError):
            parse(text)


@pytest.mark.slow
def test_the_runner_reports_a_raising_snippet_with_its_page_line(tmp_path, openai_server):
    page = page_of(
        tmp_path,
        """\
        # A page

        ```python
        import tracekit

        tracekit.init("memory")
        ```

        <!-- snippet: continues -->
        ```python
        raise RuntimeError("this snippet rotted")
        ```

        ```python
        assert "tracekit" not in globals()  # a fresh namespace
        ```

        ```python
        def test_a_documented_test(tracekit_capture):  # run by pytest, with the plugin
            assert tracekit_capture.records == ["not", "these"]
        ```

        ```python
        import warnings

        warnings.warn("this name is deprecated", DeprecationWarning)
        ```
        """,
    )
    outcome, _ = run_page(page, tmp_path, openai_server)
    problems = failures(outcome)
    assert len(problems) == 3
    assert "the snippet at line 4, 11 raised" in problems[0]
    assert "RuntimeError: this snippet rotted" in problems[0]
    assert f'File "{page}", line 11' in problems[0]
    assert "the snippet at line 19 raised" in problems[1]
    assert "its tests failed under pytest" in problems[1]
    assert "test_snippet_19.py:20: AssertionError" in problems[1]  # the page's line
    assert "DeprecationWarning: this name is deprecated" in problems[2]  # a warning fails too


@pytest.mark.slow
def test_the_runner_stops_a_snippet_reaching_off_the_machine_or_out_of_its_folder(
    tmp_path, openai_server
):
    outside = tmp_path / "outside.txt"
    page = page_of(
        tmp_path,
        f"""\
        ```python
        import socket

        for address in (("192.0.2.1", 80), ("api.openai.com", 443)):
            sock = socket.socket()
            try:  # connect resolves a name itself, before its audit event: refused first
                sock.connect(address)
            except OSError:
                pass
            finally:
                sock.close()
        ```

        ```python
        try:
            open({str(outside)!r}, "w")
        except OSError:
            pass
        ```

        ```python
        import os
        import openai

        client = openai.OpenAI()  # OPENAI_BASE_URL: the local server
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[])
        assert reply.choices[0].message.content
        with open("mine.txt", "w") as f:  # its own working directory
            f.write("ok")
        ```

        ```python
        import socket

        socket.getaddrinfo("localhost", 80)  # this machine: allowed, no query leaves
        for lookup in (
            lambda: socket.getaddrinfo("api.openai.com", 443),  # the query never leaves
            lambda: socket.gethostbyname("example.com"),
        ):
            try:
                lookup()
            except PermissionError:
                pass
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.sendto(b"query", ("192.0.2.1", 53))  # DNS by hand
        except PermissionError:
            pass
        finally:
            udp.close()
        ```
        """,
    )
    outcome, _ = run_page(page, tmp_path, openai_server)
    assert [g.get("sandbox") for g in outcome["groups"]] == [
        ["connects to 192.0.2.1:80", "connects to api.openai.com:443"],
        [f"writes {outside}"],
        None,
        ["looks up api.openai.com", "looks up example.com", "sends to 192.0.2.1:53"],
    ]
    assert not outside.exists()
    assert all("error" not in g for g in outcome["groups"])


def test_every_spelling_of_a_python_fence_is_a_snippet_and_pycon_is_not():
    text = textwrap.dedent("""\
        ```python
        a = 1
        ```
        ```py
        b = 2
        ```
        ```python title="app.py"
        c = 3
        ```
        ```py linenums="1"
        d = 4
        ```
        ```Python3
        e = 5
        ```
        ```python{.annotate}
        f = 6
        ```
        <!-- snippet: skip (needs a key) -->
        ```py title="key.py"
        g = 7
        ```
        ```pycon
        >>> 1 + 1
        2
        ```
        ```pyproject
        not = python
        ```
        """)
    snippets = parse(text)
    assert [s.code.strip() for s in snippets] == [
        "a = 1",
        "b = 2",
        "c = 3",
        "d = 4",
        "e = 5",
        "f = 6",
        "g = 7",
    ]
    assert snippets[-1].mode == "skip"
    assert len(snippets) == python_fences(text) == 7


def test_continuing_a_skipped_snippet_is_an_error_not_a_join():
    run_skip_continue = textwrap.dedent("""\
        ```python
        a = 1
        ```
        <!-- snippet: skip (needs a W&B login) -->
        ```python
        b = 2
        ```
        <!-- snippet: continues -->
        ```python
        c = a + b
        ```
        """)
    with pytest.raises(PageError, match="continues a snippet that is skipped"):
        groups(parse(run_skip_continue))
    # continuing one that continues a running one is fine: one group
    chain = run_skip_continue.replace(
        "<!-- snippet: skip (needs a W&B login) -->", ("<!-- snippet: continues -->")
    )
    assert [[s.line for s in g] for g in groups(parse(chain))] == [[2, 6, 10]]


def test_the_sandbox_allows_only_this_machine_and_never_looks_a_name_up():
    allowed = Sandbox.allowed_host
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST.", "ui.localhost"):
        assert allowed(host), host
    assert allowed(b"localhost")
    assert allowed(None)  # getaddrinfo(None, port): the local address to bind
    for host in ("api.openai.com", "192.0.2.1", "10.0.0.1", "::ffff:8.8.8.8", "localhost.example"):
        assert not allowed(host), host
    assert not allowed("")
    assert not allowed(b"example.com")
    assert not allowed(42)
