"""One home for process-wide state (``tracekit._state``), one reset, and no import circle."""

from __future__ import annotations

import ast
import contextvars
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import wrapt

import tracekit
from tracekit import _guard, _state, integrations
from tracekit.backends import SqliteBackend

PACKAGE = Path(tracekit.__file__).resolve().parent
CORE = sorted(p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts)

# Module-level objects that are not process-wide state, each with its reason.
NOT_STATE = {
    ("_redact", "_key_cache"): "memo of a pure function of the key name",
    ("_redact", "_seen"): "memo of a pure function of the text (redact_string)",
    ("_pipeline", "_last_trace"): "cache of the last trace id's hex text",
    ("_record", "_last_trace"): "cache of the last trace id's hex text",
    ("_demo", "_trace_ids"): "the demo program's own result, read back by run()",
}


class Fake(integrations.Integration):
    name = "fake-for-reset"

    def _patch(self) -> None:
        pass

    def _unpatch(self) -> None:
        pass


def test_reset_puts_every_value_back(tmp_path):
    backend = SqliteBackend(str(tmp_path / "t.db"))
    tracekit.init([backend], project="p", sample_rate=0.5, max_items=7)
    integrations.register(Fake)
    _guard.set_strict(False)
    _guard.internal_error(RuntimeError("planted"), "test.reset")
    other = contextvars.copy_context().run(integrations.attach, None)
    integrations.detach(other)  # a token from another context: counted
    _state.store_files["somewhere"] = {"abc"}
    scope = tracekit.span("left open")
    scope.__enter__()
    assert tracekit.stats()["foreign_resets"] == 1
    assert tracekit.stats()["internal_errors"] == 1
    assert isinstance(threading.Thread.__dict__["start"], wrapt.FunctionWrapper)
    _guard.set_strict(True)

    tracekit.testing.reset()

    assert "fake-for-reset" not in integrations.registered()
    stats = tracekit.stats()
    assert (stats["foreign_resets"], stats["internal_errors"], stats["open_spans"]) == (0, 0, 0)
    assert stats["enabled"] is False
    assert stats["config"]["project"] == "default"
    assert stats["config"]["max_items"] == 1000
    assert _guard.is_strict()  # the harness's setting is kept
    assert _state.store_files == {}
    assert not isinstance(threading.Thread.__dict__["start"], wrapt.FunctionWrapper)
    assert tracekit.current_span().is_recording is False


def test_every_state_object_is_as_new_after_reset(tmp_path):
    tracekit.init(f"sqlite:///{tmp_path / 't.db'}", capture_inputs=False, sample_rate=0.1)
    integrations.register(Fake)
    tracekit.testing.reset()
    fresh = {
        "runtime": _state.Runtime(),
        "config": _state.Config(),
        "guard": _state.Guard(),
        "context": _state.ContextCounters(),
        "adapters": _state.Adapters(),
    }
    for name, new in fresh.items():
        live = getattr(_state, name)
        for slot in type(new).__slots__:
            if (name, slot) in (("config", "hooks_registered"), ("guard", "strict")):
                continue  # hooks stay registered; strictness is the test harness's choice
            assert getattr(live, slot) == getattr(new, slot), f"_state.{name}.{slot}"


def test_only_the_state_module_keeps_process_wide_values():
    found = []
    for path in CORE:
        module = path.stem
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                found += [(module, name) for name in node.names]
        for node in tree.body:
            target, value = _assignment(node)
            if target is None or target.startswith("__") or target.isupper():
                continue
            if _is_container(value):
                found.append((module, target))
    unexpected = sorted({f for f in found if f[0] != "_state" and f not in NOT_STATE})
    assert unexpected == []


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _is_container(value: ast.expr | None) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set)):
        return True
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("dict", "list", "set", "defaultdict", "deque")
    )


def _imports(path: Path) -> set[str]:
    """tracekit modules ``path`` imports, at import time or inside functions (not for typing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tracekit"))
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tracekit")
        ):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_core_modules_import_each_other_without_a_circle():
    names = {}
    for path in CORE:
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[dotted.removesuffix(".__init__")] = path
    graph = {
        name: {m for m in _imports(path) if m in names and m != name}
        for name, path in names.items()
    }
    # A package's __init__ re-exporting its submodules is not a dependency of theirs on it.
    for name in graph:
        graph[name] -= {p for p in graph[name] if name.startswith(p + ".")}
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_state_and_options_are_leaves():
    assert _imports(PACKAGE / "_options.py") <= {
        "tracekit._serialize",
        "tracekit._serialize.Limits",
    }
    state = {m for m in _imports(PACKAGE / "_state.py") if m.count(".") == 1}
    assert state <= {"tracekit._options", "tracekit._serialize"}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_shipped_fixture_keeps_a_third_partys_tests_apart(tmp_path):
    # Two tests of someone else's suite: registrations made in the first are gone in the second.
    (tmp_path / "test_theirs.py").write_text(
        textwrap.dedent(
            """
            import tracekit
            from tracekit import integrations

            class Theirs(integrations.Integration):
                name = "theirs"
                def _patch(self): pass
                def _unpatch(self): pass

            def test_one(tracekit_capture):
                integrations.register(Theirs)
                integrations.autopatch(["theirs"])
                assert integrations.get("theirs").patched

            def test_two(tracekit_capture):
                assert "theirs" not in integrations.registered()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 passed" in result.stdout, result.stdout + result.stderr
