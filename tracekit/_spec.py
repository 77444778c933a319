"""Decoration-time analysis: how a traced callable's arguments bind, and its span options.

Everything here runs once per decorated function, never per call: the
parameter layout for binding inputs, the span's name and kind, metadata and
tags already converted, and whether its parameter names could ever need
redaction.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tracekit import _serialize
from tracekit._redact import is_secret_key
from tracekit._span import SpanKind, kind_name


class Layout:
    """How to bind call arguments to parameter names, computed once."""

    __slots__ = ("defaults", "drop", "names", "names_bound", "simple", "var_pos")

    def __init__(self, fn: Any, ignore: Iterable[str]) -> None:
        names: list[str] = []
        defaults: list[tuple[str, Any]] = []
        self.var_pos: str | None = None
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = ()  # type: ignore[assignment]
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            elif p.kind is p.VAR_POSITIONAL:
                self.var_pos = p.name
            if p.default is not p.empty:
                defaults.append((p.name, p.default))
        drop = set(ignore)
        if names and names[0] in ("self", "cls"):
            drop.add(names[0])
        self.names = tuple(names)
        # Called through an instance or class, wrapt passes self/cls as `instance`
        # and leaves it out of args.
        self.names_bound = tuple(names[1:])
        self.defaults = tuple(defaults)
        self.drop = tuple(drop)
        # Nothing to add or remove after zipping names with args: the common case.
        self.simple = not defaults and not drop

    def bind_full(
        self, names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """Inputs by parameter name for any call (``_capture`` inlines the simple case)."""
        inputs = dict(zip(names, args))  # noqa: B905 (hot path; lengths differ by design)
        if len(args) > len(names):
            inputs[self.var_pos or "args"] = args[len(names) :]
        if kwargs:
            inputs.update(kwargs)  # **kwargs are flattened into the inputs
        for name, default in self.defaults:
            if name not in inputs:
                inputs[name] = default
        for name in self.drop:
            inputs.pop(name, None)
        return inputs


class Spec:
    """Everything a wrapper needs, fixed at decoration time."""

    __slots__ = (
        "attrs",
        "attrs_size",
        "capture_inputs",
        "capture_outputs",
        "keys_clean",
        "kind",
        "layout",
        "name",
    )

    def __init__(
        self,
        fn: Any,
        name: str | None,
        kind: SpanKind | str,
        capture_inputs: bool,
        capture_outputs: bool,
        ignore_inputs: Iterable[str],
        metadata: Mapping[str, Any] | None,
        tags: Iterable[str],
    ) -> None:
        self.name = _serialize.safe_str(name) if name else _default_name(fn)
        self.kind = kind_name(kind)
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self.layout = Layout(
            fn, (ignore_inputs,) if isinstance(ignore_inputs, str) else ignore_inputs
        )
        # No parameter name is one redaction would hide: plain short values can
        # then skip the exporter's payload preparation (see _capture).
        layout = self.layout
        names = (
            *layout.names,
            *(name for name, _ in layout.defaults),
            layout.var_pos or "args",  # where extra positional arguments go (a tuple, copied)
        )
        self.keys_clean = not any(is_secret_key(n) for n in names)
        attrs: dict[str, Any] = {}
        if metadata:
            converted = _serialize.to_jsonable(metadata)
            attrs.update(converted if type(converted) is dict else {"metadata": converted})
        tag_list = (
            [_serialize.safe_str(tags)]
            if isinstance(tags, str)
            else [_serialize.safe_str(t) for t in tags]
        )
        if tag_list:
            attrs["tags"] = tag_list
        self.attrs = attrs or None
        self.attrs_size = len(json.dumps(attrs)) if attrs else 0


def _default_name(fn: Any) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(qualname, str):
        return _serialize.safe_str(type(fn).__name__)
    return _serialize.safe_str(qualname.rpartition("<locals>.")[2])
