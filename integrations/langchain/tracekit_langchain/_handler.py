"""The tracekit callback handler: one LangChain run, one tracekit span.

:class:`TracekitTracer` is a langchain-core ``BaseTracer``: langchain-core
builds each run's record (name, type, inputs, outputs, ``extra``, tags) and
calls ``_start_trace``/``_end_trace``, where the span is opened and ended. The
spans are kept in a ``run_id -> Span`` map under a lock, not in tracekit's
ContextVar: a start callback without its end would leave the context attached
forever (STYLE trap 8), and LangChain calls the callbacks of one run from
different contexts (threads in ``batch``, tasks in ``abatch``).

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
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from tracekit import Span, _config
from tracekit._context import CURRENT
from tracekit._span import NON_RECORDING, open_spans, sampled_out, start_span
from tracekit.integrations import finish_span, internal_error
from tracekit_langchain import _extract


def _inside(span: Span, ancestor: Span) -> bool:
    """Whether ``span`` descends from ``ancestor`` (walked through the open spans)."""
    if span._trace_id != ancestor._trace_id:
        return False
    target = ancestor._span_id
    parent_id = span._parent_id
    while parent_id:
        if parent_id == target:
            return True
        parent = open_spans.get(parent_id)
        if parent is None:
            return False
        parent_id = parent._parent_id
    return False


class TracekitTracer(BaseTracer):
    """Turns every LangChain run into a tracekit span (added to every callback manager)."""

    name = "tracekit"
    run_inline = True  # called in the run's own context, also from async callback managers

    def __init__(self) -> None:
        super().__init__(_schema_format="original+chat")
        self.live = True
        # Set by the adapter: the ContextVar naming the stream run to make current (_streaming).
        self.pending: ContextVar[UUID | None] | None = None
        self._lock = threading.Lock()
        self._spans: dict[UUID, Span] = {}
        self._errors: dict[UUID, BaseException] = {}
        self._results: dict[UUID, Any] = {}
        self._messages: dict[UUID, Any] = {}
        self._inputs: dict[UUID, Any] = {}  # the inputs each span was opened with

    # -- lookups ---------------------------------------------------------------------

    def span_for(self, run_id: UUID) -> Span | None:
        """The span of a run still open, or None."""
        with self._lock:
            return self._spans.get(run_id)

    def _parent(self, run: Run) -> Span | None:
        current = CURRENT.get()
        parent = self.span_for(run.parent_run_id) if run.parent_run_id else None
        if parent is None:
            return current
        if (
            current is not None
            and current is not parent
            and current is not NON_RECORDING
            and parent is not NON_RECORDING
            and _inside(current, parent)
        ):
            return current
        return parent

    # -- callbacks that carry what the run record lacks -----------------------------------

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> Run:
        """Keep the messages as objects (the run holds their serialized form)."""
        with self._lock:
            self._messages[run_id] = messages
        return super().on_chat_model_start(serialized, messages, run_id=run_id, **kwargs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> Run:
        """Keep the ``LLMResult`` for the output and usage."""
        with self._lock:
            self._results[run_id] = response
        return super().on_llm_end(response, run_id=run_id, **kwargs)

    def _note_error(self, run_id: UUID, error: BaseException) -> None:
        with self._lock:
            self._errors[run_id] = error

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """Keep the exception itself (the run holds only its text)."""
        self._note_error(run_id, error)
        return super().on_llm_error(error, run_id=run_id, **kwargs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """Keep the exception itself (the run holds only its text)."""
        self._note_error(run_id, error)
        return super().on_chain_error(error, run_id=run_id, **kwargs)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """Keep the exception itself (the run holds only its text)."""
        self._note_error(run_id, error)
        return super().on_tool_error(error, run_id=run_id, **kwargs)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """Keep the exception itself (the run holds only its text)."""
        self._note_error(run_id, error)
        return super().on_retriever_error(error, run_id=run_id, **kwargs)

    # -- the span's life -------------------------------------------------------------

    def _persist_run(self, run: Run) -> None:
        """Nothing to persist: each run was exported as its span ended."""

    def _start_trace(self, run: Run) -> None:
        super()._start_trace(run)
        if not self.live or not _config.is_enabled():
            return
        try:
            self._open(run)
        except Exception as exc:
            internal_error(exc, "langchain.start")

    def _end_trace(self, run: Run) -> None:
        try:
            self._close(run)
        except Exception as exc:
            internal_error(exc, "langchain.end")
        super()._end_trace(run)

    def _open(self, run: Run) -> None:
        parent = self._parent(run)
        if parent is NON_RECORDING or (parent is None and sampled_out()):
            with self._lock:
                self._spans[run.id] = NON_RECORDING
            return
        kind = _extract.kind_for(run.run_type, run.name)
        span = start_span(run.name, kind, parent, None)
        if self.pending is not None and self.pending.get() == run.id:
            # Inside one step of a traced stream, which pops this when the step returns.
            CURRENT.set(span)
        with self._lock:
            self._spans[run.id] = span
            self._inputs[run.id] = run.inputs
            messages = self._messages.pop(run.id, None)
        if messages is not None:
            span.set_inputs({"messages": messages})
        elif run.inputs:
            span.set_inputs(run.inputs)
        if kind == "LLM":
            model, params = _extract.model_and_params(run.extra, run.extra.get("metadata"))
            if model is not None:
                span.set_model(model, **params)
            elif params:
                span.set_attribute("model_parameters", params)
        if run.tags:
            span.set_attribute("langchain.tags", list(run.tags))
        parameters = _extract.parameters(run.serialized)
        if parameters is not None:
            span.set_attribute("langchain.parameters", parameters)

    def _close(self, run: Run) -> None:
        with self._lock:
            span = self._spans.pop(run.id, None)
            error = self._errors.pop(run.id, None)
            result = self._results.pop(run.id, None)
            self._messages.pop(run.id, None)
            opened_with = self._inputs.pop(run.id, None)
        if span is None or span is NON_RECORDING:
            return
        try:
            # Streamed runs learn their inputs only at the end (LangChain replaces them).
            if run.inputs is not opened_with and isinstance(run.inputs, Mapping):
                span.set_inputs(run.inputs)
            if result is not None:
                span.set_output(_extract.llm_output(result))
                usage = _extract.usage(result)
                if usage is not None:
                    span.set_usage(**usage)
            elif run.outputs is not None:
                span.set_outputs(run.outputs)
            tokens = sum(1 for event in run.events or () if event.get("name") == "new_token")
            if tokens:
                span.set_attribute("langchain.streamed_tokens", tokens)
        finally:
            if error is None and run.error:
                error = RuntimeError(run.error)
            finish_span(span, error)


def _span_to_enter(tracer: TracekitTracer, run_id: Any) -> Span | None:
    """The span of run ``run_id`` if it should become current here, else None.

    None too when the current span is that span or lies inside it already
    (the nearest span wins).
    """
    if not tracer.live or run_id is None:
        return None
    span = tracer.span_for(run_id)
    if span is None:
        return None
    current = CURRENT.get()
    if current is span or (
        current is not None
        and current is not NON_RECORDING
        and span is not NON_RECORDING
        and _inside(current, span)
    ):
        return None
    return span


def enter_run(tracer: TracekitTracer, config: Any) -> None:
    """Make the span of the run that owns ``config``'s callbacks current, in this context.

    Called right after LangChain's ``_set_config_context`` sets the child config
    in the copied context that a runnable's body then runs in (LangChain attaches
    LangSmith's parent run at exactly that point): tracekit spans opened by
    that body nest under the run's span. The copied context is discarded when
    the body is done, so nothing has to be reset.
    """
    if not isinstance(config, Mapping):
        return
    span = _span_to_enter(tracer, getattr(config.get("callbacks"), "parent_run_id", None))
    if span is not None:
        CURRENT.set(span)


def model_run_span(tracer: TracekitTracer, run_manager: Any) -> Span | None:
    """The span to make current around a model's own request, from its run manager.

    A model's ``_generate`` runs without a child context of its own, so the
    request it makes (an OpenAI call) would otherwise nest beside the model's
    span instead of under it. ``run_manager`` is a ``CallbackManagerForLLMRun``,
    or for LLMs the list of them (one per prompt; only a single one is used).
    """
    if isinstance(run_manager, list):
        run_manager = run_manager[0] if len(run_manager) == 1 else None
    return _span_to_enter(tracer, getattr(run_manager, "run_id", None))
