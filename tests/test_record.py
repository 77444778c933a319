"""tracekit._record: the one definition of the record's fields, tree and token ownership.

The agreement tests write one small trace in every arrival order and check that
the sqlite store's row (``tracekit ls``, the UI table), ``tracekit show`` and the
web UI's trace view count the same spans and tokens.
"""

from __future__ import annotations

import itertools
import json
import random
import sqlite3

import pytest

import tracekit
from tracekit import _guard, _lifecycle, _options, _record, _render, _state, store
from tracekit._record import (
    RECORD_KEYS,
    build_tree,
    cut_links,
    empty_record,
    owned_tokens,
    ownership,
    reported_tokens,
)
from tracekit.backends import SqliteBackend
from tracekit.backends._wandb_tree import trace_tree as wandb_tree
from tracekit.store import Store

TRACE = "ab" * 16
OPTIONS = _options.Options(project="default")  # the defaults init() resolves to
T0 = 1_700_000_000_000_000_000


def usage(total):
    return {"prompt_tokens": total, "completion_tokens": 0, "total_tokens": total}


def rec(span, parent=None, *, at=0, tokens=None, trace=TRACE, **fields):
    """A finished record; ``span``/``parent`` are short names padded to 16 hex digits."""
    values = {
        "trace_id": trace,
        "span_id": span.ljust(16, "0"),
        "parent_id": parent and parent.ljust(16, "0"),
        "name": f"span-{span}",
        "project": "p",
        "start_ns": T0 + at * 1_000,
        "end_ns": T0 + at * 1_000 + 500,
        "usage": None if tokens is None else usage(tokens),
    }
    return empty_record(**{**values, **fields})


def shape(nodes):
    """A forest as (name, cycle, children) tuples."""
    return [(n["record"]["name"], n["cycle"], shape(n["children"])) for n in nodes]


def names(nodes):
    out = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        out.append(node["record"]["name"])
        stack.extend(node["children"])
    return sorted(out)


# -- the field list, once ------------------------------------------------------------------


def test_record_keys_are_designs_order_and_every_builder_uses_them(tracekit_capture):
    assert RECORD_KEYS == (
        "trace_id", "span_id", "parent_id", "name", "kind", "project", "start_ns", "end_ns",
        "status", "error", "inputs", "outputs", "model", "usage", "attributes", "events",
    )  # fmt: skip

    with tracekit.span("open") as live:
        live.set_attribute("k", "v")
        started = _record.started_record(_state.open_spans[live._span_id], OPTIONS)
    assert tuple(empty_record()) == RECORD_KEYS
    assert tuple(started) == RECORD_KEYS
    assert tuple(tracekit_capture.span("open")) == RECORD_KEYS  # to_record, through the pipeline
    damaged = store._damaged(("x", 2, 1, "t", "s", None, "n", "TOOL", "p", 1), ValueError())
    assert tuple(damaged) == RECORD_KEYS


def test_the_light_records_of_the_ui_are_the_record_without_its_payloads():
    pytest.importorskip("starlette")
    from tracekit.ui import _app

    assert _app.LIGHT_KEYS == tuple(k for k in RECORD_KEYS if k not in _app.HEAVY_KEYS)
    assert set(_app.HEAVY_KEYS) <= set(RECORD_KEYS)
    assert "inputs" not in _app.LIGHT_KEYS


def test_empty_record_takes_fields_checks_their_names_and_never_shares_containers():
    one = empty_record(span_id="s", status="ERROR")
    assert one["span_id"] == "s"
    assert one["status"] == "ERROR"
    assert one["inputs"] == {}
    assert one["usage"] is None
    one["inputs"]["x"] = 1
    one["events"].append({})
    assert empty_record()["inputs"] == {}
    assert empty_record()["events"] == []
    with pytest.raises(TypeError, match="spanid"):
        empty_record(spanid="s")


