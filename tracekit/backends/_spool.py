"""A bounded on-disk spool for batches a remote backend could not send.

One JSON file per batch (the span records, already redacted and capped),
named ``<time_ns>-<pid>-<seq>.json`` so they replay oldest first. Several
processes may share a directory: a replaying process claims a file by
renaming it to ``<name>.<pid>.sending`` (atomic), so no two processes send
it at once; claims left by a process that died are put back the next time a
spool opens. Delivery is at least once: a batch whose request timed out may
have arrived and is sent again.
A batch that would push the directory past ``max_bytes`` is refused (the
caller counts it as ``spool_full``): what is already spooled is kept.
The directory is private (0700, files 0600), like the trace store's, and so
is every parent the spool creates; the topmost folder it creates (and a
``.tracekit`` parent) gets the store's ``.gitignore``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracekit.backends.sqlite import _write_gitignore

DEFAULT_DIR = ".tracekit/otlp-spool"
DEFAULT_MAX_MB = 64.0

_SUFFIX = ".json"
_CLAIMED = ".sending"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _make_private(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700; keep them out of git.

    ``mkdir(parents=True)`` would give the parents the umask's mode (0755).
    """
    missing = []
    folder = directory.absolute()
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            folder.mkdir(mode=0o700)
        with contextlib.suppress(OSError):
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    with contextlib.suppress(OSError):
        directory.chmod(0o700)
    # A "*" is safe only in a folder that is ours: the topmost one we made, or .tracekit
    ours = [missing[-1]] if missing else []
    if directory.absolute().parent.name == ".tracekit":
        ours.append(directory.absolute().parent)
    for folder in ours:
        _write_gitignore(str(folder / ".gitignore"))


class Spool:
    """Batches waiting on disk for the receiver to come back."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._ready = False

    def _open(self) -> None:
        """Create the directory on first use (never at init: no file before a failure)."""
        if self._ready:
            return
        _make_private(self.directory)
        for claimed in self.directory.glob(f"*{_SUFFIX}.*{_CLAIMED}"):
            # "<name>.json.<pid>.sending": put back the claims of dead processes
            pid = claimed.name[: -len(_CLAIMED)].rsplit(".", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    claimed.rename(claimed.with_name(claimed.name.split(_SUFFIX)[0] + _SUFFIX))
        self._ready = True

    def size(self) -> int:
        """Bytes in the spool (waiting and claimed batches)."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in self.directory.iterdir():
            if not path.name.endswith((_SUFFIX, _CLAIMED)):
                continue  # the .gitignore, a temporary file being written
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def put(self, records: Sequence[dict[str, Any]]) -> bool:
        """Write one batch; False when it would not fit under ``max_bytes``.

        Raises:
            OSError: the directory or file could not be written.
        """
        self._open()
        data = json.dumps(list(records), ensure_ascii=False, separators=(",", ":")).encode()
        if self.size() + len(data) > self.max_bytes:
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq)}"
        temporary = self.directory / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, self.directory / f"{name}{_SUFFIX}")
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return True

    def waiting(self) -> list[Path]:
        """Unclaimed batches, oldest first."""
        if not self.directory.is_dir():
            return []
        self._open()
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def claim(self, path: Path) -> Path | None:
        """Take a batch for sending; None if another process took it first."""
        claimed = path.with_name(f"{path.name}.{os.getpid()}{_CLAIMED}")
        try:
            path.rename(claimed)
        except OSError:
            return None
        return claimed

    @staticmethod
    def load(claimed: Path) -> list[dict[str, Any]] | None:
        """The records of a claimed batch; None when the file is unreadable."""
        try:
            records = json.loads(claimed.read_bytes())
        except (OSError, ValueError):
            return None
        return records if isinstance(records, list) else None

    @staticmethod
    def done(claimed: Path) -> None:
        """Forget a claimed batch (sent, or refused for good)."""
        with contextlib.suppress(OSError):
            claimed.unlink()

    @staticmethod
    def release(claimed: Path) -> None:
        """Give a claimed batch back, to be tried again later."""
        original = claimed.name.split(_SUFFIX)[0] + _SUFFIX
        with contextlib.suppress(OSError):
            claimed.rename(claimed.with_name(original))
