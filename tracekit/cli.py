"""The ``tracekit`` command line: ``ls``, ``show``, ``export``, ``demo`` and ``ui``.

Every command reads the store at ``--db`` (``.tracekit/traces.db`` by
default) through ``tracekit.store``. Errors are one line on stderr and a
non-zero exit status, never a traceback; traced text reaches the terminal
only through ``_render.clean``, so it cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from typing import IO, Any, NamedTuple, NoReturn

from tracekit import _render
from tracekit._time import parse_time
from tracekit.store import DEFAULT_PATH, Store, StoreError, TraceSummary

KINDS = ("AGENT", "TOOL", "LLM", "CHAIN", "RETRIEVER", "EMBEDDING")
_ROOT_WIDTH = 32
_INPUT_WIDTH = 40


class TimeArg(NamedTuple):
    """A ``--since`` / ``--until`` value: what the user typed and the instant it names."""

    text: str
    ns: int


def _time_arg(text: str) -> TimeArg:
    try:
        return TimeArg(text, parse_time(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"bad limit {text!r}: use a number from 1 to 1000")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: message`` and a pointer to ``--help``; exit 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``tracekit`` argument parser, with its subcommands."""
    import tracekit

    parser = _Parser(prog="tracekit", description="Tracing for LLM applications.")
    parser.add_argument("--version", action="version", version=f"tracekit {tracekit.__version__}")
    parser.add_argument(
        "--db", default=DEFAULT_PATH, metavar="PATH", help=f"trace store (default {DEFAULT_PATH})"
    )
    # --db is accepted after the subcommand too; SUPPRESS keeps the value given before it.
    common = _Parser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="PATH", help="trace store")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ls = sub.add_parser("ls", parents=[common], help="list traces, newest first")
    ls.add_argument("--project", help="only this project")
    ls.add_argument(
        "--status",
        type=str.lower,
        choices=("ok", "error", "running"),
        help="error: a span failed; running: spans still open",
    )
    ls.add_argument("--kind", type=str.upper, choices=KINDS, help="only traces with such a span")
    _add_time_range(ls)
    ls.add_argument("--search", metavar="TEXT", help="text in a span's name, inputs or outputs")
    ls.add_argument("--limit", type=_limit_arg, default=20, help="rows per page (default 20)")
    ls.add_argument("--cursor", help="the page after this cursor (printed under a full page)")
    ls.add_argument(
        "--sort",
        choices=("start", "duration", "tokens", "spans"),
        default="start",
        help="largest first (default start: newest first)",
    )

    show = sub.add_parser("show", parents=[common], help="print one trace as a tree")
    show.add_argument("trace_id", metavar="TRACE_ID", help="a trace id or a unique prefix")
    show.add_argument("--json", action="store_true", help="print the span records as JSON")

    export = sub.add_parser("export", parents=[common], help="print span records, one a line")
    export.add_argument(
        "trace_id", nargs="?", metavar="TRACE_ID", help="only this trace (id or unique prefix)"
    )
    export.add_argument("--format", choices=("jsonl",), default="jsonl")
    export.add_argument("--trace", metavar="TRACE_ID", help="the same as TRACE_ID")
    _add_time_range(export)
    export.add_argument("--output", "-o", metavar="FILE", help="write here (default stdout)")

    sub.add_parser(
        "demo", parents=[common], help="trace a small built-in agent into the store and show it"
    )
    ui = sub.add_parser("ui", parents=[common], help="browse the store in a local web UI")
    ui.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)"
    )
    ui.add_argument(
        "--port", type=_port_arg, default=7842, help="port (default 7842; 0 picks a free one)"
    )
    ui.add_argument("--open", action="store_true", help="open the UI in a web browser")
    return parser


def _port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"bad port {text!r}: use a number from 0 to 65535")
    return value


def _add_time_range(parser: argparse.ArgumentParser) -> None:
    when = "ISO date/datetime or 15m/2h/3d ago"
    parser.add_argument(
        "--since", type=_time_arg, metavar="WHEN", help=f"started at/after ({when})"
    )
    parser.add_argument("--until", type=_time_arg, metavar="WHEN", help=f"started before ({when})")


# -- ls ------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace, out: IO[str]) -> int:
    """Print a page of the trace table, and the command for the next page."""
    with Store(args.db) as store:
        page = store.list_traces(
            project=args.project,
            status=args.status,
            kind=args.kind,
            since_ns=args.since.ns if args.since else None,
            until_ns=args.until.ns if args.until else None,
            search=args.search,
            sort=args.sort,
            limit=args.limit,
            cursor=args.cursor,
        )
    if not page.traces:
        print("no traces", file=out)
        return 0
    header = ("TRACE", "STARTED", "DURATION", "STATUS", "SPANS", "TOKENS", "ROOT", "INPUT")
    rows = [[_render.clean(cell) for cell in _row(t)] for t in page.traces]
    for line in format_table(header, rows, right=(4, 5)):
        print(line, file=out)
    if any(t.incomplete for t in page.traces):
        print(INCOMPLETE_NOTE, file=out)
    if page.next_cursor:
        print(_render.clean(f"more: {_next_page_command(args, page.next_cursor)}"), file=out)
    return 0


INCOMPLETE_NOTE = (
    "(N lost): incomplete trace, N of its spans were lost before they reached the store "
    "(see tracekit.stats())"
)


def status_cell(trace: TraceSummary) -> str:
    """The STATUS column: the status, and ``(N lost)`` for an incomplete trace (D110)."""
    return f"{trace.status} ({trace.lost_count} lost)" if trace.incomplete else trace.status