def test_a_started_record_is_read_from_the_live_span_and_copies_what_its_owner_may_change(
    tracekit_capture,
):
    with tracekit.span("open", kind="LLM", inputs={"api_key": "sk-x", "q": "hi"}) as live:
        live.set_attribute("password", "hunter2")
        live.add_event("first")
        live.set_model("m-1")
        span = _state.open_spans[live._span_id]
        record = _record.started_record(span, OPTIONS)
        assert record is not None
        assert record["end_ns"] is None
        assert record["status"] == "RUNNING"
        assert record["outputs"] == {}
        assert record["error"] is None
        assert record["model"] == "m-1"
        assert record["inputs"] == {"api_key": "[REDACTED]", "q": "hi"}  # redacted like any
        assert record["attributes"]["password"] == "[REDACTED]"
        assert record["attributes"]["tracekit.pid"] > 0
        # the record is a copy: changing it, or the span going on, leaves the other alone
        record["inputs"]["q"] = "changed"
        record["events"].append({"name": "extra"})
        live.add_event("second")
        live.set_attribute("late", 1)
        assert "late" not in record["attributes"]
        assert len(record["events"]) == 2
    final = tracekit_capture.span("open")
    assert final["inputs"] == {"api_key": "[REDACTED]", "q": "hi"}
    assert [e["name"] for e in final["events"]] == ["first", "second"]
    assert "tracekit.pid" not in final["attributes"]


def test_a_started_record_of_a_span_that_changes_shape_while_read_is_none_and_counted():
    tracekit.init("memory")
    span = _lifecycle.open_span("open", "CHAIN", None, None)
    try:
        span._attrs = 42  # type: ignore[assignment]  # what a torn read could see
        before = _guard.count()
        assert _record.started_record(span, OPTIONS) is None
        assert _guard.count() == before + 1
    finally:
        _state.open_spans.pop(span._span_id, None)
        _guard.reset()


# -- the tree ------------------------------------------------------------------------------


def test_children_in_start_order_orphans_as_roots_whatever_the_input_order():
    records = [
        rec("1", at=0),
        rec("2", "1", at=2),
        rec("3", "1", at=1),
        rec("4", "3", at=3),
        rec("5", "9", at=4),  # its parent is not among the records
    ]
    want = [
        ("span-1", False, [("span-3", False, [("span-4", False, [])]), ("span-2", False, [])]),
        ("span-5", False, []),
    ]
    for order in itertools.permutations(records):
        assert shape(build_tree(order)) == want


def test_a_span_that_is_its_own_parent_is_a_marked_root():
    records = [rec("1", at=0), rec("2", "2", at=1), rec("3", "2", at=2)]
    assert shape(build_tree(records)) == [
        ("span-1", False, []),
        ("span-2", True, [("span-3", False, [])]),
    ]
    assert cut_links(records) == {"2".ljust(16, "0")}


def test_a_loop_is_cut_once_at_its_earliest_span_whatever_the_order():
    # 2 -> 3 -> 4 -> 2 is a loop; 5 hangs under 3; 1 is the real root, alone
    records = [rec("1", at=0), rec("3", "2", at=2), rec("4", "3", at=3), rec("2", "4", at=1),
               rec("5", "3", at=4)]  # fmt: skip
    want = [
        ("span-1", False, []),
        ("span-2", True, [("span-3", False, [("span-4", False, []), ("span-5", False, [])])]),
    ]
    for order in itertools.permutations(records):
        assert shape(build_tree(order)) == want


def test_every_record_is_in_the_tree_exactly_once_for_any_parent_links():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 9)
        ids = [str(i + 1) for i in range(n)]
        records = [
            rec(i, rng.choice([None, "f", *ids]), at=rng.randint(0, 3)) for i in ids
        ]  # parents: none, missing, any span (itself and loops included)
        forest = build_tree(records)
        assert names(forest) == sorted(r["name"] for r in records)
        assert all(not n["cycle"] or n in forest for n in _all(forest))


def _all(nodes):
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node["children"])


def test_odd_records_are_placed_without_raising():
    odd = [
        {"span_id": "a", "name": "ids only"},
        {"span_id": "b", "parent_id": "a", "start_ns": "soon", "name": "bad start"},
        {"name": "no ids"},
        {"span_id": None, "parent_id": None, "name": "null ids"},
    ]
    forest = build_tree(odd)
    assert names(forest) == sorted(r["name"] for r in odd)
    assert owned_tokens(odd) == 0


