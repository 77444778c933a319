"""The adapter registry: the ``Integration`` base class, discovery, autopatch and unpatch.

Public through :mod:`tracekit.integrations`, which re-exports every name here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import re
import sys
import threading
from collections.abc import Iterable
from types import ModuleType
from typing import ClassVar

import wrapt

from tracekit import _guard, _state

ENTRY_POINT_GROUP = "tracekit.integrations"


class Integration:
    """Base class of an adapter: subclass it, set the class attributes, write two methods.

    Attributes:
        name: the adapter's name, as given to ``init(integrations=[...])``.
        requires: the distribution and versions supported, e.g. ``"openai>=1.40,<4"``.
        modules: the modules whose import makes patching possible (the first
            one is watched by the post-import hook).
    """

    name: ClassVar[str] = ""
    requires: ClassVar[str] = ""
    modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._patched = False
        self._wanted = False
        self._hooked = False

    def _patch(self) -> None:
        """Install the wrappers (the target modules are importable now)."""
        raise NotImplementedError

    def _unpatch(self) -> None:
        """Remove this adapter's wrappers, and only them (see :func:`unwrap`)."""
        raise NotImplementedError

    @property
    def patched(self) -> bool:
        """Whether the wrappers are installed."""
        return self._patched

    def supported(self) -> bool:
        """Whether the installed distribution satisfies :attr:`requires` (logged once if not)."""
        if not self.requires:
            return True
        dist, spec = _split_requirement(self.requires)
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            _guard.log_once(
                f"integration:{self.name}:missing", "tracekit: %s is not installed", dist
            )
            return False
        if _version_matches(installed, spec):
            return True
        _guard.log_once(
            f"integration:{self.name}:version",
            "tracekit: %s %s is not supported by the %s integration (needs %s); not patched",
            dist,
            installed,
            self.name,
            self.requires,
        )
        return False

    def patch(self) -> bool:
        """Patch now if the target is imported, else as soon as it is (idempotent).

        Returns:
            True if the wrappers are installed now.
        """
        with self._lock:
            self._wanted = True
            if self._patched:
                return True
            target = self.modules[0] if self.modules else None
            if target is not None and target not in sys.modules:
                if not self._hooked:
                    wrapt.register_post_import_hook(self._on_import, target)
                    self._hooked = True
                return False
            return self._patch_now()

    def _on_import(self, module: ModuleType) -> None:
        with self._lock:
            if self._wanted and not self._patched:
                self._patch_now()

    def _patch_now(self) -> bool:
        if not self.supported():
            return False
        try:
            for module in self.modules:
                importlib.import_module(module)
            self._patch()
        except Exception as exc:
            _guard.internal_error(exc, f"integration.{self.name}.patch", reraise=False)
            with contextlib.suppress(Exception):
                self._unpatch()
            return False
        self._patched = True
        return True

    def unpatch(self) -> None:
        """Remove the wrappers (idempotent); a pending post-import patch is cancelled."""
        with self._lock:
            self._wanted = False
            if self._patched:
                self._unpatch()
                self._patched = False


# -- registry -------------------------------------------------------------------------

# The registry itself is process-wide state: _state.adapters (by_name, discovered).


def register(integration: Integration | type[Integration]) -> Integration:
    """Add an adapter to the registry (an instance or a class); returns the instance."""
    instance = integration() if isinstance(integration, type) else integration
    if not instance.name:
        raise ValueError(f"{type(instance).__name__} has no name")
    with _state.adapters_lock:
        kept: Integration = _state.adapters.by_name.setdefault(instance.name, instance)
        return kept


def _discover() -> None:
    """Load adapters registered through the ``tracekit.integrations`` entry points."""
    with _state.adapters_lock:
        adapters = _state.adapters
        if adapters.discovered:
            return
        adapters.discovered = True
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry.name in adapters.by_name:
                continue
            try:
                register(entry.load())
            except Exception as exc:
                _guard.log_once(
                    f"integration:{entry.name}:load",
                    "tracekit: the %s integration could not be loaded (%s)",
                    entry.name,
                    type(exc).__name__,
                )


def registered() -> dict[str, Integration]:
    """Every known adapter by name: registered by hand or through entry points."""
    _discover()
    with _state.adapters_lock:
        return dict(_state.adapters.by_name)


def get(name: str) -> Integration:
    """The adapter called ``name``; KeyError naming the known ones if there is none."""
    found = registered().get(name)
    if found is None:
        known = ", ".join(sorted(registered())) or "none installed"
        raise KeyError(f"no tracekit integration named {name!r} (known: {known})")
    return found


def autopatch(names: Iterable[str] | None = None) -> list[str]:
    """Patch the named adapters (all known ones by default), now or on import.

    Returns:
        The names of the adapters patched now (the others patch on import).

    Raises:
        KeyError: a name no adapter has.
    """
    chosen = registered() if names is None else {n: get(n) for n in names}
    return [name for name, integration in chosen.items() if integration.patch()]


def unpatch(names: Iterable[str] | None = None) -> None:
    """Remove the named adapters' wrappers (all by default)."""
    chosen = registered() if names is None else {n: get(n) for n in names}
    for integration in chosen.values():
        integration.unpatch()


def _reset() -> None:
    """Unpatch every adapter and forget the registrations (part of ``_config._reset``)."""
    with _state.adapters_lock:
        adapters = _state.adapters
        for integration in adapters.by_name.values():
            with contextlib.suppress(Exception):
                integration.unpatch()
        adapters.by_name.clear()
        adapters.discovered = False


def _split_requirement(requirement: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    if not match:
        raise ValueError(f"bad requirement {requirement!r}")
    return match.group(1), match.group(2)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _version_matches(installed: str, spec: str) -> bool:
    """A small subset of PEP 440 specifiers: ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``."""
    have = _version_tuple(installed)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.match(r"(>=|<=|==|!=|>|<)\s*([0-9][0-9.]*)", clause)
        if not match:
            raise ValueError(f"unsupported version specifier {clause!r}")
        op, version = match.groups()
        want = _version_tuple(version)
        width = max(len(have), len(want))
        a = have + (0,) * (width - len(have))
        b = want + (0,) * (width - len(want))
        ok = {
            ">=": a >= b,
            "<=": a <= b,
            "==": a == b,
            "!=": a != b,
            ">": a > b,
            "<": a < b,
        }[op]
        if not ok:
            return False
    return True
