"""Store reads added for the web UI: the projects list and one trace's table row."""

from __future__ import annotations

import pytest
from ui_helpers import rec, research_trace, tid, write

from tracekit.store import Store, TraceNotFound


def test_list_projects_sorted_and_distinct(db):
    write(db, [rec(n, 0, None, project=p) for n, p in enumerate(["b", "a", "b", "c", "a"], 1)])
    with Store(db) as store:
        assert store.list_projects() == ["a", "b", "c"]


def test_trace_summary_matches_the_table_row(db):
    write(db, research_trace(1) + [rec(2, 0, None)])
    with Store(db) as store:
        row = store.list_traces().traces[1]
        assert store.trace_summary(tid(1)) == row
        assert store.trace_summary(tid(1).upper()) == row
        with pytest.raises(TraceNotFound):
            store.trace_summary("f" * 32)