def test_show_draws_every_span_it_counts_and_marks_the_cut_ones():
    records = [rec("1"), rec("2", "2", at=1), rec("3", "4", at=2), rec("4", "3", at=3)]
    head, *lines = _render.render_trace(records, details=False).splitlines()
    assert "4 spans" in head
    assert len(lines) == 4
    assert sum(_render.CYCLE_NOTE in line for line in lines) == 2  # the self-parent, the loop


def test_show_draws_a_trace_deeper_than_the_recursion_limit():
    records = [rec("0000", at=0)] + [rec(f"{i:04x}", f"{i - 1:04x}", at=i) for i in range(1, 3000)]
    text = _render.render_trace(records, details=False)
    assert len(text.splitlines()) == 3001


def test_wandb_marks_a_cut_link_and_wraps_a_looping_trace():
    tree = wandb_tree([rec("1", "2", at=0), rec("2", "1", at=1)])
    assert tree["name"] == "(incomplete trace)"
    (top,) = tree["child_spans"]
    assert top["name"] == "span-1"
    assert top["attributes"]["tracekit.parent_loop"] == "2".ljust(16, "0")
    assert [c["name"] for c in top["child_spans"]] == ["span-2"]


def test_capture_tree_is_the_same_tree(tracekit_deterministic):
    with tracekit.span("root", kind="AGENT"):
        with tracekit.span("a"):
            pass
        with tracekit.span("b"):
            pass
    with tracekit.span("second"):
        pass
    tree = tracekit_deterministic.tree()
    assert [(n["name"], n["cycle"], [c["name"] for c in n["children"]]) for n in tree] == [
        ("root", False, ["a", "b"]),
        ("second", False, []),
    ]
    tracekit_deterministic.assert_tree("""
        AGENT root
          CHAIN a
          CHAIN b
        CHAIN second
    """)


# -- token ownership -----------------------------------------------------------------------


def test_the_innermost_span_reporting_usage_owns_it():
    records = [
        rec("1", kind="AGENT"),
        rec("2", "1", at=1, tokens=10, kind="LLM"),  # a framework's span...
        rec("3", "2", at=2, tokens=10, kind="LLM"),  # ...around the client's: counted once
        rec("4", "1", at=3, tokens=7, kind="LLM"),
        rec("5", "1", at=4, kind="TOOL"),
    ]
    owned, reaches, below = ownership(records)
    assert owned == {"3".ljust(16, "0"): 10, "4".ljust(16, "0"): 7}
    assert reaches == set()
    assert below == {"1".ljust(16, "0"), "2".ljust(16, "0")}  # usage below: they own nothing
    assert owned_tokens(records) == 17


def test_usage_below_a_span_counts_through_spans_that_report_none():
    records = [rec("1", tokens=5), rec("2", "1", at=1), rec("3", "2", at=2, tokens=3)]
    assert ownership(records).owned == {"3".ljust(16, "0"): 3}


def test_what_counts_as_reported_usage():
    assert reported_tokens(rec("1", tokens=4)) == 4
    assert reported_tokens(rec("1", tokens=0)) == 0
    assert reported_tokens(rec("1")) is None
    assert reported_tokens(rec("1", end_ns=None, usage=usage(4))) is None  # still open
    for bad in (True, -1, 2**63, 1.5, "4", None):
        assert reported_tokens(rec("1", usage={"total_tokens": bad})) is None
    assert reported_tokens(rec("1", usage=[4])) is None
    assert reported_tokens({"usage": usage(4)}) is None  # no end


def test_in_a_loop_ownership_follows_the_cut_tree():
    # 1 <-> 2, cut at 1 (earliest): 2 is below 1, so 2 owns and 1 does not
    assert ownership([rec("1", "2", tokens=7), rec("2", "1", at=1, tokens=3)]).owned == {
        "2".ljust(16, "0"): 3
    }
    assert ownership([rec("1", "1", tokens=5)]).owned == {"1".ljust(16, "0"): 5}


