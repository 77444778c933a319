"""Small helpers shared by the benchmark scripts (no tracekit logic here)."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

MIB = 1 << 20


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    import wrapt

    import tracekit

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "wrapt": getattr(wrapt, "__version__", "?"),
        "tracekit": tracekit.__version__,
        "revision": revision(),
    }


def revision() -> str:
    """The git commit measured, with "+dirty" when tracekit/ has uncommitted edits."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tracekit"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread_pct(values: Sequence[float]) -> float:
    """(max - min) / median, in percent: how noisy the rounds were."""
    mid = median(values)
    return 100.0 * (max(values) - min(values)) / mid if mid else 0.0


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain-text table; columns whose index is in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for raw in fh:
                if raw.startswith(field + ":"):
                    return int(raw.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> dict[str, int | None]:
    """Current RSS and the peak so far (VmHWM, and ru_maxrss as a fallback)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak_ru = maxrss if sys.platform == "darwin" else maxrss * 1024
    rss = proc_status_kib("VmRSS")
    hwm = proc_status_kib("VmHWM")
    return {
        "rss": rss * 1024 if rss is not None else None,
        "peak": hwm * 1024 if hwm is not None else peak_ru,
    }


def write_json(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=False)
        fh.write("\n")
    print(f"\nresults written to {path}")
