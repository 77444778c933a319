"""The wandb backend: each finished trace logged to a W&B run as a trace tree.

Extra ``tracekit-llm[wandb]``. Spans are grouped by trace until the root
arrives (:class:`~tracekit.backends._wandb_tree.TraceAssembler`), then the
trace becomes one ``WBTraceTree``: a tree of ``Span``s with kinds, one named
result (inputs, outputs), timings, status and attributes each, and a
model-architecture dictionary built from the models, parameters and LangChain
configuration the spans recorded. That is what the W&B Trace panel shows.

The run: ``wandb.run`` if the application has one active when a trace is
logged (tracekit never finishes it), otherwise one started on the first trace
with ``wandb.init(project=...)`` and finished at shutdown.
``WANDB_MODE=offline`` works with no network.

Exit order: wandb tears its service down in an ``atexit`` hook registered
when the service starts, and a run cannot be logged to afterwards. The
backend therefore starts the service itself when it is built
(``wandb.setup()``, at ``tracekit.init()``) and then registers a hook of its
own, which ``atexit`` runs first: it shuts tracekit down, so the traces still
queued or waiting for their root are logged while the run can take them.

Spans waiting in the assembler count as exported; a trace that cannot be
logged later is counted in ``dropped_later`` (``stats()["dropped"]``).

wandb is imported when the backend is built, never by ``import tracekit``.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from typing import Any

from tracekit import _guard, _state
from tracekit._record import map_tree
from tracekit.backends._url import parse_options
from tracekit.backends._wandb_tree import TraceAssembler, model_dict, trace_tree

_OPTIONS = frozenset({"entity", "key"})


class WandbBackend:
    """Logs each finished trace to a W&B run as a trace tree.

    Args:
        project: the W&B project of a run tracekit starts (default:
            ``WANDB_PROJECT``, else the tracekit project of the first trace).
        entity: the W&B entity (team or user) of a run tracekit starts.
        key: the history key traces are logged under (one panel per key).
        max_pending_spans: spans held while their trace's root has not
            arrived; past it the oldest such trace is logged incomplete.

    Raises:
        ImportError: the ``wandb`` extra is not installed.
    """

    remote = True
    export_interval = 5.0

    def __init__(
        self,
        project: str | None = None,
        *,
        entity: str | None = None,
        key: str = "trace",
        max_pending_spans: int = 10_000,
    ) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise ImportError(
                "the wandb backend needs the wandb extra: pip install 'tracekit-llm[wandb]'"
            ) from exc
        self.project = project
        self.entity = entity
        self.key = key
        self.assembler = TraceAssembler(max_spans=max_pending_spans)
        self.logged_traces = 0
        self.dropped_later: dict[str, int] = {}  # spans accepted, then not logged (stats())
        self._run: Any = None  # the run traces go to
        self._own_run: Any = None  # the run tracekit started (finished at shutdown)
        self._closed = False
        self._exiting = False
        try:
            wandb.setup()  # starts wandb's service now, so its exit hook is registered first
        except Exception as exc:  # the first trace fails instead, and is counted
            _guard.internal_error(exc, "wandb.setup", reraise=False)
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """Runs before wandb's own exit hook: log what tracekit still holds, finish our run."""
        if self._closed:
            return
        self._exiting = True
        _state.shutdown()  # tracekit.shutdown(): flush the pipeline while W&B still runs
        if not self._closed:  # not part of tracekit's pipeline: log what it holds anyway
            self.shutdown()

    def _active_run(self, project: str | None) -> Any:
        import wandb

        if wandb.run is not None:
            self._run = wandb.run  # the application's own run, or ours: never another
            return self._run
        if self._own_run is None:
            self._own_run = wandb.init(
                project=self.project or os.environ.get("WANDB_PROJECT") or project,
                entity=self.entity,
                job_type="tracekit",
            )
        self._run = self._own_run
        return self._run

    def _log(self, records: list[dict[str, Any]]) -> None:
        from wandb.sdk.data_types.trace_tree import WBTraceTree

        tree = WBTraceTree(_wandb_span(trace_tree(records)), model_dict(records))
        self._active_run(records[0].get("project")).log({self.key: tree})
        self.logged_traces += 1

    def _log_all(self, traces: list[list[dict[str, Any]]]) -> None:
        """Log each trace; one that fails is counted in ``dropped_later``, never raised.

        Spans waited in the assembler, so they were counted as exported with an
        earlier batch: a failure now is a loss after acceptance, whatever the batch.
        """
        for records in traces:
            try:
                self._log(records)
            except Exception as exc:
                self.dropped_later["backend_error"] = self.dropped_later.get(
                    "backend_error", 0
                ) + len(records)
                _guard.log_once(
                    "wandb:log",
                    "tracekit wandb backend could not log a trace (%r); its spans are "
                    "dropped and counted (tracekit.stats())",
                    exc,
                )

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Collect spans; log each trace whose root arrived as a W&B trace tree.

        A trace W&B refuses is counted under ``dropped_later["backend_error"]``.
        """
        self._log_all(self.assembler.add(records))

    def flush(self) -> None:
        """Nothing to do: wandb sends logged data on its own schedule."""

    def after_fork(self) -> None:
        """A forked child logs its own spans only, to a run of its own."""
        self.assembler = TraceAssembler(self.assembler.max_spans, self.assembler.max_wait_s)
        self.dropped_later = {}
        self._run = self._own_run = None

    def shutdown(self) -> None:
        """Log traces still waiting (incomplete ones too); finish the run tracekit started."""
        if self._closed:
            return
        self._closed = True
        if not self._exiting:  # unregistering while atexit runs the hooks is not safe
            atexit.unregister(self._at_exit)
        try:
            self._log_all(self.assembler.drain())
        finally:
            if self._own_run is not None:
                try:
                    self._own_run.finish()
                except Exception as exc:
                    _guard.internal_error(exc, "wandb.finish", reraise=False)
                self._own_run = None
            self._run = None


def _wandb_span(tree: dict[str, Any]) -> Any:
    """Nested dicts from :func:`trace_tree` -> wandb's ``Span`` dataclasses.

    Built with a stack, not by recursion (a trace can nest deeper than the
    recursion limit); each span's children are filled in order.
    """
    from wandb.sdk.data_types.trace_tree import Result, Span, SpanKind, StatusCode

    def one(node: dict[str, Any]) -> Any:
        return Span(
            span_id=node["span_id"],
            name=node["name"],
            start_time_ms=node["start_time_ms"],
            end_time_ms=node["end_time_ms"],
            status_code=StatusCode(node["status_code"]),
            status_message=node["status_message"],
            attributes=node["attributes"],
            results=[Result(inputs=node["inputs"], outputs=node["outputs"])],
            child_spans=[],
            span_kind=SpanKind(node["span_kind"]),
        )

    return map_tree(tree, one, lambda node: node["child_spans"], lambda span: span.child_spans)


def from_url(url: str, rest: str) -> WandbBackend:
    """``wandb://project-name`` (or ``wandb://entity/project``, ``?key=...``) -> a backend.

    Raises:
        ValueError: an unknown option or a malformed project.
    """
    location, _, query = rest.partition("?")
    options = parse_options(url, query, _OPTIONS)
    parts = [p for p in location.split("/") if p]
    if len(parts) > 2:
        raise ValueError(f"backend URL {url!r}: expected wandb://project or wandb://entity/project")
    entity = parts[0] if len(parts) == 2 else options.get("entity")
    project = parts[-1] if parts else None
    return WandbBackend(project, entity=entity or None, key=options.get("key") or "trace")