def test_a_writer_seeing_part_of_a_trace_says_what_is_covered_and_learns_what_is_reached():
    batch = [rec("2", "1", at=1), rec("3", "2", at=2, tokens=4), rec("5", "6", at=3)]
    owned, reaches, _ = ownership(batch)
    assert owned == {"3".ljust(16, "0"): 4}
    assert reaches == {"1".ljust(16, "0")}  # 2's parent, outside the batch, has usage below
    later = [rec("6", "1", at=3, tokens=9)]  # 6 had a stored child with usage
    assert ownership(later, covered={"6".ljust(16, "0")}).owned == {}
    assert ownership(later).owned == {"6".ljust(16, "0"): 9}


def test_ownership_is_the_rule_over_the_drawn_tree_for_any_records():
    """Property: a span owns its usage exactly when nothing below it in build_tree reports any."""
    rng = random.Random(11)
    for _ in range(500):
        n = rng.randint(1, 8)
        ids = [str(i + 1) for i in range(n)]
        records = [
            rec(
                i,
                rng.choice([None, "f", *ids]),
                at=rng.randint(0, 3),
                tokens=rng.choice([None, None, 0, 5, 10]),
                end_ns=rng.choice([T0 + 9, T0 + 9, None]),
            )  # fmt: skip
            for i in ids
        ]
        want = {}
        for node in _all(build_tree(records)):
            tokens = reported_tokens(node["record"])
            below = [m for c in node["children"] for m in _all([c])]
            if tokens is not None and all(reported_tokens(m["record"]) is None for m in below):
                want[node["record"]["span_id"]] = tokens
        for order in (records, records[::-1]):
            assert ownership(order).owned == want


def test_covered_spans_count_as_if_their_stored_usage_were_among_the_records():
    """Property: ``covered`` gives the same owners as the records plus a child with usage."""
    rng = random.Random(13)
    for _ in range(500):
        n = rng.randint(1, 7)
        ids = [str(i + 1) for i in range(n)]
        records = [
            rec(
                i,
                rng.choice([None, "f", *ids]),
                at=rng.randint(0, 3),
                tokens=rng.choice([None, None, 5]),
            )  # fmt: skip
            for i in ids
        ]
        covered = {r["span_id"] for r in records if rng.random() < 0.3}
        stand_ins = [rec(f"c{i}", r["span_id"][:1], at=9, tokens=1)  # a stored child's usage
                     for i, r in enumerate(records) if r["span_id"] in covered]  # fmt: skip
        want = ownership(records + stand_ins)
        got = ownership(records, covered)
        assert got.owned == {k: v for k, v in want.owned.items() if not k.startswith("c")}
        assert got.reaches == want.reaches


# -- every consumer agrees, for every arrival order ------------------------------------------

# Small traces: (records, expected span count, expected tokens, expected cut links)
AGENT = [
    rec("a1", kind="AGENT", trace="a" * 32),
    rec("a2", "a1", at=1, kind="LLM", tokens=10, trace="a" * 32),  # a framework's LLM span
    rec("a3", "a2", at=2, kind="LLM", tokens=10, trace="a" * 32),  # the client's, inside it
    rec("a4", "a1", at=3, kind="TOOL", trace="a" * 32),
]
SELF_PARENT = [
    rec("b1", kind="AGENT", trace="b" * 32),
    rec("b2", "b2", at=1, kind="LLM", tokens=5, trace="b" * 32),
    rec("b3", "b2", at=2, kind="LLM", tokens=3, trace="b" * 32),
]
LOOP = [
    rec("c1", "c2", at=0, kind="LLM", tokens=7, trace="c" * 32),
    rec("c2", "c1", at=1, kind="CHAIN", trace="c" * 32),
    rec("c3", "c2", at=2, kind="LLM", tokens=4, trace="c" * 32),
]
CASES = {"agent": (AGENT, 10, 0), "self-parent": (SELF_PARENT, 3, 1), "loop": (LOOP, 4, 1)}


