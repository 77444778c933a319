"""Odd data and odd links in headless Chromium: shown as what they are, never breaking the page."""

from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.sync_api import expect
from test_ui_browser import clean, percent
from ui_helpers import MS, rec, sid, start, tid, write


def rewrite(db, span_id, record):
    """Replace a stored span record with data the pipeline would not write (old or hand-made)."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE spans SET record = ? WHERE span_id = ?", (json.dumps(record), span_id))


@pytest.fixture
def odd(db, serve, browse):
    t0 = start(1)
    spans = [rec(1, 0, None, name="root", kind="AGENT", start_ns=t0, end_ns=t0 + 100 * MS)]
    for n in range(1, 6):
        spans.append(rec(1, n, 0, name=f"span-{n}", kind="LLM", start_ns=t0 + n * 10 * MS,
                         end_ns=t0 + n * 10 * MS + 5 * MS))  # fmt: skip
    write(db, spans)
    by_n = {n: {**spans[n]} for n in range(6)}
    rewrite(db, sid(1, 1), {**by_n[1], "status": "error <b>x</b>", "error": "a plain string",
                            "model": {"name": "m-1", "revision": 3}})  # fmt: skip
    rewrite(db, sid(1, 2), {**by_n[2], "start_ns": "soon"})
    rewrite(db, sid(1, 3), {**by_n[3], "end_ns": t0 + 5 * MS})  # ends before it starts
    # a hand-made record with little but its ids
    damaged = {"type": "DamagedRecord", "message": "undecodable JSON"}
    rewrite(db, sid(1, 4), {"trace_id": tid(1), "span_id": sid(1, 4), "name": "(damaged record)",
                            "status": "ERROR", "error": damaged})  # fmt: skip
    server = serve(db)
    page, watch = browse(server.url + f"#/trace/{tid(1)}")
    page.locator(".label-row").nth(5).wait_for()
    return page, watch


def test_odd_status_error_and_model_are_shown_as_text(odd):
    page, watch = odd
    bar = page.locator(f".bar[data-span-id='{sid(1, 1)}']")
    assert "status-OTHER" in bar.get_attribute("class").split()
    assert all(" " not in c and "<" not in c for c in bar.get_attribute("class").split())
    page.locator(".label-row", has_text="span-1").click()
    detail = page.locator(".span-detail")
    expect(detail.locator(".detail-head .status")).to_have_text("error <b>x</b>")
    assert "a plain string" in detail.locator("[data-section=error]").inner_text()
    model = detail.locator("[data-section=model]").inner_text()
    assert "m-1" in model
    assert "[object Object]" not in model
    clean(page, watch)


def test_bad_times_leave_the_other_bars_in_place(odd):
    page, watch = odd
    # no bar for the span without a usable start; every other one where it belongs
    assert page.locator(f".bar[data-span-id='{sid(1, 2)}']").count() == 0
    expect(page.locator(".label-row", has_text="span-2")).to_contain_text("bad times")
    expect(page.locator(".label-row", has_text="span-3")).to_contain_text("ends before it starts")
    assert percent(page.locator(f".bar[data-span-id='{sid(1, 3)}']"), "width") == 0
    root = page.locator(f".bar[data-span-id='{sid(1, 0)}']")
    assert percent(root, "left") == 0
    assert percent(root, "width") == 100
    last = page.locator(f".bar[data-span-id='{sid(1, 5)}']")
    assert percent(last, "left") == pytest.approx(50, abs=0.001)
    assert percent(last, "width") == pytest.approx(5, abs=0.001)
    clean(page, watch)


def test_a_record_with_only_its_ids_is_listed_and_opens(odd):
    page, watch = odd
    label = page.locator(".label-row", has_text="(damaged record)")
    label.click()
    detail = page.locator(".span-detail")
    expect(detail.locator(".detail-name")).to_have_text("(damaged record)")
    assert "undecodable JSON" in detail.locator("[data-section=error]").inner_text()
    assert page.locator(".bar").count() == 4  # the damaged and the timeless span have none
    clean(page, watch)


def test_a_malformed_link_says_so(db, serve, browse):
    write(db, [rec(1, 0, None)])
    page, watch = browse(serve(db).url + "#/trace/%E0%A4%A")
    expect(page.locator("#banner")).to_contain_text("malformed")
    page.click("text=all traces")
    expect(page.locator("tr.trace-row")).to_have_count(1)
    expect(page.locator("#banner")).to_be_hidden()
    clean(page, watch)


def test_a_record_damaged_on_disk_keeps_its_place(db, serve, browse):
    t0 = start(2)
    write(db, [rec(2, 1, 0, name="broken-step", start_ns=t0 + MS, end_ns=t0 + 2 * MS),
               rec(2, 0, None, name="root", start_ns=t0, end_ns=t0 + 10 * MS)])  # fmt: skip
    with sqlite3.connect(db) as conn:  # the store reads it as an error placeholder
        conn.execute("UPDATE spans SET record = ? WHERE span_id = ?", ('{"trace_id": ', sid(2, 1)))
    page, watch = browse(serve(db).url + f"#/trace/{tid(2)}")
    expect(page.locator(".bar")).to_have_count(2)
    page.locator(".label-row", has_text="broken-step").click()
    detail = page.locator(".span-detail")
    expect(detail.locator(".detail-name")).to_have_text("broken-step")
    assert "DamagedRecord" in detail.locator("[data-section=error]").inner_text()
    clean(page, watch)


def test_a_self_parent_and_a_parent_loop_are_drawn_as_marked_roots_as_show_draws_them(
    db, serve, browse
):
    from tracekit._render import CYCLE_NOTE, render_trace
    from tracekit.store import Store

    t0 = start(3)

    def span(n, parent, name):
        return rec(3, n, parent, name=name, start_ns=t0 + n * MS, end_ns=t0 + n * MS + MS // 2)

    write(db, [span(0, None, "root"), span(1, 1, "self-parent"), span(2, 3, "loop-a"),
               span(3, 2, "loop-b"), span(4, 3, "under-loop")])  # fmt: skip
    page, watch = browse(serve(db).url + f"#/trace/{tid(3)}")
    labels = page.locator(".label-row")
    expect(labels).to_have_count(5)
    expect(page.locator(".toolbar")).to_contain_text("5 spans")
    expect(page.locator(".trace-facts")).to_contain_text("5 spans")
    names = [labels.nth(i).locator(".name").inner_text() for i in range(5)]
    assert names == ["root", "self-parent", "loop-a", "loop-b", "under-loop"]
    marked = page.locator(".label-row:has(.cycle-tag) .name")
    assert marked.all_inner_texts() == ["self-parent", "loop-a"]  # cut at the loop's earliest
    indent = [labels.nth(i).evaluate("e => parseInt(e.style.paddingLeft)") for i in range(5)]
    assert indent[0] == indent[1] == indent[2] < indent[3] < indent[4]
    with Store(db) as store:
        shown = render_trace(store.get_trace(tid(3)), details=False).splitlines()
    assert "5 spans" in shown[0]
    assert len(shown) == 6
    assert [CYCLE_NOTE in line for line in shown[1:]] == [False, True, True, False, False]
    clean(page, watch)
