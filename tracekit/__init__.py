"""tracekit: fast, local-first tracing for LLM applications.

Put ``@tracekit.trace`` (or ``@agent``, ``@tool``, ``@chain``, ``@llm``,
``@retriever``) on your functions, call ``tracekit.init()``, and every call
becomes a span in a trace tree, exported in the background.
This module only re-exports the public API; the logic lives in private modules.
The public submodules (``tracekit.integrations``, ``tracekit.backends``,
``tracekit.store``, ``tracekit.testing``) are reachable as attributes and
imported on first use, so ``import tracekit`` stays cheap (``testing`` needs
pytest, ``backends`` the backends' modules).
"""

import importlib as _importlib
import typing as _typing

from tracekit._config import flush, init, shutdown, stats
from tracekit._context import wrap
from tracekit._decorators import agent, chain, llm, retriever, tool, trace
from tracekit._manual import SpanScope, current_span, current_trace_id, span
from tracekit._seed import log
from tracekit._span import NonRecordingSpan, Span, SpanKind

if _typing.TYPE_CHECKING:
    # Typed as the modules they are (at run time __getattr__ imports them).
    from tracekit import backends as backends
    from tracekit import integrations as integrations
    from tracekit import store as store
    from tracekit import testing as testing

__version__ = "0.1.0.dev0"

# Public submodules, imported on first attribute access (PEP 562).
_SUBMODULES = frozenset({"backends", "integrations", "store", "testing"})


def __getattr__(name: str) -> _typing.Any:
    if name in _SUBMODULES:
        try:
            return _importlib.import_module(f"tracekit.{name}")
        except ImportError as exc:  # tracekit.testing without pytest: help() must still work
            raise AttributeError(f"tracekit.{name} needs {exc.name or 'a missing module'}") from exc
    raise AttributeError(f"module 'tracekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)


__all__ = [
    "NonRecordingSpan",
    "Span",
    "SpanKind",
    "SpanScope",
    "__version__",
    "agent",
    "chain",
    "current_span",
    "current_trace_id",
    "flush",
    "init",
    "llm",
    "log",
    "retriever",
    "shutdown",
    "span",
    "stats",
    "tool",
    "trace",
    "wrap",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("tracekit._"):
        try:
            _obj.__module__ = "tracekit"
        except (AttributeError, TypeError):
            pass
del _name, _obj
