"""Backends: where finished span records go. A public extension point.

A backend is any object with three methods (:class:`Backend`); inheriting is
not required. The exporter thread calls them with batches of span records
(the dicts of DESIGN.md), never from the traced call. Optional abilities are
protocols of their own (:class:`LiveBackend`, :class:`RemoteBackend`,
:class:`ForkAware`, :class:`ReportsLateDrops`, :class:`MarksLosses`), read once
at ``init()``.
Backends are chosen by URL scheme through one table, which is also the list a
bad URL error names. The backends of the extras (``otlp``, ``wandb``) are
submodules imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from tracekit.backends._errors import BatchDropped, StorageFull
from tracekit.backends._protocol import (
    Backend,
    ForkAware,
    LiveBackend,
    MarksLosses,
    RemoteBackend,
    ReportsLateDrops,
)
from tracekit.backends._url import parse_options, path_of
from tracekit.backends.console import ConsoleBackend
from tracekit.backends.jsonl import JsonlBackend
from tracekit.backends.memory import MemoryBackend
from tracekit.backends.sqlite import SqliteBackend

__all__ = [
    "Backend",
    "BatchDropped",
    "ConsoleBackend",
    "ForkAware",
    "JsonlBackend",
    "LiveBackend",
    "MarksLosses",
    "MemoryBackend",
    "RemoteBackend",
    "ReportsLateDrops",
    "SqliteBackend",
    "StorageFull",
    "from_url",
    "parse_options",
    "resolve",
]

# The extras' backends: their dependencies load only when they are used (PEP 562).
_EXTRAS = frozenset({"otlp", "wandb"})


def __getattr__(name: str) -> Any:
    if name in _EXTRAS:
        return importlib.import_module(f"tracekit.backends.{name}")
    raise AttributeError(f"module 'tracekit.backends' has no attribute {name!r}")


def _memory(url: str, rest: str) -> Backend:
    return MemoryBackend()


def _console(url: str, rest: str) -> Backend:
    target = rest.strip("/").lower()
    if target not in ("", "stdout", "stderr"):
        raise ValueError(
            f"backend URL {url!r}: console writes to stdout or stderr (console://stderr)"
        )
    return ConsoleBackend(stream=target or "stdout")


def _jsonl(url: str, rest: str) -> Backend:
    return JsonlBackend(path_of(url, rest))


def _sqlite(url: str, rest: str) -> Backend:
    path, _, query = rest.partition("?")
    options = parse_options(url, query, ("synchronous", "max_size_mb"))
    try:
        max_size = float(options["max_size_mb"]) if "max_size_mb" in options else None
    except ValueError:
        raise ValueError(f"backend URL {url!r}: max_size_mb must be a number") from None
    return SqliteBackend(
        path_of(url, path),
        synchronous=options.get("synchronous", "NORMAL"),
        max_size_mb=max_size,
    )


def _otlp(scheme: str) -> Callable[[str, str], Backend]:
    def factory(url: str, rest: str) -> Backend:
        from tracekit.backends import otlp  # the otlp extra: imported only when asked for

        return otlp.from_url(url, scheme, rest)

    return factory


def _wandb(url: str, rest: str) -> Backend:
    from tracekit.backends.wandb import from_url as wandb_from_url  # the wandb extra, lazily

    return wandb_from_url(url, rest)


# scheme -> factory(url, text after "scheme://")
SCHEMES: dict[str, Callable[[str, str], Backend]] = {
    "console": _console,
    "jsonl": _jsonl,
    "memory": _memory,
    "otlp+http": _otlp("otlp+http"),
    "otlp+https": _otlp("otlp+https"),
    "sqlite": _sqlite,
    "wandb": _wandb,
}


def from_url(url: str) -> Backend:
    """Build the backend a URL names.

    Raises:
        ValueError: for an unknown scheme (naming the schemes that exist) or a bad path.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"backend URL must be a non-empty string, got {url!r}")
    text = url.strip()
    scheme, sep, rest = text.partition(":")
    if sep and rest and not rest.startswith("//"):
        raise ValueError(
            f"backend URL {url!r} is malformed: expected scheme://... or a bare scheme"
        )
    factory = SCHEMES.get(scheme.lower())
    if factory is None:
        known = ", ".join(sorted(SCHEMES))
        raise ValueError(f"unknown tracekit backend {url!r}; the schemes that exist are: {known}")
    # rest is "//" + authority-and-path; the factories see what follows "scheme://"
    return factory(url, rest[2:] if rest else "")


def resolve(spec: str | Backend | Sequence[str | Backend]) -> list[Backend]:
    """Turn ``init(backend=...)`` into backend objects (URL, object or a list of them)."""
    items = [spec] if isinstance(spec, str) or not isinstance(spec, Sequence) else list(spec)
    if not items:
        raise ValueError("init(backend=[]) needs at least one backend")
    backends: list[Backend] = []
    for item in items:
        if isinstance(item, str):
            backends.append(from_url(item))
        elif all(callable(getattr(item, verb, None)) for verb in ("export", "flush", "shutdown")):
            backends.append(item)
        else:
            raise ValueError(
                f"{item!r} is not a backend: expected a URL or an object with "
                "export(records), flush() and shutdown()"
            )
    return backends
