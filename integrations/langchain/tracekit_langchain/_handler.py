"""The tracekit callback handler: one LangChain run, one tracekit span.

:class:`TracekitHandler` is a plain langchain-core ``BaseCallbackHandler``,
not a ``BaseTracer``: a tracer builds a pydantic ``Run`` per run and
serializes every chat message itself, which cost more than the span. The
handler opens a span in each start callback and ends it in the matching end
or error callback, reading the callbacks' own arguments (the same rules a
``BaseTracer`` applies: a run's name is ``name`` or the serialized
component's, non-mapping inputs and outputs become ``{"input": ...}`` and
``{"output": ...}``).

The spans are kept in a ``run_id -> _Run`` map under a lock, not in
tracekit's ContextVar: a start callback without its end would leave the
context attached forever (STYLE trap 8), and LangChain calls the callbacks of
one run from different contexts (threads in ``batch``, tasks in ``abatch``).
A run whose end never comes (a stream dropped unconsumed) stays in the map
until tracekit abandons its span; the map is then pruned (:meth:`_prune`).

The parent of a run's span is the span of its parent run, or tracekit's
current span for a top-level run. When the current span lies inside the
parent run's span (a ``@tracekit.tool`` function that runs a chain), the
current span is the nearer ancestor and wins. The reverse direction (tracekit
spans inside a runnable) is :func:`enter_run`, called where LangChain sets up
the context a runnable's body runs in.

Our failures go through :func:`tracekit.integrations.internal_error`: counted
and logged once in production, raised under the pytest plugin (where
LangChain logs it and the capture fixture fails the test on the count).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from tracekit import Span
from tracekit.integrations import (
    attach,
    enabled,
    finish_span,
    innermost,
    internal_error,
    open_span,
)
from tracekit_langchain import _extract, _graph, _messages

# Tags LangChain and LangGraph add to every step of a sequence or graph (not the user's).
_STEP_TAGS = ("seq:step:", "graph:step:")

# Above this many runs in the map, ended-by-tracekit (abandoned) runs are pruned.
PRUNE_AT = 10_000


def _name(name: Any, serialized: Any, default: str) -> str:
    """A run's name as LangChain's tracers assign it."""
    if name is not None:
        return str(name)
    if isinstance(serialized, Mapping):
        if "name" in serialized:
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return str(ident[-1])
    return default


def _as_dict(value: Any, key: str) -> dict[str, Any]:
    """A run's inputs or outputs as a mapping, messages made plain (see ``_messages``)."""
    if isinstance(value, dict):
        return _messages.readable_mapping(value)
    return {key: _messages.readable(value)}


class _Run:
    """What the handler keeps of one open run: its span and its streamed token count."""

    __slots__ = ("span", "tokens")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.tokens = 0


