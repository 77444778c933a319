"""The wandb backend: each finished trace logged to a W&B run as a trace tree.

Extra ``tracekit-llm[wandb]``. Spans are grouped by trace until the root
arrives (:class:`~tracekit.backends._wandb_tree.TraceAssembler`), then the
trace becomes one ``WBTraceTree``: a tree of ``Span``s with kinds, one named
result (inputs, outputs), timings, status and attributes each, and a
model-architecture dictionary built from the models, parameters and LangChain
configuration the spans recorded. That is what the W&B Trace panel shows.

The run: ``wandb.run`` if the application has one active (tracekit never
finishes it), otherwise one started on the first trace with
``wandb.init(project=...)`` and finished at shutdown. Every trace goes to
that one run. ``WANDB_MODE=offline`` works with no network.

wandb is imported on the backend's own thread when the first trace is logged,
never by ``import tracekit``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from tracekit import _guard
from tracekit.backends._errors import BatchDropped
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
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ImportError(
                "the wandb backend needs the wandb extra: pip install 'tracekit-llm[wandb]'"
            )
        self.project = project
        self.entity = entity
        self.key = key
        self.assembler = TraceAssembler(max_spans=max_pending_spans)
        self.logged_traces = 0
        self._run: Any = None
        self._owns_run = False

    def _active_run(self, project: str | None) -> Any:
        import wandb

        if wandb.run is not None:
            if self._run is not wandb.run:  # the application's own run: never finished by us
                self._run, self._owns_run = wandb.run, False
            return self._run
        if self._run is not None and self._owns_run:
            return self._run
        self._run = wandb.init(
            project=self.project or os.environ.get("WANDB_PROJECT") or project,
            entity=self.entity,
            job_type="tracekit",
        )
        self._owns_run = True
        return self._run

    def _log(self, records: list[dict[str, Any]]) -> None:
        from wandb.sdk.data_types.trace_tree import WBTraceTree

        run = self._active_run(records[0].get("project"))
        run.log({self.key: WBTraceTree(_wandb_span(trace_tree(records)), model_dict(records))})
        self.logged_traces += 1

    def _log_all(self, traces: list[list[dict[str, Any]]]) -> None:
        failed = 0
        error: Exception | None = None
        for records in traces:
            try:
                self._log(records)
            except Exception as exc:
                failed += len(records)
                error = exc
        if error is not None:
            raise BatchDropped("backend_error", failed, f"wandb: {error!r}") from error

    def export(self, records: Sequence[dict[str, Any]]) -> None:
        """Collect spans; log each trace whose root arrived as a W&B trace tree.

        Raises:
            BatchDropped: a trace could not be logged (W&B refused or failed).
        """
        self._log_all(self.assembler.add(records))

    def flush(self) -> None:
        """Nothing to do: wandb sends logged data on its own schedule."""

    def shutdown(self) -> None:
        """Log traces still waiting (incomplete ones too); finish the run tracekit started."""
        try:
            self._log_all(self.assembler.drain())
        finally:
            if self._owns_run and self._run is not None:
                try:
                    self._run.finish()
                except Exception as exc:
                    _guard.internal_error(exc, "wandb.finish", reraise=False)
                self._run = None


def _wandb_span(tree: dict[str, Any]) -> Any:
    """Nested dicts from :func:`trace_tree` -> wandb's ``Span`` dataclasses."""
    from wandb.sdk.data_types.trace_tree import Result, Span, SpanKind, StatusCode

    return Span(
        span_id=tree["span_id"],
        name=tree["name"],
        start_time_ms=tree["start_time_ms"],
        end_time_ms=tree["end_time_ms"],
        status_code=StatusCode(tree["status_code"]),
        status_message=tree["status_message"],
        attributes=tree["attributes"],
        results=[Result(inputs=tree["inputs"], outputs=tree["outputs"])],
        child_spans=[_wandb_span(child) for child in tree["child_spans"]],
        span_kind=SpanKind(tree["span_kind"]),
    )


def from_url(url: str, rest: str) -> WandbBackend:
    """``wandb://project-name`` (or ``wandb://entity/project``, ``?key=...``) -> a backend.

    Raises:
        ValueError: an unknown option or a malformed project.
    """
    location, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(
            f"backend URL {url!r}: unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_OPTIONS))})"
        )
    parts = [p for p in location.split("/") if p]
    if len(parts) > 2:
        raise ValueError(f"backend URL {url!r}: expected wandb://project or wandb://entity/project")
    entity = parts[0] if len(parts) == 2 else options.get("entity")
    project = parts[-1] if parts else None
    return WandbBackend(project, entity=entity or None, key=options.get("key") or "trace")
