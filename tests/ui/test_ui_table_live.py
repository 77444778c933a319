"""The trace table in headless Chromium: the time range; a live refresh that disturbs nothing."""

from __future__ import annotations

from playwright.sync_api import expect
from test_ui_browser import clean, expect_rows
from ui_helpers import BASE_NS, MS, rec, start, tid, write

HOUR = 3_600_000 * MS
# The browser's local time for a Unix-milliseconds instant, as a datetime-local input wants it.
LOCAL = """ms => { const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
    `T${p(d.getHours())}:${p(d.getMinutes())}`; }"""


def test_a_from_to_range_filters_the_table_and_stays_in_the_address(db, serve, browse):
    # four jobs an hour apart; the range [hour 2, hour 4) holds jobs 2 and 3
    write(db, [rec(n, 0, None, name=f"job-{n}", start_ns=BASE_NS + n * HOUR,
                   end_ns=BASE_NS + n * HOUR + MS) for n in range(1, 5)])  # fmt: skip
    server = serve(db)
    page, watch = browse(server.url)
    expect_rows(page, tid(4), tid(3), tid(2), tid(1))
    start = page.evaluate(LOCAL, (BASE_NS + 2 * HOUR) // MS)
    end = page.evaluate(LOCAL, (BASE_NS + 4 * HOUR) // MS)
    page.fill("input[name=from]", start)
    expect_rows(page, tid(4), tid(3), tid(2))
    page.fill("input[name=to]", end)
    expect_rows(page, tid(3), tid(2))
    assert "from=" in page.url
    assert "to=" in page.url
    # a new page at that address keeps the range
    again, watch_again = browse(page.url)
    expect_rows(again, tid(3), tid(2))
    assert again.input_value("input[name=from]") == start
    assert again.input_value("input[name=to]") == end
    # a quick choice replaces the range (the jobs are days old)
    again.select_option("select[name=since]", "15m")
    expect_rows(again)
    assert again.input_value("input[name=from]") == ""
    assert "from=" not in again.url
    clean(page, watch)
    clean(again, watch_again)


def test_live_refresh_keeps_focus_and_selection(db, serve, browse):
    write(db, [rec(n, 0, None, name=f"job-{n}") for n in range(1, 4)])
    server = serve(db)
    page, watch = browse(server.url)
    expect_rows(page, tid(3), tid(2), tid(1))
    page.focus(f"tr[data-trace-id='{tid(2)}']")
    selected = page.evaluate(
        """id => { const cell = document.querySelector(`tr[data-trace-id='${id}'] .name`);
        const range = document.createRange(); range.selectNodeContents(cell);
        getSelection().removeAllRanges(); getSelection().addRange(range);
        return getSelection().toString(); }""",
        tid(1),
    )
    assert selected == "job-1"
    write(db, [rec(4, 0, None, name="job-4")])  # a new trace arrives at the top
    expect_rows(page, tid(4), tid(3), tid(2), tid(1))
    assert page.evaluate("document.activeElement.dataset.traceId") == tid(2)
    assert page.evaluate("getSelection().toString()") == "job-1"
    clean(page, watch)


def test_live_refresh_keeps_the_pages_loaded_with_load_more(db, serve, browse):
    write(db, [rec(n, 0, None, name=f"job-{n}") for n in range(1, 61)])
    server = serve(db)
    page, watch = browse(server.url)
    expect(page.locator("tr.trace-row")).to_have_count(50)
    page.click("button.more")
    expect(page.locator("tr.trace-row")).to_have_count(60)
    write(db, [rec(61, 0, None, name="job-61")])
    expect(page.locator(f"tr[data-trace-id='{tid(61)}']")).to_have_count(1)
    expect(page.locator("tr.trace-row")).to_have_count(61)  # none cut off the end
    assert page.locator("tr.trace-row").last.get_attribute("data-trace-id") == tid(1)
    assert page.locator("button.more").is_hidden()  # the cursor still points past job-1
    clean(page, watch)


def test_a_focused_row_that_changes_keeps_the_focus(db, serve, browse):
    t0 = start(5)
    write(db, [], started=[rec(5, 0, None, name="agent", start_ns=t0, end_ns=None,
                               status="RUNNING")])  # fmt: skip
    write(db, [rec(4, 0, None, name="older")])
    server = serve(db)
    page, watch = browse(server.url)
    expect_rows(page, tid(5), tid(4))
    row = page.locator(f"tr[data-trace-id='{tid(5)}']")
    expect(row).to_contain_text("RUNNING")
    page.focus(f"tr[data-trace-id='{tid(5)}']")
    write(db, [rec(5, 0, None, name="agent", start_ns=t0, end_ns=t0 + MS)])  # it ends
    expect(row).to_contain_text("OK")
    assert page.evaluate("document.activeElement.dataset.traceId") == tid(5)
    clean(page, watch)