class TracekitHandler(BaseCallbackHandler):
    """Turns every LangChain run into a tracekit span (added to every callback manager)."""

    name = "tracekit"
    run_inline = True  # called in the run's own context, also from async callback managers

    def __init__(self) -> None:
        super().__init__()
        self.live = True
        # Set by the adapter: the ContextVar naming the stream run to make current (_streaming).
        self.pending: ContextVar[UUID | None] | None = None
        self._lock = threading.Lock()
        self._runs: dict[UUID, _Run] = {}
        self._prune_at = PRUNE_AT
        self._configs: dict[int, tuple[Any, dict[str, Any] | None]] = {}

    # -- lookups ---------------------------------------------------------------------

    def span_for(self, run_id: UUID) -> Span | None:
        """The span of a run still open, or None."""
        run = self._runs.get(run_id)
        return run.span if run is not None else None

    def _parent(self, parent_run_id: UUID | None) -> Span | None:
        """The parent run's span (or a span of the user's inside it); None: the current."""
        parent = self.span_for(parent_run_id) if parent_run_id is not None else None
        return innermost(parent) if parent is not None else None

    # -- opening ---------------------------------------------------------------------

    def _open(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: str,
        tags: list[str] | None,
        inputs: dict[str, Any],
    ) -> Span | None:
        """Open the span of a run; None when nothing more is to be recorded on it."""
        if not self.live or not enabled():
            return None
        span = open_span(name, kind, inputs, parent=self._parent(parent_run_id))
        # A non-recording span is kept too: runs under it (an unsampled trace) stay unrecorded.
        with self._lock:
            self._runs[run_id] = _Run(span)
            if len(self._runs) > self._prune_at:
                self._prune()
        if self.pending is not None and self.pending.get() == run_id:
            # Inside one step of a traced stream, which detaches when the step returns
            # (a non-recording span too: the model's request must stay unrecorded).
            attach(span)
        if not span.is_recording:
            return None
        if tags:
            kept = [tag for tag in tags if not tag.startswith(_STEP_TAGS)]
            if kept:
                span.set_attribute("langchain.tags", kept)
        return span

    def _prune(self) -> None:
        """Forget runs whose span tracekit already ended (abandoned); called under the lock.

        The threshold doubles while the map holds that many live runs, so the
        scan costs amortised O(1) per run.
        """
        for run_id in [r for r, run in self._runs.items() if run.span.end_ns]:
            del self._runs[run_id]
        self._prune_at = max(PRUNE_AT, 2 * len(self._runs))

    def _parameters(self, serialized: Any) -> dict[str, Any] | None:
        """``_extract.parameters``, remembered per serialized object.

        Models and tools pass the same serialized dict on every call (LangChain
        caches it on the component), so it is simplified once.
        """
        if serialized is None:
            return None
        key = id(serialized)
        cached = self._configs.get(key)
        if cached is not None and cached[0] is serialized:
            return cached[1]
        parameters = _extract.parameters(serialized)
        if len(self._configs) >= 256:
            self._configs.clear()
        # The entry holds the serialized dict, so its id is not reused while cached.
        self._configs[key] = (serialized, parameters)
        return parameters

    def _start(
        self,
        serialized: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        name: str,
        kind: str,
        inputs: Any,
    ) -> Span | None:
        try:
            inputs = _as_dict(inputs, "input")
            span = self._open(run_id, parent_run_id, name, kind, tags, inputs)
            if span is None:
                return None
            parameters = self._parameters(serialized)
            if parameters is not None:
                span.set_attribute("langchain.parameters", parameters)
            return span
        except Exception as exc:
            internal_error(exc, "langchain.start")
            return None

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a CHAIN span (AGENT for agent executors and graphs)."""
        name = _name(kwargs.get("name"), serialized, "Unnamed")
        kind = _extract.kind_for(kwargs.get("run_type") or "chain", name)
        graph = None
        if parent_run_id is None and self.live and enabled():
            try:
                root = _graph.root_runnable()
                if root is not None:
                    kind = "AGENT" if _graph.is_agent(root) else kind
                    # Before the span opens: describing a runnable the first time costs
                    # ~0.4 ms (~5 ms for the first of its classes), not the run's own time.
                    graph = _graph.graph_of(root)
            except Exception as exc:
                internal_error(exc, "langchain.graph")
        span = self._start(serialized, run_id, parent_run_id, tags, name, kind, inputs)
        if span is not None and graph is not None:
            try:
                span.set_attribute("langchain.graph", graph)
            except Exception as exc:
                internal_error(exc, "langchain.graph")

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open an LLM span with the messages (one list per prompt) as inputs."""
        batches = [_messages.messages(batch) for batch in messages]
        inputs = {"messages": batches[0] if len(batches) == 1 else batches}
        self._start_model(serialized, inputs, run_id, parent_run_id, tags, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open an LLM span with the prompts as inputs."""
        self._start_model(
            serialized, {"prompts": prompts}, run_id, parent_run_id, tags, metadata, kwargs
        )

    def _start_model(
        self,
        serialized: Any,
        inputs: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        name = _name(kwargs.get("name"), serialized, "Unnamed")
        span = self._start(serialized, run_id, parent_run_id, tags, name, "LLM", inputs)
        if span is None:
            return
        try:
            model, params = _extract.model_and_params(kwargs.get("invocation_params"), metadata)
            if model is not None:
                span.set_model(model, **params)
            elif params:
                span.set_attribute("model_parameters", params)
        except Exception as exc:
            internal_error(exc, "langchain.start")

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a TOOL span with the tool's arguments as inputs."""
        name = _name(kwargs.get("name"), serialized, "Unnamed")
        inputs = (
            _messages.readable_mapping(inputs) if isinstance(inputs, dict) else {"input": input_str}
        )
        self._start(serialized, run_id, parent_run_id, tags, name, "TOOL", inputs)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a RETRIEVER span with the query as input."""
        name = _name(kwargs.get("name"), serialized, "Retriever")
        self._start(serialized, run_id, parent_run_id, tags, name, "RETRIEVER", {"query": query})

    # -- during ----------------------------------------------------------------------

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Count streamed chunks (the chunks themselves add up in the final result)."""
        run = self._runs.get(run_id)
        if run is not None:
            run.tokens += 1

    # -- closing ---------------------------------------------------------------------

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None or not run.span.is_recording:
            return None
        return run

    def _end(
        self,
        run_id: UUID,
        error: BaseException | None,
        record: Callable[[Span, _Run], None] | None = None,
    ) -> None:
        """End a run's span; ``record`` writes its results first (guarded: the span always ends)."""
        run = self._pop(run_id)
        if run is None:
            return
        span = run.span
        if record is not None:
            try:
                record(span, run)
            except Exception as exc:
                internal_error(exc, "langchain.end")
        finish_span(span, error)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain's span with its outputs (and its inputs, for a streamed run)."""
        self._restate_inputs(run_id, kwargs.get("inputs"))
        self._end(run_id, None, lambda span, _: span.set_outputs(_as_dict(outputs, "output")))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain's span with the exception."""
        self._restate_inputs(run_id, kwargs.get("inputs"))
        self._end(run_id, error)

    def _restate_inputs(self, run_id: UUID, inputs: Any) -> None:
        """A streamed run learns its inputs only at the end (LangChain passes them there)."""
        if inputs is None:
            return
        span = self.span_for(run_id)
        if span is None or not span.is_recording:
            return
        try:
            span.set_inputs(_as_dict(inputs, "input"))
        except Exception as exc:
            internal_error(exc, "langchain.end")

    @staticmethod
    def _model_result(span: Span, run: _Run, response: Any) -> None:
        """A model's message(s) and usage, and how many chunks it streamed."""
        if getattr(response, "generations", None):
            span.set_outputs(_messages.llm_outputs(response))
            usage = _extract.usage(response)
            if usage is not None:
                span.set_usage(**usage)
        if run.tokens:
            span.set_attribute("langchain.streamed_chunks", run.tokens)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the model's span with its message(s), usage and streamed chunk count."""
        self._end(run_id, None, lambda span, run: self._model_result(span, run, response))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the model's span with the exception, and what it streamed before it."""
        partial = kwargs.get("response")
        self._end(run_id, error, lambda span, run: self._model_result(span, run, partial))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool's span with its output."""
        self._end(
            run_id, None, lambda span, _: span.set_outputs({"output": _messages.readable(output)})
        )

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool's span with the exception."""
        self._end(run_id, error)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the retriever's span with the documents it found."""
        self._end(run_id, None, lambda span, _: span.set_outputs({"documents": documents}))

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the retriever's span with the exception."""
        self._end(run_id, error)


def _span_to_enter(handler: TracekitHandler, run_id: Any) -> Span | None:
    """The span of run ``run_id`` if it should become current here, else None.

    None too when the current span lies inside it already (the nearest span
    wins).
    """
    if not handler.live or run_id is None:
        return None
    span = handler.span_for(run_id)
    if span is None or innermost(span) is not span:
        return None
    return span


def enter_run(handler: TracekitHandler, config: Any) -> None:
    """Make the span of the run that owns ``config``'s callbacks current, in this context.

    Called right after LangChain's ``_set_config_context`` sets the child config
    in the copied context that a runnable's body then runs in (LangChain attaches
    LangSmith's parent run at exactly that point): tracekit spans opened by
    that body nest under the run's span. The copied context is discarded when
    the body is done, so nothing has to be reset.
    """
    if not isinstance(config, Mapping):
        return
    span = _span_to_enter(handler, getattr(config.get("callbacks"), "parent_run_id", None))
    if span is not None:
        attach(span)  # the copied context is discarded, so the token is not needed


def model_run_span(handler: TracekitHandler, run_manager: Any) -> Span | None:
    """The span to make current around a model's own request, from its run manager.

    A model's ``_generate`` runs without a child context of its own, so the
    request it makes (an OpenAI call) would otherwise nest beside the model's
    span instead of under it. ``run_manager`` is a ``CallbackManagerForLLMRun``,
    or for LLMs the list of them (one per prompt): the requests of a
    multi-prompt call nest under the first prompt's span, the run LangChain
    itself passes to ``_generate``.
    """
    if isinstance(run_manager, list):
        # Several prompts: LangChain hands the first run's manager to ``_generate``.
        run_manager = run_manager[0] if run_manager else None
    return _span_to_enter(handler, getattr(run_manager, "run_id", None))