def _ui_views(db, trace_id):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    with TestClient(create_app(str(db), port=7842), base_url="http://127.0.0.1:7842") as client:
        (row,) = client.get("/api/traces").json()["traces"]
        view = client.get(f"/api/traces/{trace_id}").json()
    return row, view


def _views(db, trace_id):
    """(span count, tokens, cut links) as ls, show, the UI table and the UI trace view see them."""
    with Store(db) as s:
        (row,) = s.list_traces().traces
        records = s.get_trace(trace_id)
    head, *lines = _render.render_trace(records, details=False).splitlines()
    shown_spans = int(head.split("  ")[2].split()[0])
    assert shown_spans == len(lines)  # show draws every span it counts
    shown_tokens = int(head.split("  ")[3].split()[0]) if head.count("  ") > 2 else 0
    table, view = _ui_views(db, trace_id)
    drawn = view["spans"]
    return {
        "ls": (row.span_count, row.total_tokens, None),
        "show": (shown_spans, shown_tokens, sum(_render.CYCLE_NOTE in line for line in lines)),
        "ui table": (table["span_count"], table["total_tokens"], None),
        "ui trace": (
            view["trace"]["span_count"],
            view["trace"]["total_tokens"],
            sum(bool(s.get("cycle")) for s in drawn),
        ),
        "ui spans": (len(drawn), None, None),
    }


def _stored_owners(db):
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT span_id, total_tokens FROM spans").fetchall()
    return {span_id: tokens for span_id, tokens in rows if tokens is not None}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("batches", ["one record per batch", "one batch"])
def test_ls_show_and_the_ui_agree_for_every_arrival_order(tmp_path, case, batches):
    records, tokens, cuts = CASES[case]
    trace_id = records[0]["trace_id"]
    n = len(records)
    want = {
        "ls": (n, tokens, None),
        "show": (n, tokens, cuts),
        "ui table": (n, tokens, None),
        "ui trace": (n, tokens, cuts),
        "ui spans": (n, None, None),
    }
    for i, order in enumerate(itertools.permutations(records)):
        db = tmp_path / f"{i}.db"
        backend = SqliteBackend(db)
        if batches == "one batch":
            backend.export([dict(r) for r in order])
        else:
            for record in order:
                backend.export([dict(record)])
        backend.shutdown()
        names_ = [r["name"] for r in order]
        assert _views(db, trace_id) == want, f"arrival order {names_}"
        with Store(db) as s:  # each span row's owned tokens are the ownership rule's too
            assert _stored_owners(db) == ownership(s.get_trace(trace_id)).owned, names_


def test_a_parent_stored_first_as_started_still_gives_its_tokens_to_a_later_child(tmp_path):
    """The walk up from usage goes through spans stored as started to an ended owner above."""
    db = tmp_path / "t.db"
    root, outer, middle, inner = (
        rec("1", kind="AGENT"),
        rec("2", "1", at=1, tokens=10, kind="LLM"),  # ended first (its thread outlived it)
        rec("3", "2", at=2),  # still running
        rec("4", "3", at=3, tokens=10, kind="LLM"),
    )
    backend = SqliteBackend(db)
    backend.export([outer])
    backend.export_started([{**middle, "end_ns": None, "status": "RUNNING"}])
    backend.export([inner])
    with Store(db) as s:
        assert s.list_traces().traces[0].total_tokens == 10
        assert owned_tokens(s.get_trace(TRACE)) == 10
    backend.export([middle, root])
    backend.shutdown()
    with Store(db) as s:
        (row,) = s.list_traces().traces
        assert (row.span_count, row.total_tokens) == (4, 10)
        assert _stored_owners(db) == {"4".ljust(16, "0"): 10}


def test_a_recount_reads_a_damaged_record_as_the_store_does(tmp_path):
    db = tmp_path / "t.db"
    backend = SqliteBackend(db)
    backend.export([rec("2", "1", at=1, tokens=4)])
    with sqlite3.connect(db) as conn:  # the child's JSON is damaged on disk, by another process
        conn.execute("UPDATE spans SET record = '{' WHERE span_id = ?", ("2".ljust(16, "0"),))
        conn.execute("UPDATE traces SET pid = -1")  # which is what the writer can see of it
    backend.export([rec("1", tokens=6)])  # the trace is recounted: the damaged child has none
    backend.export([rec("3", "1", at=2, tokens=2)])  # a late child below the owner
    backend.shutdown()
    with Store(db) as s:
        records = s.get_trace(TRACE)
        assert [r["error"]["type"] for r in records if r["error"]] == ["DamagedRecord"]
        assert s.list_traces().traces[0].total_tokens == owned_tokens(records)


