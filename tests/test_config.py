"""init(): backend URLs, environment variables, reconfiguration."""

from __future__ import annotations

import pytest

import tracekit
from tracekit import _state
from tracekit.backends import ConsoleBackend, JsonlBackend, MemoryBackend, from_url


@tracekit.tool
def work(i=0):
    return i


@pytest.mark.parametrize(
    ("url", "kind", "attr", "value"),
    [
        ("memory", MemoryBackend, None, None),
        ("memory://", MemoryBackend, None, None),
        ("console", ConsoleBackend, "stream", "stdout"),
        ("console://stderr", ConsoleBackend, "stream", "stderr"),
        ("jsonl:///spans.jsonl", JsonlBackend, "path", "spans.jsonl"),
        ("jsonl:///logs/run/spans.jsonl", JsonlBackend, "path", "logs/run/spans.jsonl"),
        ("jsonl:////var/data/spans.jsonl", JsonlBackend, "path", "/var/data/spans.jsonl"),
    ],
)
def test_backend_urls(url, kind, attr, value):
    backend = from_url(url)
    assert isinstance(backend, kind)
    if attr:
        assert getattr(backend, attr) == value


@pytest.mark.parametrize(
    "url",
    ["postgres://localhost/db", "nope", "", "jsonl://", "jsonl:", "console://tty", "jsonl:spans"],
)
def test_bad_urls_are_clear_value_errors(url):
    with pytest.raises(ValueError) as info:
        tracekit.init(url)
    assert url in str(info.value) or "URL" in str(info.value)


def test_unknown_scheme_error_names_the_schemes_that_exist():
    with pytest.raises(ValueError, match="console, jsonl, memory") as info:
        tracekit.init("kafka://broker")
    assert "otlp+http, otlp+https" in str(info.value)
    assert "wandb" in str(info.value)


def test_bad_url_leaves_the_running_pipeline_alone():
    backend = MemoryBackend()
    tracekit.init(backend)
    with pytest.raises(ValueError):
        tracekit.init("nope://")
    work(1)
    tracekit.flush()
    assert len(backend.records) == 1


def test_not_a_backend_is_rejected():
    with pytest.raises(ValueError, match="not a backend"):
        tracekit.init(object())


def test_several_backends_each_get_every_record(tmp_path):
    memory = MemoryBackend()
    path = tmp_path / "spans.jsonl"
    tracekit.init([memory, f"jsonl:///{path}"])
    work(1)
    tracekit.flush()
    assert len(memory.records) == 1
    assert len(path.read_text().splitlines()) == 1


def test_environment_configures_init(monkeypatch, tmp_path):
    path = tmp_path / "env.jsonl"
    monkeypatch.setenv("TRACEKIT_BACKEND", f"jsonl:///{path}")
    monkeypatch.setenv("TRACEKIT_PROJECT", "from-env")
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "0.25")
    tracekit.init()
    stats = tracekit.stats()
    assert stats["config"]["project"] == "from-env"
    assert stats["config"]["sample_rate"] == 0.25
    assert isinstance(_state.config.pipeline.backends[0], JsonlBackend)


def test_explicit_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("TRACEKIT_BACKEND", "console")
    monkeypatch.setenv("TRACEKIT_PROJECT", "from-env")
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "0.1")
    backend = MemoryBackend()
    tracekit.init(backend, project="explicit", sample_rate=1.0)
    assert _state.config.pipeline.backends == [backend]
    assert tracekit.stats()["config"]["project"] == "explicit"
    assert tracekit.stats()["config"]["sample_rate"] == 1.0


def test_bad_sample_rate_in_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "lots")
    with pytest.raises(ValueError, match="TRACEKIT_SAMPLE_RATE"):
        tracekit.init("memory")


def test_tracekit_disabled_turns_tracing_off(monkeypatch):
    monkeypatch.setenv("TRACEKIT_DISABLED", "1")
    tracekit.init("memory")
    assert work(1) == 1
    assert tracekit.stats()["enabled"] is False
    assert tracekit.current_span().is_recording is False


def test_enabled_false_is_pass_through():
    tracekit.init("memory", enabled=False)
    assert work(1) == 1
    assert tracekit.stats()["created"] == 0


def test_tracekit_backend_alone_enables_tracing_before_init(monkeypatch, tmp_path):
    path = tmp_path / "auto.jsonl"
    monkeypatch.setenv("TRACEKIT_BACKEND", f"jsonl:///{path}")
    work(1)  # no init(): the environment asked for tracing
    tracekit.flush()
    assert len(path.read_text().splitlines()) == 1


def test_invalid_tracekit_backend_before_init_does_not_break_the_app(monkeypatch, caplog):
    monkeypatch.setenv("TRACEKIT_BACKEND", "bogus://")
    assert work(5) == 5
    assert tracekit.stats()["enabled"] is False
    assert "TRACEKIT_BACKEND" in caplog.text


def test_init_after_shutdown_and_repeated_init(tmp_path):
    for round_ in range(3):
        backend = MemoryBackend()
        tracekit.init(backend)
        work(round_)
        tracekit.shutdown()
        assert [r["inputs"]["i"] for r in backend.records] == [round_]
        assert backend.shut_down


def test_flush_and_shutdown_before_init_are_harmless():
    assert tracekit.flush() is True
    assert tracekit.shutdown() is True
    assert tracekit.stats()["created"] == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_string_chars", 0),
        ("queue_max_spans", -1),
        ("batch_size", True),
        ("export_interval", 0),
        ("export_interval", -1),
        ("flush_timeout", float("nan")),
        ("export_timeout", "10"),
        ("max_span_age_s", -5),
    ],
)
def test_bad_options_are_clear_errors(option, value):
    with pytest.raises(ValueError, match=option):
        tracekit.init("memory", **{option: value})


def test_numbers_given_as_other_types_are_kept_as_floats():
    import tracekit
    from tracekit.backends import MemoryBackend

    tracekit.init(MemoryBackend(), sample_rate="0.5", flush_timeout=3, export_interval=2)
    config = tracekit.stats()["config"]
    assert config["sample_rate"] == 0.5
    assert isinstance(config["flush_timeout"], float)
    assert config["export_interval"] == 2.0


def test_import_tracekit_loads_neither_the_pipeline_nor_the_backends():
    import subprocess
    import sys

    script = (
        "import sys, tracekit\n"
        "print(sorted(m for m in ('tracekit._pipeline', 'tracekit.backends', 'sqlite3')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_on_tracekit_works_without_pytest():
    import subprocess
    import sys

    script = (
        "import sys, pydoc\n"
        "sys.modules['pytest'] = None  # as in an application without pytest installed\n"
        "import tracekit\n"
        "print(hasattr(tracekit, 'testing'), len(pydoc.render_doc(tracekit)) > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
