"""Every test starts from a freshly imported tracekit, with internal errors raising."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tracekit import _config, _guard


@pytest.fixture(autouse=True)
def _fresh_tracekit() -> Iterator[None]:
    _config._reset()
    _guard.set_strict(True)
    yield
    _config._reset()
    _guard.set_strict(False)


def _immutable(path: str, on: bool) -> bool:
    """Mark ``path`` immutable (``chattr +i``), or not; False where that is not possible."""
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    result = subprocess.run([chattr, "+i" if on else "-i", path], capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture
def read_only() -> Iterator[Callable[[str], None]]:
    """Make files and folders read-only for this user until the test ends, root included.

    File modes do not stop root, so as root the path is also marked
    immutable (Linux, ext4 and most local file systems); where it cannot
    be, the test is skipped.
    """
    made: list[tuple[str, int]] = []

    def make(path: str) -> None:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        os.chmod(path, mode & ~0o222)
        made.append((path, mode))
        if os.geteuid() == 0 and not _immutable(path, True):
            pytest.skip("running as root, and chattr +i is not available here")

    yield make
    for path, mode in reversed(made):
        if os.geteuid() == 0:
            _immutable(path, False)
        os.chmod(path, mode)
