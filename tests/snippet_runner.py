"""Run the Python snippets of one Markdown page (used by ``tests/test_doc_snippets.py``).

``python snippet_runner.py PAGE RESULTS`` runs every Python block of PAGE
(`` ```python ``, `` ```py ``, with or without attributes such as
``title="app.py"``) in order and writes what happened to RESULTS (JSON). Each snippet runs
in a fresh namespace, in a temporary working directory of its own, and
tracekit is reset after it (configuration, pipeline, patches, registered
adapters). An HTML comment on the line right before a fence changes that:

* ``<!-- snippet: skip (reason) -->``: not run; the reason is required.
* ``<!-- snippet: continues -->``: run after the previous snippet of the
  page, in its namespace and directory, as if appended to it. The previous
  snippet must run: continuing a skipped one is an error, never a silent
  join to an earlier group.

A warning attributed to a snippet's own code (a deprecated name) is an
error. A snippet group that defines ``test_*`` functions is a test module: it is
also run by pytest (tracekit's plugin gives it the fixtures), and a failing
test fails it.

While a snippet runs, it may reach no other machine (a connection, datagram
or name lookup for anything but a literal loopback address or ``localhost`` is
refused before it leaves, and reported) and write no file outside
its working directory and the temporary folder (refused and reported too).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

# A Python fence: ```python, ```py or ```python3, alone or with attributes after it
# (```python title="app.py", ```py linenums="1", ```python{.annotate}). Not ```pycon.
FENCE = re.compile(r"^```\s*(?:python3?|py)(?:[\s{].*)?$", re.IGNORECASE)
END = re.compile(r"^```\s*$")
MARKER = re.compile(r"^<!--\s*snippet:\s*(.*?)\s*-->\s*$")
SKIP = re.compile(r"^skip\s*\((.*\S.*)\)$")


@dataclasses.dataclass
class Snippet:
    """One fenced block: where it starts (the first code line, 1-based), its code and mode."""

    line: int
    code: str
    mode: str = "run"  # "run", "continues" or "skip"
    reason: str = ""


class PageError(ValueError):
    """A page whose snippet markers are wrong (the runner refuses to guess)."""


def parse(text: str) -> list[Snippet]:
    """The Python snippets of a Markdown page, with the marker before each applied."""
    lines = text.splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i].strip())
        if marker and not (i + 1 < len(lines) and FENCE.match(lines[i + 1].strip())):
            raise PageError(f"line {i + 1}: a snippet marker must be right before ```python")
        if not FENCE.match(lines[i].strip()):
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not END.match(lines[end].strip()):
            end += 1
        if end == len(lines):
            raise PageError(f"line {i + 1}: the ```python fence is never closed")
        snippet = Snippet(line=i + 2, code="\n".join(lines[i + 1 : end]) + "\n")
        before = MARKER.match(lines[i - 1].strip()) if i else None
        if before:
            what = before.group(1)
            skip = SKIP.match(what)
            if what == "continues":
                if not snippets:
                    raise PageError(f"line {i}: the first snippet of a page continues nothing")
                snippet.mode = "continues"
            elif skip:
                snippet.mode, snippet.reason = "skip", skip.group(1).strip()
            else:
                raise PageError(
                    f"line {i}: unknown snippet marker {what!r}: use "
                    "'<!-- snippet: skip (reason) -->' or '<!-- snippet: continues -->'"
                )
        snippets.append(snippet)
        i = end + 1
    return snippets


def groups(snippets: list[Snippet]) -> list[list[Snippet]]:
    """The snippets that run together: each runnable one with the ones continuing it.

    Raises:
        PageError: a snippet continues one that is skipped (it would otherwise
            join whatever ran before that, which the page does not say).
    """
    found: list[list[Snippet]] = []
    previous: Snippet | None = None
    for snippet in snippets:
        if snippet.mode == "run":
            found.append([snippet])
        elif snippet.mode == "continues":
            if previous is None or previous.mode == "skip":
                raise PageError(
                    f"line {snippet.line - 1}: it continues a snippet that is skipped "
                    "(skip it too, or run the one before it)"
                )
            found[-1].append(snippet)
        previous = snippet
    return found


# -- the sandbox -----------------------------------------------------------------------


# The audit events of a name (or address) lookup, each with the host first.
_LOOKUPS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"})


class Sandbox:
    """Refuses (and remembers) connections off the loopback and writes outside ``roots``."""

    def __init__(self) -> None:
        self.roots: list[str] = []
        self.violations: list[str] = []
        self.active = False

    @staticmethod
    def allowed_host(host: Any) -> bool:
        """Whether ``host`` is this machine: a literal loopback address, or ``localhost``.

        Names are never looked up to decide: ``localhost`` and ``*.localhost``
        (RFC 6761) are this machine, any other name is refused before a query
        leaves. ``None`` (``getaddrinfo(None, port)``: the local address to
        bind) names no host.
        """
        if host is None:
            return True
        if isinstance(host, bytes | bytearray):
            host = bytes(host).decode("ascii", "replace")
        if not isinstance(host, str):
            return False
        name = host.strip().lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name.split("%")[0]).is_loopback
        except ValueError:
            return False

    def refuse(self, what: str) -> None:
        self.violations.append(what)
        raise PermissionError(f"snippet sandbox: {what}")

    def check_address(self, verb: str, address: Any) -> None:
        """Refuse an (host, port, ...) address off this machine; a Unix socket's path passes."""
        if self.active and isinstance(address, tuple) and len(address) >= 2:
            if not self.allowed_host(address[0]):
                self.refuse(f"{verb} {address[0]}:{address[1]}")

    def guard_sockets(self) -> None:
        """Check the address of ``socket.socket``'s connect and sendto before they run.

        The C code resolves a host name in the address before it raises the
        ``socket.connect`` audit event, so a name would be looked up (a query
        off the machine) before :meth:`audit` saw it: checked here first.
        """
        cls = socket.socket
        if getattr(cls, "_snippet_guarded", False):
            return
        connect, connect_ex, sendto = cls.connect, cls.connect_ex, cls.sendto
        sandbox = self

        def guarded_connect(sock: socket.socket, address: Any) -> None:
            sandbox.check_address("connects to", address)
            connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
            sandbox.check_address("connects to", address)
            return connect_ex(sock, address)

        def guarded_sendto(sock: socket.socket, data: Any, *rest: Any) -> int:
            sandbox.check_address("sends to", rest[-1] if rest else None)
            return sendto(sock, data, *rest)

        cls.connect = guarded_connect  # type: ignore[method-assign]
        cls.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
        cls.sendto = guarded_sendto  # type: ignore[method-assign,assignment]
        cls._snippet_guarded = True  # type: ignore[attr-defined]

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "socket.connect" and len(args) > 1:
            self.check_address("connects to", args[1])
        elif event == "socket.sendto" and len(args) > 1:
            self.check_address("sends to", args[1])  # UDP (a DNS query by hand, say)
        elif event in _LOOKUPS and args and not self.allowed_host(args[0]):
            self.refuse(f"looks up {args[0]}")
        elif event == "open" and self._writes(args) and not self._inside(args[0]):
            self.refuse(f"writes {args[0]}")
        elif event in ("os.mkdir", "sqlite3.connect") and not self._inside(args[0]):
            self.refuse(f"{'creates' if event == 'os.mkdir' else 'opens a database at'} {args[0]}")

    @staticmethod
    def _writes(args: tuple[Any, ...]) -> bool:
        mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
        if isinstance(mode, str):
            return any(c in mode for c in "wax+")
        return isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))

    def _inside(self, path: Any) -> bool:
        if isinstance(path, int) or path in (":memory:", "", None):
            return True
        try:
            full = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return True
        if full == os.devnull:
            return True
        return any(full == root or full.startswith(root + os.sep) for root in self.roots)


