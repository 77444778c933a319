"""How long a process takes to exit when its backend hangs (issue #12, item 4).

Each case runs a small script in a fresh interpreter: ``tracekit.init()`` with a
local backend that blocks forever in ``export()`` or in ``shutdown()`` (on an
Event nobody sets), 1,500 traced calls, then the script's last line. The
parent measures, on the monotonic clock the processes share:

* **exit**: from the script's last line to the moment the process has ended
  (what a person waits for), and the two parts of it:
* **tracekit's hook**: tracekit's exit hook (``shutdown()`` at interpreter exit),
  timed by an exit hook registered before ``init()``, which Python runs after
  tracekit's;
* **teardown**: the rest, the interpreter's own finalisation.

It also times ``tracekit.shutdown(timeout=1)`` called by the script itself.
The published bound (DESIGN.md): the exit never waits longer than
``flush_timeout``, 5 s by default. Each case runs ``--rounds`` times (default
3); the table shows the median and the worst.

Run: ``.venv/bin/python benchmarks/exit_hung_backend.py [--rounds N] [--json PATH]``.
Exit status is 0 whatever the numbers: benchmarks report, they do not gate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

from _common import environment, median, table, write_json

SCRIPT = """
import atexit, json, sys, threading, time
import tracekit

def after():  # registered before init(): runs after tracekit's exit hook
    s = tracekit.stats()
    print("after", time.monotonic(), s["dropped"]["timeout"], s["exported"], flush=True)
atexit.register(after)

class Hung:
    def __init__(self, hang):
        self.hang = hang
    def export(self, records):
        if self.hang == "export":
            threading.Event().wait()
    def flush(self):
        pass
    def shutdown(self):
        if self.hang == "shutdown":
            threading.Event().wait()

@tracekit.tool
def step(i):
    return i

hang, flush_timeout, call = sys.argv[1], sys.argv[2], sys.argv[3]
options = {} if flush_timeout == "default" else {"flush_timeout": float(flush_timeout)}
tracekit.init(Hung(hang), **options)
for i in range(1500):
    step(i)
if call == "shutdown":
    tracekit.flush(timeout=0.2)
    started = time.monotonic()
    ok = tracekit.shutdown(timeout=1)
    print("shutdown", time.monotonic() - started, ok, flush=True)
print("end", time.monotonic(), flush=True)
"""

# shutdown(timeout=t) returns within t "plus a small margin": the time to notice the
# deadline, count what is left and return.
SHUTDOWN_MARGIN_S = 0.05

CASES = [  # (hang, flush_timeout, what runs)
    ("export", "default", "exit"),
    ("shutdown", "default", "exit"),
    ("none", "default", "exit"),
    ("export", "1", "exit"),
    ("shutdown", "1", "exit"),
    ("export", "default", "shutdown"),
    ("shutdown", "default", "shutdown"),
]


def run_case(hang: str, flush_timeout: str, call: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), hang, flush_timeout, call],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"hung": True}
    exited = time.monotonic()
    fields = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    end = float(fields["end"][0])
    after = float(fields["after"][0])
    result: dict[str, Any] = {
        "hung": False,
        "exit_s": exited - end,
        "hook_s": after - end,
        "teardown_s": exited - after,
        "timeout": int(fields["after"][1]),
        "exported": int(fields["after"][2]),
    }
    if "shutdown" in fields:
        result["shutdown_s"] = float(fields["shutdown"][0])
        result["shutdown_ok"] = fields["shutdown"][1] == "True"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = parser.parse_args(argv)

    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):  # interleaved: drift on the machine hits every case alike
        for hang, flush_timeout, call in CASES:
            runs.setdefault(f"{hang}/{flush_timeout}/{call}", []).append(
                run_case(hang, flush_timeout, call)
            )

    env = environment()
    print(
        f"tracekit {env['tracekit']} exit with a hung backend: Python {env['python']}, "
        f"{env['cpus']} CPUs, revision {env['revision']}; {args.rounds} runs per case, "
        "1,500 spans traced"
    )
    print()
    rows = []
    verdicts = []
    for hang, flush_timeout, call in CASES:
        results = runs[f"{hang}/{flush_timeout}/{call}"]
        bound = 5.0 if flush_timeout == "default" else float(flush_timeout)
        label = "exit"
        if call == "shutdown":
            bound = 1.0 + SHUTDOWN_MARGIN_S
            label = "shutdown(timeout=1)"
        what = f"backend hangs in {hang}()" if hang != "none" else "healthy backend"
        if any(r["hung"] for r in results):
            rows.append([what, flush_timeout, label, "never (killed at 120 s)", "", "", "", ""])
            verdicts.append(f"MISS {what}, flush_timeout {flush_timeout}: {label} never ended")
            continue
        took = [r["shutdown_s" if call == "shutdown" else "exit_s"] for r in results]
        rows.append(
            [
                what,
                flush_timeout,
                label,
                f"{median(took):.3f}",
                f"{max(took):.3f}",
                f"{median([r['hook_s'] for r in results]):.3f}",
                f"{median([r['teardown_s'] for r in results]):.3f}",
                f"{results[-1]['timeout']:,}",
            ]
        )
        if hang != "none":
            verdict = "PASS" if max(took) <= bound else "MISS"
            verdicts.append(
                f"{verdict} {what}, flush_timeout {flush_timeout}: {label} at most "
                f"{max(took):.3f} s (bound {bound:.2f} s)"
            )
    print(
        table(
            [
                "case",
                "flush_timeout",
                "timed",
                "median s",
                "worst s",
                "tracekit's hook s",
                "teardown s",
                "dropped.timeout",
            ],
            rows,
            right=(3, 4, 5, 6, 7),
        )
    )
    print()
    print(
        "exit = from the script's last line to the process's end = tracekit's exit hook + "
        "teardown; dropped.timeout read after tracekit's hook"
    )
    print()
    for line in verdicts:
        print(line)
    if args.json:
        write_json(args.json, {"environment": env, "cases": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
