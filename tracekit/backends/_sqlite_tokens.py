"""The sqlite writers' memory of each store file, and token ownership kept across batches.

The writers of one store file in a process share a :class:`FileMemory`: the
span ids stored as started and not ended yet, and a memory of the traces
written last (:class:`Trace`), from which each batch's token owners are
worked out without reading the trace back (see ``SqliteBackend``). A trace
the memory does not know, or another process wrote since, is read back from
its columns once (:func:`read_back`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tracekit import _state
from tracekit._record import cut_links, distinct, ownership, reported_tokens
from tracekit._schema import SCHEMA_VERSION, spans_of_trace
from tracekit.store import RECORD_COLUMNS, decode_record

_MEMORY = 20_000  # spans the writers of one file remember, over the traces written last
_MAX_TRACE = 1_000_000  # a trace with more spans than this is not remembered (re-read instead)


class Trace:
    """What this process's writers of a store file know of one trace's stored spans."""

    __slots__ = ("below", "ended", "irregular", "owned", "parent")

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}  # each stored span -> its parent id
        self.ended: set[str] = set()  # stored spans whose record is the final one
        self.owned: dict[str, int] = {}  # stored spans whose row holds tokens -> how many
        self.below: set[str] = set()  # spans, stored or still to come, with usage below them
        self.irregular = False  # a loop, a span id twice, an odd id: recounted on each batch

    def size(self) -> int:
        """How many span ids this memory holds (what the budget counts)."""
        return len(self.parent) + len(self.below)

    def advance(
        self, batch: list[dict[str, Any]], started: bool
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        """Take in a batch's records of this trace (before they are stored, in its transaction).

        Returns the batch's spans that own tokens, and the stored spans that
        lose theirs (span id -> tokens); None when the trace must be
        recounted by ``_record``'s rules instead (a link that closes a loop,
        a span stored twice, an id that is not a string). The memory is then
        half updated: the recount replaces it.
        """
        parent, ended, below, owned = self.parent, self.ended, self.below, self.owned
        reporting: list[tuple[str, int]] = []
        ids: list[str] = []
        for r in batch:
            span_id, parent_id = r["span_id"], r["parent_id"]
            # A span twice (in the batch, or stored): `ended` / `parent` already hold it.
            if type(span_id) is not str or not span_id or span_id in ended:
                return None
            if started and span_id in parent:
                return None
            if type(parent_id) is not str:
                parent_id = None  # not a link (the tree makes such a span a root)
            elif parent.get(span_id, _NO_LINK) != parent_id and (
                parent_id == span_id
                or (parent_id in parent and _closes_loop(parent, span_id, parent_id))
            ):
                return None  # only a link to a stored span can close a loop
            parent[span_id] = parent_id
            ids.append(span_id)
            if not started:
                ended.add(span_id)
                if r["usage"] and (tokens := reported_tokens(r)) is not None:
                    reporting.append((span_id, tokens))
        # Usage marks every ancestor, up to one marked already (whose own ancestors
        # were marked then). A span marked before its record came passes its mark on
        # now that its parent is known (a started record too).
        seeds = [span_id for span_id, _ in reporting]
        if below:
            seeds.extend(span_id for span_id in ids if span_id in below)
        lost: dict[str, int] = {}
        for span_id in seeds:
            up = parent[span_id]
            while up is not None and up not in below:
                below.add(up)
                tokens = owned.pop(up, None)
                if tokens is not None:  # an owner stored earlier: the usage below is its
                    lost[up] = tokens
                up = parent.get(up)  # None: not stored yet, marked for when it comes
        owners: dict[str, int] = {}
        for span_id, tokens in reporting:
            if span_id not in below:
                owners[span_id] = owned[span_id] = tokens
        return owners, lost


_NO_LINK = "\x00"  # not a span id: a span not remembered yet


def _closes_loop(parent: dict[str, str | None], span_id: str, parent_id: str | None) -> bool:
    """Whether linking ``span_id`` under ``parent_id`` makes a span its own ancestor."""
    up = parent_id
    steps = 0
    while up is not None:
        if up == span_id or steps > len(parent):  # a longer walk is on a loop already
            return True
        up = parent.get(up)
        steps += 1
    return False


def _whole_without_usage(batch: list[dict[str, Any]]) -> bool:
    """Whether a new trace's batch holds its root and no span with usage."""
    root = False
    for r in batch:
        if r["usage"]:
            return False
        if r["parent_id"] is None:
            root = True
    return root