def _row(trace: TraceSummary) -> tuple[str, ...]:
    if trace.end_ns is not None:
        took = _render.duration(trace.start_ns, trace.end_ns)
    else:
        took = "unfinished" if trace.status == "UNFINISHED" else "running"
    root = f"{trace.root_kind or '?'} {trace.root_name or '?'}"
    return (
        trace.trace_id[:12],
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(trace.start_ns // 1_000_000_000)),
        took,
        status_cell(trace),
        str(trace.span_count),
        str(trace.total_tokens) if trace.total_tokens else "-",
        _render.preview(root, _ROOT_WIDTH),
        _render.preview(trace.input_preview or "", _INPUT_WIDTH),
    )


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (East Asian) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()
) -> list[str]:
    """Align ``rows`` under ``header`` in columns two spaces apart (``right``: right-aligned)."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - display_width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return lines


def _next_page_command(args: argparse.Namespace, cursor: str) -> str:
    words = ["tracekit", "ls"]
    if args.db != DEFAULT_PATH:
        words += ["--db", args.db]
    for option in ("project", "status", "kind", "search"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", value]
    for option in ("since", "until"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", value.text]
    if args.sort != "start":
        words += ["--sort", args.sort]
    if args.limit != 20:
        words += ["--limit", str(args.limit)]
    words += ["--cursor", cursor]
    return shlex.join(words)


# -- show, export ------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, out: IO[str]) -> int:
    """Print one trace as a tree, or as JSON with ``--json``.

    The JSON is ``{"trace_id", "incomplete", "lost_spans", "spans"}``, the
    span records in start order (D110).
    """
    with Store(args.db) as store:
        summary = store.trace_summary(args.trace_id)
        records = store.get_trace(summary.trace_id)
    if args.json:
        shown = {
            "trace_id": summary.trace_id,
            "incomplete": summary.incomplete,
            "lost_spans": summary.lost_count,
            "spans": records,
        }
        print(json.dumps(shown, indent=2), file=out)
    else:
        print(_render.render_trace(records, lost=summary.lost_count), file=out)
    return 0


def cmd_export(args: argparse.Namespace, out: IO[str]) -> int:
    """Write span records as JSON lines, to ``--output`` or stdout."""
    with Store(args.db) as store:
        # Resolve the id before the output is opened: iter_records is a generator, and a
        # bad id found only when it first runs would leave FILE truncated to nothing.
        trace_id = None if args.trace is None else store.resolve_trace_id(args.trace)
        records = store.iter_records(
            trace_id=trace_id,
            since_ns=args.since.ns if args.since else None,
            until_ns=args.until.ns if args.until else None,
        )
        if args.output is None:
            _write_jsonl(records, out)
            return 0
        # Traces hold prompts and model output: the file is private, like the store.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8", newline="\n") as target:
            count = _write_jsonl(records, target)
    print(f"exported {count} span records to {_render.clean(args.output)}", file=out)
    return 0


def _write_jsonl(records: Iterable[dict[str, Any]], target: IO[str]) -> int:
    count = 0
    for record in records:
        target.write(json.dumps(record) + "\n")
        count += 1
    return count


# -- demo --------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, out: IO[str]) -> int:
    """Trace the demo agent into the store, print its tree and how to browse it."""
    import tracekit
    from tracekit import _demo

    trace_id = _demo.run(args.db)
    dropped = {reason: n for reason, n in tracekit.stats()["dropped"].items() if n}
    if trace_id is None or dropped:
        detail = ", ".join(f"{n} {reason}" for reason, n in dropped.items()) or "no trace"
        raise StoreError(f"the demo trace could not be stored in {args.db} (dropped: {detail})")
    with Store(args.db) as store:
        records = store.get_trace(trace_id)
    db = [] if args.db == DEFAULT_PATH else ["--db", args.db]
    ls = shlex.join(["tracekit", *db, "ls"])
    show = shlex.join(["tracekit", *db, "show", trace_id[:12]])
    ui = shlex.join(["tracekit", "ui", *db])
    print(_render.render_trace(records), file=out)
    print(file=out)
    print(_render.clean(f"stored in {args.db} — browse with: {ls}   or   {show}"), file=out)
    print(_render.clean(f"or in the web UI: {ui}"), file=out)
    return 0


# -- ui ----------------------------------------------------------------------------------


def cmd_ui(args: argparse.Namespace, out: IO[str]) -> int:
    """Serve the web UI over the store until interrupted."""
    try:
        from tracekit import ui
    except ImportError as exc:
        raise StoreError(
            f"tracekit ui needs the ui extra ({exc.name or exc} is missing): "
            "pip install 'tracekit-llm[ui]'"
        ) from None
    try:
        ui.serve(args.db, args.host, args.port, open_browser=args.open, out=out, err=sys.stderr)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down: a normal stop
        pass
    return 0


# -- entry point -------------------------------------------------------------------------

COMMANDS = {"ls": cmd_ls, "show": cmd_show, "export": cmd_export, "demo": cmd_demo, "ui": cmd_ui}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tracekit`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "export":
        if args.trace_id is not None and args.trace is not None and args.trace_id != args.trace:
            parser.error("export: give the trace once, as TRACE_ID or with --trace")
        args.trace = args.trace_id if args.trace_id is not None else args.trace
    try:
        status = COMMANDS[args.command](args, sys.stdout)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()  # the reader (say, `head`) left: stop quietly
        return 1
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (StoreError, ValueError) as exc:
        return _fail(str(exc))
    except sqlite3.Error as exc:
        return _fail(f"cannot read the trace store {args.db}: {exc}")
    except OSError as exc:
        return _fail(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc))
    except Exception as exc:  # never a traceback, even for a bug of ours
        return _fail(f"unexpected error ({type(exc).__name__}): {exc}")


def _fail(message: str, status: int = 1) -> int:
    print(f"tracekit: {_render.clean(message)}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