def test_a_record_a_processor_reshaped_is_stored_and_read_back_whole(tmp_path):
    db = tmp_path / "t.db"
    reshaped = {"extra": 1, **rec("1", tokens=3)}
    backend = SqliteBackend(db)
    backend.export([reshaped])
    backend.shutdown()
    with Store(db) as s:
        (record,) = s.get_trace(TRACE)
        assert record == reshaped
        assert s.list_traces().traces[0].total_tokens == 3
    assert json.loads(_record.encode(reshaped)[0]) == reshaped


def _shown(records):
    """(spans, tokens) in the head line ``tracekit show`` prints."""
    head = _render.render_trace(records, details=False).splitlines()[0].split("  ")
    return int(head[2].split()[0]), int(head[3].split()[0]) if len(head) > 3 else 0


def _random_writes(rng, trace):
    """A random trace and a random way of writing it: (records, [(kind, batch, writer)])."""
    n = rng.randint(2, 8)
    records = [
        rec(
            f"{i:02x}",
            None if i == 0 else f"{rng.randrange(i):02x}",
            at=i,
            tokens=rng.choice((None, None, 3, 5)),
            trace=trace,
        )
        for i in range(n)
    ]
    order = records[:]
    rng.shuffle(order)
    steps: list[tuple[str, list[dict]]] = []
    while order:
        k = rng.randint(1, 3)
        steps.append(("ended", order[:k]))
        del order[:k]
    # spans still open when the exporter looked: a started record, sent at any time
    # before the span's own final record (with other spans' records between)
    for r in records:
        if rng.random() < 0.4:
            end = next(i for i, (_, batch) in enumerate(steps) if r in batch)
            steps.insert(rng.randint(0, end), ("started", [r]))
    return records, [(kind, batch, rng.randrange(2)) for kind, batch in steps]


def _described(steps):
    """Steps as short text: kind, writer, then span<parent:tokens for each record."""
    return [
        (kind, writer, [f"{r['name']}<{(r['parent_id'] or '-')[:2]}:{tokens(r)}" for r in batch])
        for kind, batch, writer in steps
    ]


def tokens(record):
    return (record["usage"] or {}).get("total_tokens")


def test_ls_and_show_agree_after_every_batch_for_random_traces_and_arrival_orders(tmp_path):
    """Property (seeded): the store's row, ``owned_tokens`` over its records and ``show`` agree.

    Random trees of 2-8 spans, usage on random spans, some spans first stored
    as started records, random batch splits and arrival orders, two backends
    on one file, and now and then the trace row marked as written by another
    process (its pid), so the writer reads the trace back mid-way. Checked
    after every batch.
    """
    rng = random.Random(20240611)
    for case in range(250):
        trace = f"{case:032x}"
        records, steps = _random_writes(rng, trace)
        db = tmp_path / f"{case}.db"
        writers = (SqliteBackend(db), SqliteBackend(db))
        for step, (kind, batch, writer) in enumerate(steps):
            if kind == "started":
                writers[writer].export_started(
                    [{**r, "end_ns": None, "status": "RUNNING", "outputs": {}} for r in batch]
                )
            else:
                writers[writer].export([dict(r) for r in batch])
            if rng.random() < 0.1:
                with sqlite3.connect(db) as conn:  # another process wrote to the trace
                    conn.execute("UPDATE traces SET pid = -1")
            with Store(db) as s:
                (row,) = s.list_traces().traces
                stored = s.get_trace(trace)
            spans, tokens = _shown(stored)
            where = f"case {case}, after step {step} of {_described(steps)}"
            assert row.total_tokens == owned_tokens(stored) == tokens, where
            assert row.span_count == len(stored) == spans, where
            assert _stored_owners(db) == ownership(stored).owned, where
        for writer in writers:
            writer.shutdown()
        assert row.span_count == len(records)
        assert row.total_tokens == owned_tokens(records)


