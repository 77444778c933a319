"""The ``tracekit`` command line (``demo`` and ``--version`` for now)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tracekit`` command; returns the exit status."""
    import tracekit

    parser = argparse.ArgumentParser(prog="tracekit", description="Tracing for LLM applications.")
    parser.add_argument("--version", action="version", version=f"tracekit {tracekit.__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="trace a small built-in agent and print its trace")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from tracekit._demo import main as demo

        return demo()
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
