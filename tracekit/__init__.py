"""tracekit: fast, local-first tracing for LLM applications.

Put ``@tracekit.trace`` (or ``@agent``, ``@tool``, ``@chain``, ``@llm``,
``@retriever``) on your functions, call ``tracekit.init()``, and every call
becomes a span in a trace tree, exported in the background.
This module only re-exports the public API; the logic lives in private modules.
"""

from tracekit._config import flush, init, shutdown, stats
from tracekit._context import wrap
from tracekit._decorators import agent, chain, llm, retriever, tool, trace
from tracekit._manual import SpanScope, current_span, current_trace_id, log, span
from tracekit._span import NonRecordingSpan, Span, SpanKind

__version__ = "0.1.0.dev0"

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
