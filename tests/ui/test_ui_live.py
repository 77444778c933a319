"""Live traces in headless Chromium: what refreshes, and what a running trace does not offer."""

from __future__ import annotations

from playwright.sync_api import expect
from test_ui_browser import clean
from ui_helpers import rec, start, tid, write

from tracekit.backends import SqliteBackend


def export(db, records):
    """Another process's writer: records arrive while the page is open."""
    backend = SqliteBackend(db)
    try:
        backend.export(records)
    finally:
        backend.shutdown()


def test_a_running_trace_with_a_failed_span_stays_live(db, serve, browse):
    t0 = start(7)
    root = rec(7, 0, None, name="long-agent", start_ns=t0, end_ns=None, status="RUNNING")
    failed = rec(7, 1, 0, name="bad-tool", kind="TOOL", start_ns=t0 + 1_000, end_ns=t0 + 2_000,
                 status="ERROR", error={"type": "ValueError", "message": "no"})  # fmt: skip
    write(db, [failed], started=[root])
    server = serve(db)
    page, watch = browse(server.url + f"#/trace/{tid(7)}")
    page.locator(".label-row", has_text="bad-tool").wait_for()
    expect(page.locator(".trace-facts .status")).to_have_text("ERROR")  # not "RUNNING"
    page.evaluate("window.__sameDocument = true")
    export(db, [rec(7, 2, 0, name="late-step", start_ns=t0 + 5_000, end_ns=t0 + 6_000)])
    page.locator(".label-row", has_text="late-step").wait_for()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    clean(page, watch)


def test_delete_is_offered_only_once_the_trace_has_ended(db, serve, browse):
    t0 = start(8)
    root = rec(8, 0, None, name="agent", start_ns=t0, end_ns=None, status="RUNNING")
    write(db, [rec(8, 1, 0, name="step", start_ns=t0 + 1_000, end_ns=t0 + 2_000)], started=[root])
    server = serve(db)
    page, watch = browse(server.url + f"#/trace/{tid(8)}")
    page.locator(".label-row", has_text="step").first.wait_for()
    expect(page.locator(".delete-note")).to_be_visible()
    assert page.locator("button.delete").count() == 0
    export(db, [{**root, "end_ns": t0 + 9_000, "status": "OK"}])
    expect(page.locator("button.delete")).to_be_visible()
    expect(page.locator(".delete-note")).to_have_count(0)
    clean(page, watch)
