"""The web UI in headless Chromium: table, search, trace, timeline, detail, architecture, live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from ui_helpers import langchain_trace, rec, research_trace, screenshot, sid, start, tid, write

# The kind colours of app.css, as the browser computes them.
KIND_RGB = {
    "AGENT": "rgb(139, 92, 246)",
    "CHAIN": "rgb(16, 185, 129)",
    "LLM": "rgb(59, 130, 246)",
    "TOOL": "rgb(245, 158, 11)",
    "RETRIEVER": "rgb(20, 184, 166)",
    "EMBEDDING": "rgb(236, 72, 153)",
}


@pytest.fixture
def ui(db, serve, browse):
    """A server over a store of two traces, and a function opening a page on it."""
    write(db, research_trace(1) + langchain_trace(2, project="graphs"))
    server = serve(db)

    def open_page(route="", **size):
        page, watch = browse(server.url + route, **size)
        return page, watch

    open_page.db = db
    open_page.server = server
    return open_page


def clean(page, watch):
    """Nothing blocked by the CSP, no script error, no dialog, nothing off loopback."""
    assert page.evaluate("window.__csp") == []
    assert watch.console_errors == []
    assert watch.dialogs == []
    assert watch.off_loopback() == []


def test_table_lists_traces_newest_first_with_their_columns(ui):
    page, watch = ui()
    rows = page.locator("tr.trace-row")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    first, second = rows.nth(0), rows.nth(1)
    assert first.get_attribute("data-trace-id") == tid(2)  # newer first
    assert "LangGraph" in first.inner_text()
    text = second.inner_text()
    for expected in ("research-agent", "AGENT", "ERROR", "6", "42", "How old is Google?",
                     "Google is 28 years old.", "100 ms"):  # fmt: skip
        assert expected in text
    screenshot(page, "ui-table-two")
    clean(page, watch)


def expect_rows(page, *trace_ids):
    """Wait until the table shows exactly these traces."""
    expect(page.locator("tr.trace-row")).to_have_count(len(trace_ids))
    for trace_id in trace_ids:
        expect(page.locator(f"tr.trace-row[data-trace-id='{trace_id}']")).to_have_count(1)


def test_search_and_filters_narrow_the_table(ui):
    page, watch = ui()
    expect_rows(page, tid(2), tid(1))
    page.fill("input[name=q]", "careful researcher")
    expect_rows(page, tid(1))
    assert "q=careful" in page.url  # the filters are in the address: a link keeps them
    page.fill("input[name=q]", "")
    expect_rows(page, tid(2), tid(1))
    page.select_option("select[name=project]", "graphs")
    expect_rows(page, tid(2))
    page.select_option("select[name=project]", "")
    page.select_option("select[name=status]", "ERROR")
    expect_rows(page, tid(1))
    page.select_option("select[name=status]", "")
    page.select_option("select[name=kind]", "EMBEDDING")
    expect_rows(page, tid(1))
    page.select_option("select[name=kind]", "")
    page.select_option("select[name=since]", "15m")  # both traces are days old
    expect_rows(page)
    page.select_option("select[name=since]", "")
    expect_rows(page, tid(2), tid(1))
    page.select_option("select[name=sort]", "spans")  # largest first
    expect(page.locator("tr.trace-row").first).to_have_attribute("data-trace-id", tid(1))
    page.select_option("select[name=sort]", "")
    expect(page.locator("tr.trace-row").first).to_have_attribute("data-trace-id", tid(2))
    page.fill("input[name=q]", "no such text anywhere")
    expect_rows(page)
    expect(page.locator("p.empty")).to_be_visible()
    clean(page, watch)


def test_load_more_pages_with_the_cursor(db, serve, browse):
    records = []
    for n in range(1, 61):
        records.append(rec(n, 0, None, name=f"job-{n}"))
    write(db, records)
    page, watch = browse(serve(db).url)
    page.locator("tr.trace-row").nth(49).wait_for()
    assert page.locator("tr.trace-row").count() == 50
    page.click("button.more")
    expect(page.locator("tr.trace-row")).to_have_count(60)
    assert page.locator("button.more").is_hidden()
    assert page.locator("tr.trace-row").last.get_attribute("data-trace-id") == tid(1)
    clean(page, watch)


def percent(bar, prop):
    return float(bar.evaluate(f"b => b.style.{prop}").rstrip("%"))


def test_trace_view_draws_one_bar_per_span_coloured_by_kind(ui):
    page, watch = ui()
    page.locator(f"tr[data-trace-id='{tid(1)}']").click()
    page.locator(".bar").nth(5).wait_for()
    bars = page.locator(".bar")
    assert bars.count() == 6
    kinds = {}
    for i in range(bars.count()):
        bar = bars.nth(i)
        kind = bar.get_attribute("data-kind")
        kinds[kind] = bar.evaluate("b => getComputedStyle(b).backgroundColor")
    assert kinds == {k: KIND_RGB[k] for k in kinds}
    assert set(kinds) == {"AGENT", "LLM", "TOOL", "RETRIEVER", "EMBEDDING", "CHAIN"}
    # placed by start and end: the root spans the whole width, the LLM call starts 1% in
    root = page.locator(".bar[data-kind=AGENT]")
    # (JavaScript numbers hold Unix nanoseconds to within 256 ns: 0.001% of 100 ms)
    assert percent(root, "left") == 0
    assert percent(root, "width") == 100
    llm = page.locator(".bar[data-kind=LLM]")
    assert percent(llm, "left") == pytest.approx(1, abs=0.001)
    assert percent(llm, "width") == pytest.approx(39, abs=0.001)
    # a legend names every kind with its colour
    for kind, rgb in KIND_RGB.items():
        swatch = page.locator(f".legend .swatch.kind-{kind}")
        assert swatch.evaluate("s => getComputedStyle(s).backgroundColor") == rgb
    # hover shows name and duration
    page.hover(".bar[data-kind=TOOL]")
    tooltip = page.locator(".tooltip")
    tooltip.wait_for(state="visible")
    assert "web_search" in tooltip.inner_text()
    assert "19.0 ms" in tooltip.inner_text()
    screenshot(page, "ui-trace", docs=True)
    clean(page, watch)


def test_span_tree_collapses_and_zoom_widens_the_timeline(ui):
    page, watch = ui(f"#/trace/{tid(1)}")
    page.locator(".label-row").nth(5).wait_for()
    page.click(f"[data-toggle='{sid(1, 0)}']")
    expect(page.locator(".label-row")).to_have_count(1)
    assert page.locator(".bar").count() == 1
    # (rows use content-visibility: textContent, not innerText, which skips unrendered rows)
    expect(page.locator(".label-row")).to_contain_text("+5")
    page.click(".toggle")
    expect(page.locator(".label-row")).to_have_count(6)
    before = page.locator(".tracks").evaluate("t => t.getBoundingClientRect().width")
    page.click("button.zoom-in")
    page.click("button.zoom-in")
    expect(page.locator(".zoom-level")).to_have_text("4×")
    after = page.locator(".tracks").evaluate("t => t.getBoundingClientRect().width")
    assert after == pytest.approx(before * 4, rel=0.01)
    page.click("button.zoom-fit")
    expect(page.locator(".zoom-level")).to_have_text("1×")
    clean(page, watch)


def test_span_detail_shows_conversation_tool_calls_model_usage_and_error(ui):
    page, watch = ui(f"#/trace/{tid(1)}")
    page.locator(".label-row").nth(5).wait_for()
    page.locator(".label-row", has_text="plan").click()
    detail = page.locator(".span-detail")
    detail.wait_for()
    messages = detail.locator(".message")
    assert messages.count() == 3  # system, user; the answer with its tool call
    assert messages.nth(0).locator(".role").inner_text().lower() == "system"
    assert "How old is Google?" in messages.nth(1).inner_text()
    call = detail.locator(".tool-call")
    assert "web_search" in call.inner_text()
    assert "Google founded" in call.inner_text()  # the arguments, parsed from JSON
    assert "gpt-4o-mini" in detail.locator("[data-section=model]").inner_text()
    assert "temperature" in detail.locator("[data-section=model]").inner_text()
    usage = detail.locator("[data-section=usage]").inner_text()
    assert "prompt_tokens" in usage
    assert "42" in usage
    assert "span=" in page.url
    screenshot(page, "ui-span-detail", docs=True)

    page.locator(".label-row", has_text="summarize").click()
    error = page.locator("[data-section=error]")
    error.wait_for()
    assert "TimeoutError" in error.inner_text()
    assert 'File "agent.py", line 9' in error.locator(".stack").inner_text()
    assert "retry" in page.locator("[data-section=events]").inner_text()
    clean(page, watch)


def test_keyboard_moves_through_the_span_tree(ui):
    page, watch = ui(f"#/trace/{tid(1)}")
    page.locator(".label-row", has_text="research-agent").click()
    detail = page.locator(".detail-name")
    expect(detail).to_have_text("research-agent")
    page.keyboard.press("ArrowDown")
    expect(detail).to_have_text("plan")
    page.keyboard.press("ArrowDown")
    expect(detail).to_have_text("web_search")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(detail).to_have_text("research-agent")
    page.keyboard.press("ArrowLeft")  # collapse the root
    expect(page.locator(".label-row")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    expect(page.locator(".label-row")).to_have_count(6)
    clean(page, watch)


def test_running_and_unfinished_spans_are_shown_as_such(db, serve, browse):
    t0 = start(5)
    dead_pid = 2**22 + 12345  # above pid_max's default: no such process
    running = rec(5, 0, None, name="live-agent", start_ns=t0, end_ns=None, status="RUNNING")
    child = rec(5, 1, 0, name="done-step", start_ns=t0 + 1_000_000, end_ns=t0 + 2_000_000)
    write(db, [child], started=[running])
    # A second trace whose process died: rewrite its pid to one that does not exist.
    write(db, [], started=[rec(6, 0, None, name="dead-agent", end_ns=None, status="RUNNING")])
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE spans SET pid = ? WHERE trace_id = ?", (dead_pid, tid(6)))
        conn.execute("UPDATE traces SET pid = ? WHERE trace_id = ?", (dead_pid, tid(6)))
    server = serve(db)
    page, watch = browse(server.url)
    page.locator("tr.trace-row").nth(1).wait_for()
    assert "RUNNING" in page.locator(f"tr[data-trace-id='{tid(5)}']").inner_text()
    assert "UNFINISHED" in page.locator(f"tr[data-trace-id='{tid(6)}']").inner_text()
    page.goto(server.url + f"#/trace/{tid(5)}")
    bar = page.locator(".bar.status-RUNNING")
    bar.wait_for()
    expect(page.locator(".label-row", has_text="live-agent")).to_contain_text("running")
    page.locator(".label-row", has_text="live-agent").click()
    assert "still running" in page.locator("[data-section=outputs]").inner_text()
    page.goto(server.url + f"#/trace/{tid(6)}")
    page.locator(".bar.status-UNFINISHED").wait_for()
    page.locator(".label-row", has_text="dead-agent").click()
    assert "never ended" in page.locator(".span-detail").inner_text()
    clean(page, watch)


def test_new_traces_and_finished_spans_appear_without_reload(db, serve, browse):
    t0 = start(7)
    write(db, [], started=[rec(7, 0, None, name="long-agent", start_ns=t0, end_ns=None,
                               status="RUNNING")])  # fmt: skip
    server = serve(db)
    page, watch = browse(server.url)
    page.locator("tr.trace-row").first.wait_for()
    page.evaluate("window.__sameDocument = true")
    write(db, research_trace(8))  # another process finishes a trace
    page.locator(f"tr[data-trace-id='{tid(8)}']").wait_for()
    # the open trace's view follows it: its running span ends, a new child appears
    page.goto(server.url + f"#/trace/{tid(7)}")
    page.locator(".bar.status-RUNNING").wait_for()
    page.evaluate("window.__sameDocument = true")
    from tracekit.backends import SqliteBackend

    backend = SqliteBackend(db)
    try:
        backend.export([rec(7, 1, 0, name="late-tool", kind="TOOL", start_ns=t0 + 5_000_000,
                            end_ns=t0 + 6_000_000)])  # fmt: skip
        backend.export([rec(7, 0, None, name="long-agent", start_ns=t0, end_ns=t0 + 9_000_000)])
    finally:
        backend.shutdown()
    page.locator(".label-row", has_text="late-tool").wait_for()
    expect(page.locator(".bar.status-RUNNING")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    clean(page, watch)


def test_architecture_view_shows_components_parameters_and_graph(ui):
    page, watch = ui(f"#/trace/{tid(2)}")
    page.locator(".tab[data-tab=architecture]").click()
    page.locator(".architecture").wait_for()
    nodes = page.locator("svg.graph .node")
    assert nodes.count() == 4
    assert page.locator("svg.graph .edge").count() == 4
    assert page.locator("svg.graph .edge.conditional").count() == 2
    assert {nodes.nth(i).get_attribute("data-node-id") for i in range(4)} == {
        "__start__", "agent", "tools", "__end__"}  # fmt: skip
    model = page.locator(".component[data-kind=LLM]")
    text = model.inner_text()
    assert "ChatOpenAI" in text
    assert "gpt-4o" in text
    assert "[REDACTED]" in text  # the recorded (already redacted) configuration
    assert "handle_tool_errors" in page.locator(".component[data-kind=TOOL]").inner_text()
    screenshot(page, "ui-architecture", docs=True)
    clean(page, watch)


def test_architecture_without_graph_shows_kinds_and_metadata(ui):
    page, watch = ui(f"#/trace/{tid(1)}/architecture")
    page.locator(".architecture").wait_for()
    assert page.locator("svg.graph").count() == 0
    root = page.locator(".component[data-kind=AGENT]")
    assert "research-agent" in root.inner_text()
    assert "team" in root.inner_text()
    assert "search" in root.inner_text()
    tool = page.locator(".component[data-kind=TOOL]")
    assert "provider" in tool.inner_text()
    assert "local-index" in tool.inner_text()
    llm = page.locator(".component[data-kind=LLM]").inner_text()
    assert "gpt-4o-mini" in llm
    assert "max_tokens" in llm
    # components nest as they were called: the tool sits under the agent
    assert page.locator(".components .components .component[data-kind=TOOL]").count() == 1
    clean(page, watch)


def test_deleting_a_trace_from_the_page(ui):
    page, watch = ui(f"#/trace/{tid(2)}")
    page.locator("button.delete").wait_for()
    watch.accept_dialogs = True
    page.click("button.delete")
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.locator("tr.trace-row")).to_have_count(1)
    assert watch.dialogs == ["Delete this trace from the store? This cannot be undone."]
    from tracekit.store import Store

    with Store(ui.db) as store:
        assert [t.trace_id for t in store.list_traces().traces] == [tid(1)]


def test_the_demo_trace_opens_with_its_model_call(tmp_path, serve, browse):
    """``tracekit demo``'s trace in the UI (the docs' main screenshot, with TRACEKIT_UI_DOCS=1)."""
    import subprocess
    import sys

    db = str(tmp_path / "demo.db")
    write(db, research_trace(1) + langchain_trace(2, project="graphs"))
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "tracekit.cli", "--db", db, "demo"], check=True,
                       capture_output=True)  # fmt: skip
    server = serve(db)
    page, watch = browse(server.url)
    expect(page.locator("tr.trace-row")).to_have_count(4)
    page.set_viewport_size({"width": 1400, "height": 330})
    screenshot(page, "ui-table", docs=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.locator("tr.trace-row").first.click()
    expect(page.locator(".bar")).to_have_count(7)
    page.locator(".label-row", has_text="chat-completion").first.click()
    expect(page.locator(".span-detail .message")).to_have_count(2)
    assert "demo-gpt-sim" in page.locator("[data-section=model]").inner_text()
    screenshot(page, "ui-demo", docs=True)
    clean(page, watch)
