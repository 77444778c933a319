"""Registration, patching before and after the import, idempotency, and unpatching."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap

import openai
import pytest
import tracekit_openai
import wrapt
from tracekit_openai import TARGETS, OpenAIIntegration
from tracekit_openai._wrappers import CHAT_PARSE, SyncCall

import tracekit
from tracekit import integrations
from tracekit.store import Store

MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def originals():
    """Every patch point this openai has, mapped to the function object there now."""
    found = {}
    for module, path, *_ in TARGETS:
        try:
            owner = __import__(module, fromlist=["_"])
            cls_name, method = path.split(".")
            found[(module, path)] = getattr(owner, cls_name).__dict__[method]
        except (ImportError, AttributeError, KeyError):
            continue
    return found


def run_python(code, *, cwd, env=None, timeout=60):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRACEKIT_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_the_entry_point_registers_the_adapter_like_a_third_party():
    [entry] = [
        e
        for e in importlib.metadata.entry_points(group="tracekit.integrations")
        if e.name == "openai"
    ]
    assert entry.value == "tracekit_openai:OpenAIIntegration"
    assert entry.load() is OpenAIIntegration
    assert isinstance(integrations.get("openai"), OpenAIIntegration)
    assert integrations.get("openai").supported()


@pytest.mark.slow
def test_importing_the_adapter_imports_and_patches_nothing(tmp_path):
    done = run_python(
        """
        import sys
        import tracekit_openai
        print("openai" in sys.modules)
        """,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


@pytest.mark.slow
def test_autopatch_before_the_import_applies_on_import(tmp_path, openai_server, planted_key):
    done = run_python(
        """
        import json, sys
        import tracekit
        from tracekit.backends import MemoryBackend

        backend = MemoryBackend()
        tracekit.init(backend, integrations=["openai"])
        imported_early = "openai" in sys.modules

        import openai

        client = openai.OpenAI(base_url=sys.argv[1] if len(sys.argv) > 1 else None)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        tracekit.flush()
        print(json.dumps({
            "imported_early": imported_early,
            "spans": [[r["name"], r["kind"], r["status"]] for r in backend.records],
        }))
        """,
        cwd=tmp_path,
        env={"OPENAI_BASE_URL": openai_server, "OPENAI_API_KEY": planted_key},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["imported_early"] is False
    assert result["spans"] == [
        ["openai.chat.completions.create", "LLM", "OK"],
        ["openai.chat.completions.create", "LLM", "OK"],
        ["openai.embeddings.create", "EMBEDDING", "OK"],
    ]


@pytest.mark.slow
def test_an_unmodified_openai_script_lands_in_the_default_store(
    tmp_path, openai_server, planted_key
):
    """The acceptance test: init(integrations=["openai"]), then a script as users write it."""
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            from openai import OpenAI

            client = OpenAI()
            completion = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Capital of France?"}],
                temperature=0.2,
            )
            print(completion.choices[0].message.content)
            """
        )
    )
    done = run_python(
        """
        import runpy
        import tracekit

        tracekit.init(integrations=["openai"])
        runpy.run_path("app.py", run_name="__main__")
        """,
        cwd=tmp_path,
        env={"OPENAI_BASE_URL": openai_server, "OPENAI_API_KEY": planted_key},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Paris is the capital of France."
    with Store(tmp_path / ".tracekit" / "traces.db") as store:
        [record] = list(store.iter_records())
    assert record["name"] == "openai.chat.completions.create"
    assert record["kind"] == "LLM"
    assert record["status"] == "OK"
    assert record["model"] == "gpt-4o-mini-2024-07-18"
    assert record["inputs"] == {"messages": [{"role": "user", "content": "Capital of France?"}]}
    assert record["outputs"]["message"]["content"] == "Paris is the capital of France."
    assert record["usage"]["total_tokens"] == 28
    assert record["attributes"]["model_parameters"] == {"temperature": 0.2}


def test_unpatch_restores_the_original_functions_and_is_idempotent(tracekit_capture):
    before = originals()
    chat = ("openai.resources.chat.completions", "Completions.create")
    assert chat in before
    assert type(before[chat]).__name__ == "function"

    integrations.autopatch(["openai"])
    patched = originals()
    assert all(isinstance(f, wrapt.FunctionWrapper) for f in patched.values())
    assert set(patched) == set(before)

    integrations.unpatch(["openai"])
    assert originals() == before
    assert openai.resources.chat.completions.Completions.create is before[chat]
    integrations.unpatch(["openai"])
    assert originals() == before


def test_patching_twice_still_records_one_span_per_call(tracekit_capture, client):
    assert integrations.autopatch(["openai"]) == ["openai"]
    integrations.autopatch(["openai"])
    integrations.get("openai").patch()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(tracekit_capture.records) == 1


def test_unpatch_also_stops_references_bound_while_patched(tracekit_capture, client):
    integrations.autopatch(["openai"])
    raw_create = client.chat.completions.with_raw_response.create  # binds the patched create
    create = client.chat.completions.create
    raw_create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(tracekit_capture.records) == 1

    integrations.unpatch(["openai"])
    raw_create(model="gpt-4o-mini", messages=MESSAGES)
    create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(tracekit_capture.records) == 1


def test_a_patched_method_called_by_another_records_one_span(capture, client):
    """openai 1.40's ``beta...parse`` calls ``create``: the outer call's span is the only one."""

    def outer(**kwargs):
        return client.chat.completions.create(**kwargs)

    traced_outer = wrapt.FunctionWrapper(outer, SyncCall(CHAT_PARSE))
    traced_outer(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # still traced alone
    assert [r["name"] for r in capture.records] == [
        "openai.chat.completions.parse",
        "openai.chat.completions.create",
    ]


def test_with_tracing_off_calls_pass_through_untouched(client):
    tracekit.init("memory", enabled=False)
    integrations.autopatch(["openai"])
    resource = openai.resources.chat.completions.Completions
    assert isinstance(resource.__dict__["create"], wrapt.FunctionWrapper)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert type(completion).__name__ == "ChatCompletion"
    assert type(stream) is openai.Stream  # not even a proxy
    assert tracekit.stats()["created"] == 0
    list(stream)


def test_the_adapter_module_says_which_versions_it_supports():
    assert OpenAIIntegration.requires == "openai>=1.40,<4"
    assert "1.40.8" in (tracekit_openai.__doc__ or "")
