"""The public surface: exactly what __all__ lists, with clean reprs."""

import tracekit


def test_all_lists_exactly_the_public_names():
    # (pytest rewrites the plugin package and adds "@py_builtins"-style names)
    public = {name for name in dir(tracekit) if not name.startswith(("_", "@"))}
    submodules = {"backends", "testing", "cli", "store", "integrations", "ui"}
    assert set(tracekit.__all__) == (public - submodules) | {"__version__"}
    assert tracekit.__all__ == sorted(tracekit.__all__)


def test_public_names_report_module_tracekit():
    for name in ("Span", "SpanKind", "NonRecordingSpan", "init", "trace", "span", "log", "flush"):
        assert getattr(tracekit, name).__module__ == "tracekit", name


def test_span_kinds_are_the_seed_four_plus_two():
    assert [k.value for k in tracekit.SpanKind] == [
        "AGENT",
        "TOOL",
        "LLM",
        "CHAIN",
        "RETRIEVER",
        "EMBEDDING",
    ]


def test_package_is_typed():
    from importlib.resources import files

    assert files("tracekit").joinpath("py.typed").is_file()
