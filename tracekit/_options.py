"""The options of one pipeline: defaults, validation, and what ``stats()`` reports.

A leaf module: the pipeline and ``_config.init`` read :class:`Options`, and
nothing here imports either of them. An option is added in four places:
``init``'s signature, its ``Args:``, the ``Options(...)`` call in ``init``,
and a field here (validated in ``__post_init__``; listed in ``REPORTED``
if ``stats()`` shows it).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from tracekit._serialize import Limits

if TYPE_CHECKING:
    from tracekit._processors import Processor

DEFAULT_BACKEND = "sqlite:///.tracekit/traces.db"
DEFAULT_FLUSH_TIMEOUT = 5.0
DEFAULT_QUEUE_MAX_SPANS = 100_000  # a burst of 100,000 small spans fits (D106)
ON_FULL = ("drop", "wait")

# Published defaults that stats()["config"] reports (docs/configuration.md).
REPORTED = (
    "project",
    "sample_rate",
    "queue_max_spans",
    "queue_max_bytes",
    "batch_size",
    "export_interval",
    "flush_timeout",
    "export_timeout",
    "max_string_chars",
    "max_record_bytes",
    "max_depth",
    "max_items",
    "max_open_spans",
    "max_span_age_s",
    "drop_notice",
    "on_full",
)

_COUNTS = (
    "max_string_chars",
    "max_depth",
    "max_items",
    "max_record_bytes",
    "queue_max_spans",
    "queue_max_bytes",
    "batch_size",
    "max_open_spans",
)


@dataclasses.dataclass(frozen=True)
class Options:
    """The resolved configuration of one pipeline (see ``tracekit.init`` for meanings).

    Raises:
        ValueError: from the constructor, for a value out of range.
    """

    project: str = "default"
    sample_rate: float = 1.0
    capture_inputs: bool = True
    capture_outputs: bool = True
    redact: bool = True
    processors: tuple[Processor, ...] = ()
    propagate_threads: bool = True
    flush_on_root_end: bool = False
    max_string_chars: int = 100_000
    max_depth: int = 20
    max_items: int = 1_000
    max_record_bytes: int = 1 << 20
    queue_max_spans: int = DEFAULT_QUEUE_MAX_SPANS
    queue_max_bytes: int = 64 << 20
    batch_size: int = 512
    export_interval: float | None = None  # None: 1 s, or the backends' own (5 s remote)
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    export_timeout: float = 10.0
    max_open_spans: int = 10_000
    max_span_age_s: float = 3600.0
    drop_notice: bool = True  # the first drop of each reason also on stderr (D102)
    on_full: str = "drop"  # or "wait": the caller waits for room, at most flush_timeout (D107)
    # Derived from the four caps above, once (the exporter reads it per span).
    limits: Limits = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"sample_rate must be between 0 and 1, got {rate!r}")
        for label in _COUNTS:
            value = getattr(self, label)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        for label in ("export_interval", "flush_timeout", "export_timeout", "max_span_age_s"):
            seconds = getattr(self, label)
            if label == "export_interval" and seconds is None:
                continue
            zero_ok = label == "max_span_age_s"
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or math.isnan(seconds)
                or not (0 < seconds < math.inf or (zero_ok and seconds == 0))
            ):
                kind = "zero or a positive" if zero_ok else "a positive"
                raise ValueError(f"{label} must be {kind} number of seconds, got {seconds!r}")
        if self.on_full not in ON_FULL:
            raise ValueError(f"on_full must be 'drop' or 'wait', got {self.on_full!r}")
        if not isinstance(self.drop_notice, bool):
            raise ValueError(f"drop_notice must be True or False, got {self.drop_notice!r}")
        object.__setattr__(self, "sample_rate", float(rate))
        for label in ("flush_timeout", "export_timeout", "max_span_age_s"):
            object.__setattr__(self, label, float(getattr(self, label)))
        if self.export_interval is not None:
            object.__setattr__(self, "export_interval", float(self.export_interval))
        caps = (self.max_string_chars, self.max_depth, self.max_items, self.max_record_bytes)
        object.__setattr__(self, "limits", Limits(*caps))

    def reported(self) -> dict[str, Any]:
        """The published defaults in force, as ``stats()["config"]`` shows them."""
        return {name: getattr(self, name) for name in REPORTED}