SANDBOX = Sandbox()


# -- running ---------------------------------------------------------------------------


def finish_tracekit() -> int:
    """Shut tracekit down and reset it as freshly imported; how many internal errors it had."""
    import tracekit
    import tracekit.testing

    tracekit.shutdown()  # the snippet's last export happens here
    errors = int(tracekit.stats().get("internal_errors", 0))
    tracekit.testing.reset()  # no pipeline, no patches, no registered adapters
    return errors


def run_group(page: Path, group: list[Snippet]) -> dict[str, Any]:
    """Run one snippet (and those continuing it) in a directory of its own."""
    home = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="snippet-")
    SANDBOX.roots = [os.path.realpath(workdir), os.path.realpath(tempfile.gettempdir())]
    SANDBOX.violations = []
    namespace: dict[str, Any] = {"__name__": "__main__"}
    result: dict[str, Any] = {"line": group[0].line, "lines": [s.line for s in group]}
    os.chdir(workdir)
    SANDBOX.active = True
    try:
        for snippet in group:
            # Pad so that a traceback names the page's own line numbers.
            code = compile("\n" * (snippet.line - 1) + snippet.code, str(page), "exec")
            exec(code, namespace)  # noqa: S102 (our own documentation)
        if any(name.startswith("test_") and callable(v) for name, v in namespace.items()):
            SANDBOX.active = False  # pytest's own start-up is not the snippet's doing
            result.update(run_tests(group, workdir))
            SANDBOX.active = True
    except BaseException:
        result["error"] = traceback.format_exc()
    finally:
        try:
            errors = finish_tracekit()  # still in the sandbox
            if errors:
                result["internal_errors"] = errors
        except BaseException:
            result.setdefault("error", traceback.format_exc())
        SANDBOX.active = False
        os.chdir(home)
        shutil.rmtree(workdir, ignore_errors=True)
    if SANDBOX.violations:
        result["sandbox"] = list(SANDBOX.violations)
    return result


def run_tests(group: list[Snippet], workdir: str) -> dict[str, Any]:
    """Run the group as a pytest module; its lines are the page's lines."""
    source = ""
    for snippet in group:
        source += "\n" * (snippet.line - 1 - source.count("\n")) + snippet.code
    module = Path(workdir, f"test_snippet_{group[0].line}.py")
    module.write_text(source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", module.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": f"its tests failed under pytest:\n{proc.stdout}{proc.stderr}"}
    return {}


def run_page(page: Path) -> dict[str, Any]:
    """Every snippet group of ``page``, with the skipped snippets and their reasons."""
    try:
        snippets = parse(page.read_text(encoding="utf-8"))
        to_run = groups(snippets)
    except PageError as exc:
        return {"page_error": str(exc), "snippets": 0, "groups": [], "skipped": []}
    sys.addaudithook(SANDBOX.audit)
    SANDBOX.guard_sockets()
    return {
        "snippets": len(snippets),
        "groups": [run_group(page, group) for group in to_run],
        "skipped": [{"line": s.line, "reason": s.reason} for s in snippets if s.mode == "skip"],
    }


def main(argv: list[str]) -> int:
    """``snippet_runner.py PAGE RESULTS``: run PAGE's snippets, write the outcome to RESULTS."""
    sys.dont_write_bytecode = True  # an import writes nothing outside the sandbox's roots
    # A warning raised at a snippet's own line (a deprecated name, say) fails it.
    warnings.filterwarnings("error", module="__main__")
    page, results = Path(argv[0]).resolve(), Path(argv[1])
    outcome = run_page(page)
    results.write_text(json.dumps(outcome), encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave at once: a snippet's stray thread or pending exit hook is not the page's verdict.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