class FileMemory(set[str]):
    """The writers' state of one store file in this process, kept in ``_state.store_files``.

    The set holds the span ids stored as started and not ended yet; the
    attributes hold the lock the writers take around a batch and the memory
    of the traces written last (:class:`Trace`, least recently written
    first), about ``_MEMORY`` span ids in all.
    """

    def __init__(self, key: str, started: Sequence[str] = ()) -> None:
        super().__init__(started)
        self.key = key  # the file's real path
        self.pid = os.getpid()  # a forked child never uses its parent's memory
        self.lock = threading.Lock()
        self.traces: OrderedDict[str, Trace] = OrderedDict()
        self.size = 0

    def advance(
        self,
        conn: sqlite3.Connection,
        by_trace: dict[str, list[dict[str, Any]]],
        started: bool,
        chunk_size: int,
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], list[str]]:
        """Work a batch out from memory, inside its transaction (see :class:`SqliteBackend`).

        ``chunk_size`` is how many trace ids one query may name (the
        connection's variable limit: one query per round, D105).

        Returns, per trace: the batch's owners (span id -> tokens), the stored
        spans that lose their tokens, and the traces to recount once the
        batch's rows are in.
        """
        me = os.getpid()
        ids = list(by_trace)
        writers: dict[str, int | None] = {}
        for at in range(0, len(ids), chunk_size):
            chunk: list[str | None] = list(ids[at : at + chunk_size])
            # Of one length, padded with NULLs (they match nothing): compiled once per
            # connection, not once per round (see sqlite.insert_rows).
            chunk.extend([None] * (chunk_size - len(chunk)))
            marks = ",".join("?" * chunk_size)
            # One row for the whole chunk: each row fetched is a GIL release (D105).
            (found,) = conn.execute(
                "SELECT json_group_array(json_array(trace_id, pid)) FROM traces "  # noqa: S608
                f"WHERE trace_id IN ({marks})",
                chunk,
            ).fetchone()
            writers.update(json.loads(found))
        owners: dict[str, dict[str, int]] = {}
        strips: dict[str, dict[str, int]] = {}
        recount: list[str] = []
        for trace_id, batch in by_trace.items():
            trace = self.traces.get(trace_id)
            if trace_id not in writers:  # a new trace (or one deleted meanwhile)
                if not started and _whole_without_usage(batch):
                    # Nothing to own, and its root is in: the common finished trace is
                    # not remembered (a late span reads it back, as a forgotten one).
                    continue
                self.remember(trace_id, trace := Trace())
            elif trace is None or writers[trace_id] != me:  # forgotten, or written by another
                self.remember(trace_id, trace := read_back(conn, trace_id))
            else:
                self.traces.move_to_end(trace_id)
            before = trace.size()
            result = None if trace.irregular else trace.advance(batch, started)
            self.size += trace.size() - before
            if result is None:
                recount.append(trace_id)
                continue
            owned, lost = result
            if owned:
                owners[trace_id] = owned
            if lost:
                strips[trace_id] = lost
        return owners, strips, recount

    def remember(self, trace_id: str, trace: Trace) -> None:
        """Hold ``trace`` as the memory of ``trace_id``, as the most recently written."""
        old = self.traces.pop(trace_id, None)
        if old is not None:
            self.size -= old.size()
        self.traces[trace_id] = trace
        self.size += trace.size()

    def forget(self, trace_id: str) -> None:
        """Drop a trace's memory (it is read back from the store when needed)."""
        old = self.traces.pop(trace_id, None)
        if old is not None:
            self.size -= old.size()

    def forget_over_budget(self) -> None:
        """Forget the least recently written traces while over budget (never the last one)."""
        traces = self.traces
        while self.size > _MEMORY and len(traces) > 1:
            _, old = traces.popitem(last=False)
            self.size -= old.size()
        if traces and self.size > _MAX_TRACE:  # one huge trace: read back on each batch
            traces.clear()
            self.size = 0