# -- records that are not what they should be -------------------------------------------


def test_unhashable_and_non_string_ids_and_non_records_are_roots_and_never_raise():
    odd = [
        rec("1", kind="AGENT"),
        {**rec("2", at=1), "span_id": ["not", "hashable"], "parent_id": "1".ljust(16, "0")},
        {**rec("3", at=2, tokens=4), "parent_id": {"not": "hashable"}},
        {**rec("4", at=3), "span_id": 4, "parent_id": 4},
        {**rec("5", at=4), "parent_id": ["1"]},
        "not a record",
        None,
        7,
    ]
    for order in (odd, odd[::-1]):
        forest = build_tree(order)
        assert len(list(_all(forest))) == len(odd)  # each placed once, placeholders too
        assert [n["record"]["name"] for n in forest if n["children"]] == ["span-1"]
        assert cut_links(order) == set()
        assert owned_tokens(order) == 4
        head, *lines = _render.render_trace(order).splitlines()
        assert f"{len(odd)} spans" in head
        assert sum("(not a span record)" in line for line in lines) == 3
        assert wandb_tree(order)["name"] == "(incomplete trace)"  # no single root


def test_a_span_id_twice_gives_one_span_the_same_for_every_order():
    started = {**rec("2", "1", at=1), "end_ns": None, "status": "RUNNING"}
    ended = rec("2", "1", at=1, tokens=3)
    other = rec("2", "1", at=1, tokens=5, name="the same span, ended elsewhere")
    records = [rec("1", tokens=9), started, ended, other]
    results = set()
    for order in itertools.permutations(records):
        forest = build_tree(order)
        ((root, children),) = [(n["record"]["name"], n["children"]) for n in forest]
        (child,) = children
        results.add((root, json.dumps(child["record"], sort_keys=True), owned_tokens(order)))
        assert _render.render_trace(order).splitlines()[0].split("  ")[2] == "2 spans"
    ((_, child, tokens),) = results  # one answer: an ended record, chosen by its content
    assert json.loads(child)["end_ns"] is not None
    assert tokens in (3, 5)
    # the ended record wins over the started one whatever the order
    assert build_tree([ended, started])[0]["record"] is ended
    assert build_tree([started, ended])[0]["record"] is ended


def test_a_line_is_drawn_for_a_record_missing_any_field():
    for record in ({}, {"kind": "LLM"}, {"status": "ERROR", "error": "boom"}, {"usage": [1]}):
        assert _render.render_trace([record]).count("\n") >= 1
    assert "? ?" in _render.render_trace([{}])


def test_a_chain_3000_deep_goes_through_every_tree_without_recursion():
    from tracekit.backends.memory import MemoryBackend
    from tracekit.testing import Capture

    chain = [rec("0000", at=0)] + [rec(f"{i:04x}", f"{i - 1:04x}", at=i) for i in range(1, 3000)]
    tree = wandb_tree(chain)
    depth = 0
    while tree["child_spans"]:
        (tree,) = tree["child_spans"]
        depth += 1
    assert depth == 2999
    backend = MemoryBackend()
    backend.export(chain)
    (top,) = Capture(backend).tree()
    depth = 0
    while top["children"]:
        (top,) = top["children"]
        depth += 1
    assert (depth, top["name"]) == (2999, f"span-{2999:04x}")


def test_the_wandb_span_tree_of_a_3000_deep_chain_is_built_without_recursion():
    pytest.importorskip("wandb")
    from tracekit.backends.wandb import _wandb_span

    chain = [rec("0000", at=0)] + [rec(f"{i:04x}", f"{i - 1:04x}", at=i) for i in range(1, 3000)]
    span = _wandb_span(wandb_tree(chain))
    depth = 0
    while span.child_spans:
        (span,) = span.child_spans
        depth += 1
    assert (depth, span.name) == (2999, f"span-{2999:04x}")
