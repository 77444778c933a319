"""What the docs name is there after a plain ``import tracekit``, and each name means one thing."""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tracekit

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# `tracekit.x.y` written in the docs, not a file name such as `.tracekit/traces.db`
_DOTTED = re.compile(r"(?<![\w./-])tracekit(?:\.[A-Za-z_]\w*)+")
# `from tracekit.x import a, b` written in the docs' snippets
_FROM = re.compile(r"^\s*from (tracekit(?:\.\w+)*) import \(?([\w, ]+)", re.M)


def documented_names() -> set[str]:
    names: set[str] = set()
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        names.update(m.group(0) for m in _DOTTED.finditer(text))
        for module, imported in _FROM.findall(text):
            names.update(f"{module}.{n.strip()}" for n in imported.split(",") if n.strip())
    # a dotted name ending in a file suffix is a file, not an attribute
    return {n for n in names if not n.endswith((".db", ".md", ".py", ".jsonl"))}


# Keys of span records' attributes that the docs name (docs/span-record.md), not Python names.
RECORD_ATTRIBUTE_KEYS = {
    "tracekit.end_reason",
    "tracekit.kind",
    "tracekit.pid",
    "tracekit.unencodable",
    "tracekit.usage_counted_below",
}


def test_the_docs_name_public_things():
    names = documented_names()
    assert "tracekit.integrations.unpatch" in names  # the scan itself works
    assert "tracekit.backends.StorageFull" in names
    assert len(names) > 30


def test_every_documented_name_is_reachable_after_import_tracekit():
    # A fresh interpreter where nothing but `import tracekit` ran, as in a user's first line:
    # a name under a public attribute resolves attribute by attribute; any other name
    # (`python -m tracekit.cli`) must be a module path that imports.
    script = (
        "import importlib, sys, tracekit\n"
        "public = set(tracekit.__all__) | {'integrations', 'backends', 'store', 'testing'}\n"
        "missing = []\n"
        "for name in sys.argv[1:]:\n"
        "    parts = name.split('.')[1:]\n"
        "    try:\n"
        "        if parts[0] in public or parts[0].startswith('__'):\n"
        "            obj = tracekit\n"
        "            for part in parts:\n"
        "                obj = getattr(obj, part)\n"
        "        else:\n"
        "            importlib.import_module(name)\n"
        "    except (AttributeError, ImportError):\n"
        "        missing.append(name)\n"
        "print('\\n'.join(missing))\n"
    )
    names = sorted(documented_names() - RECORD_ATTRIBUTE_KEYS)
    out = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == []


def test_public_submodules_are_attributes_but_not_imported_eagerly():
    script = (
        "import sys, tracekit\n"
        "eager = [m for m in ('tracekit.integrations', 'tracekit.testing', 'pytest') "
        "if m in sys.modules]\n"
        "print(eager)\n"
        "print(tracekit.integrations.autopatch.__name__, tracekit.backends.StorageFull.__name__,"
        " tracekit.store.Store.__name__, tracekit.testing.Capture.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "autopatch StorageFull Store Capture"]


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tracekit.nope  # noqa: B018


def test_dir_lists_the_public_submodules():
    assert {"integrations", "backends", "store", "testing"} <= set(dir(tracekit))


def test_the_adapter_patching_pair_has_its_own_names():
    # tracekit.wrap binds a callable to the current span; patching a method is wrap_method.
    assert tracekit.wrap is not tracekit.integrations.wrap_method
    assert "wrap_method" in tracekit.integrations.__all__
    assert "unwrap_method" in tracekit.integrations.__all__


def test_the_old_patching_names_still_work_and_warn():
    class Client:
        def ask(self) -> str:
            return "answer"

    def shout(wrapped, instance, args, kwargs):
        return wrapped(*args, **kwargs).upper()

    with pytest.warns(DeprecationWarning, match="wrap_method"):
        tracekit.integrations.wrap(Client, "ask", shout)
    assert Client().ask() == "ANSWER"
    with pytest.warns(DeprecationWarning, match="unwrap_method"):
        tracekit.integrations.unwrap(Client, "ask")
    assert Client().ask() == "answer"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracekit.integrations.wrap_method(Client, "ask", shout)
        tracekit.integrations.unwrap_method(Client, "ask")