def with_tokens(
    owners: dict[str, dict[str, int]],
    strips: dict[str, dict[str, int]],
    span_rows: list[tuple[Any, ...]],
    updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]],
    trace_rows: list[tuple[Any, ...]],
) -> tuple[
    list[tuple[Any, ...]], list[tuple[tuple[Any, ...], tuple[Any, ...]]], list[tuple[Any, ...]]
]:
    """The batch's rows with the owners' tokens in, and each trace's total changed by as much."""
    none: dict[str, int] = {}

    def owned(trace_id: str, span_id: str) -> int | None:
        return owners.get(trace_id, none).get(span_id)

    # span row: (span_id, trace_id, ..., total_tokens at 9, ...); update: (end_ns, status,
    # total_tokens, ..., trace_id, span_id); trace row: (trace_id, ..., total_tokens at 7, ...)
    span_rows = [
        (*row[:9], tokens, *row[10:]) if (tokens := owned(row[1], row[0])) is not None else row
        for row in span_rows
    ]
    updates = [
        ((*u[:2], tokens, *u[3:]), (*row[:9], tokens, *row[10:]))
        if (tokens := owned(u[-2], u[-1])) is not None
        else (u, row)
        for u, row in updates
    ]
    change = {
        trace_id: sum(owners.get(trace_id, none).values())
        - sum(strips.get(trace_id, none).values())
        for trace_id in owners.keys() | strips.keys()
    }
    trace_rows = [(*t[:7], t[7] + change.get(t[0], 0), *t[8:]) for t in trace_rows]
    return span_rows, updates, trace_rows


def read_back(conn: sqlite3.Connection, trace_id: str) -> Trace:
    """Recompute a trace's owned tokens from the store (in the batch's transaction); remember it.

    Reads columns and the usage count SQLite takes out of each record, not
    the records: ``_record.ownership`` over them gives what ``tracekit
    show`` computes over the records the store returns. Rows and the total
    that differ are corrected. A trace that holds a span id twice (or one
    that is not a string) is read as whole records, as the reader reads
    them, since which of two records counts depends on their content.
    """
    rows = conn.execute(_TRACE_LINKS, (trace_id,)).fetchall()
    records: list[dict[str, Any]] = [
        {
            "span_id": span_id,
            "parent_id": parent_id,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "usage": None if total is None else {"total_tokens": total},
        }
        for _, span_id, parent_id, start_ns, end_ns, _, total in rows
    ]
    stored = [(row[0], row[5]) for row in rows]  # rowid, total_tokens
    ids = [r["span_id"] for r in records]
    regular = all(type(i) is str and i for i in ids) and len(set(ids)) == len(ids)
    if not regular:
        full = conn.execute(_TRACE_RECORDS, (trace_id,)).fetchall()
        records = [decode_record(row[2:]) for row in full]
        stored = [(row[0], row[1]) for row in full]
    counted = {id(r) for r in distinct(records)}  # the record kept for each span id
    own = ownership(records)
    fixes = []
    for (rowid, tokens), record in zip(stored, records, strict=True):
        want = own.owned.get(str(record.get("span_id"))) if id(record) in counted else None
        if want != tokens:
            fixes.append((want, rowid))
    conn.executemany("UPDATE spans SET total_tokens = ? WHERE rowid = ?", fixes)
    conn.execute(
        "UPDATE traces SET total_tokens = ? WHERE trace_id = ?", (sum(own.owned.values()), trace_id)
    )
    trace = Trace()
    if not regular or cut_links(records):
        trace.irregular = True  # nothing else needed: each batch recounts
        return trace
    trace.parent = {r["span_id"]: p if type(p := r["parent_id"]) is str else None for r in records}
    trace.ended = {r["span_id"] for r in records if r["end_ns"] is not None}
    trace.owned = dict(own.owned)
    trace.below = own.below | own.reaches
    return trace


def file_memory(path: str) -> FileMemory:
    """The writers' state of one database file, shared by this process's backends of it."""
    key = os.path.realpath(path)
    memory: FileMemory | None = _state.store_files.get(key)
    if memory is None or memory.pid != os.getpid():  # none yet, or the parent's
        memory = FileMemory(key)
        memory = _state.store_files.setdefault(key, memory)
    return memory


_OF_TRACE = spans_of_trace(SCHEMA_VERSION)  # the writer has migrated its store

# A trace's spans as ownership needs them, read from columns: only usage.total_tokens is
# taken from the JSON (by SQLite, where the record is valid JSON; the reader's placeholder
# for a damaged record reports no usage either).
_TRACE_LINKS = f"""
SELECT rowid, span_id, parent_id, start_ns, end_ns, total_tokens,
       CASE WHEN json_valid(record) AND json_type(record, '$.usage.total_tokens') = 'integer'
            THEN json_extract(record, '$.usage.total_tokens') END
FROM spans WHERE {_OF_TRACE}
"""  # noqa: S608 (our SQL)
_TRACE_RECORDS = f"SELECT rowid, total_tokens, {RECORD_COLUMNS} FROM spans WHERE {_OF_TRACE}"  # noqa: S608
DROP_TOKENS = f"UPDATE spans SET total_tokens = NULL WHERE {_OF_TRACE} AND span_id = ?"  # noqa: S608
