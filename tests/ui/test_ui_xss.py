"""Traced text is untrusted: a trace full of XSS payloads runs nothing and fetches nothing.

The page is opened with a guard that records every request (anything off
127.0.0.1 is aborted and recorded), every dialog, every script error and
every Content-Security-Policy violation; each payload, if it ran, would set
``window.__xss`` or pollute ``Object.prototype``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from ui_helpers import rec, screenshot, start, tid, write

PAYLOADS = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'\">",
    "<svg onload=\"window.__xss = 'svg'\"></svg>",
    "<a href=\"javascript:window.__xss = 'link'\">click me</a>",
    "javascript:window.__xss = 'url'",
    "![tracking pixel](http://evil.example/pixel.png)",
    '"><iframe src="http://evil.example/frame"></iframe>',
    "<style>@import url(http://evil.example/x.css);</style>",
    '<link rel="stylesheet" href="http://evil.example/y.css">',
    "{{constructor.constructor('window.__xss = 1')()}}",
]
EVIL_ID = "'\"><img src=x onerror=window.__xss=9>"  # as a span id: ends up in attributes


def xss_trace(n=1):
    t0 = start(n)
    text = "\n".join(PAYLOADS)
    proto = {"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}
    messages = [
        {"role": "user", "content": text},
        {"role": '"><img src=x onerror="window.__xss=\'role\'">', "content": PAYLOADS[1]},
        {"role": "user", "content": [
            {"type": "text", "text": PAYLOADS[0]},
            {"type": "image_url", "image_url": {"url": "http://evil.example/image.png"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": PAYLOADS[2], "type": "function",
             "function": {"name": PAYLOADS[3], "arguments": '{"q": "<img src=x onerror=1>"}'}},
        ]},
    ]  # fmt: skip
    root = rec(
        n, 0, None, name=PAYLOADS[0], kind="AGENT", start_ns=t0, end_ns=t0 + 50_000_000,
        inputs={"question": text, **proto, PAYLOADS[1]: PAYLOADS[5]},
        outputs={"output": PAYLOADS[5] + " " + PAYLOADS[3]},
        attributes={"tags": PAYLOADS[:3], PAYLOADS[2]: PAYLOADS[4], **proto,
                    "langchain.graph": {
                        "nodes": [{"id": "a", "name": PAYLOADS[0]}, {"id": PAYLOADS[1]}],
                        "edges": [{"source": "a", "target": PAYLOADS[1], "conditional": True}]}},
        events=[{"name": PAYLOADS[1], "time_ns": t0 + 1, "attributes": proto}],
    )  # fmt: skip
    llm = rec(
        n, 1, 0, name=PAYLOADS[1], kind="LLM", start_ns=t0 + 1_000_000, end_ns=t0 + 20_000_000,
        model=PAYLOADS[2], inputs={"messages": messages}, outputs={"message": messages[3]},
        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        attributes={"model_parameters": {PAYLOADS[0]: PAYLOADS[6], **proto},
                    "langchain.parameters": {"_type": PAYLOADS[7], "url": PAYLOADS[8]}},
    )  # fmt: skip
    failed = rec(
        n, 2, 0, name=PAYLOADS[6], kind="<b>TOOL</b>", start_ns=t0 + 21_000_000,
        end_ns=t0 + 30_000_000, status="ERROR",
        error={"type": PAYLOADS[0], "message": PAYLOADS[1], "stack": "\n".join(PAYLOADS)},
    )  # fmt: skip
    odd = rec(n, 3, 0, name=PAYLOADS[9], kind="TOOL", start_ns=t0 + 31_000_000,
              end_ns=t0 + 32_000_000)  # fmt: skip
    odd["span_id"] = EVIL_ID
    records = [llm, failed, odd, root]
    for record in records:
        record["project"] = PAYLOADS[3]  # in the project filter's options and the header
    return records


@pytest.fixture
def xss_page(db, serve, browse):
    write(db, xss_trace(1))
    server = serve(db)
    page, watch = browse(server.url)
    return server, page, watch


def assert_inert(page, watch, not_found_expected=False):
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("({}).polluted") is None
    assert page.evaluate("Object.prototype.polluted") is None
    assert watch.dialogs == []
    errors = watch.console_errors
    if not_found_expected:  # the browser logs the API's 404 for a trace id that is not one
        errors = [e for e in errors if "status of 404" not in e]
    assert errors == []
    assert page.evaluate("window.__csp") == []  # nothing even tried to run or load
    assert watch.blocked == []
    assert watch.off_loopback() == []
    # no element the payloads would have created exists in the document
    inert = ("iframe", "img", "script:not([src])", "link[href*=evil]", "a[href^=javascript]")
    for selector in (*inert, "style"):
        assert page.locator(selector).count() == 0, selector


def test_xss_payloads_in_the_table_are_text(xss_page):
    _, page, watch = xss_page
    row = page.locator("tr.trace-row")
    row.wait_for()
    assert PAYLOADS[0] in row.inner_text()  # shown literally
    assert_inert(page, watch)


def test_xss_payloads_in_trace_view_detail_and_architecture_are_text(xss_page):
    server, page, watch = xss_page
    page.goto(server.url + f"#/trace/{tid(1)}")
    expect(page.locator(".bar")).to_have_count(4)
    assert PAYLOADS[0] in page.locator(".trace-name").inner_text()
    # every span's detail, one after the other
    for i in range(4):
        page.locator(".label-row").nth(i).click()
        page.locator(".span-detail").wait_for()
        assert_inert(page, watch)
    page.locator(".label-row").nth(1).click()  # the LLM span: messages, tool calls
    detail = page.locator(".span-detail")
    assert "http://evil.example/image.png" in detail.inner_text()  # a URL stays text
    assert PAYLOADS[3] in detail.locator(".tool-call").first.inner_text()
    screenshot(page, "ui-xss-detail")
    # an unknown kind gets the neutral colour class, never its own markup
    assert page.locator(".bar.kind-OTHER").count() == 1
    page.locator(".tab[data-tab=architecture]").click()
    page.locator(".architecture").wait_for()
    assert page.locator("svg.graph .node").count() == 2
    labels = page.locator("svg.graph text").all_text_contents()
    assert any(label.startswith("<script>") for label in labels)  # drawn as text
    screenshot(page, "ui-xss-architecture")
    assert_inert(page, watch)


def test_search_for_a_payload_finds_it_as_text(xss_page):
    _, page, watch = xss_page
    page.locator("tr.trace-row").wait_for()
    page.fill("input[name=q]", "<script>")
    expect(page.locator("tr.trace-row")).to_have_count(1)
    assert_inert(page, watch)


def test_a_crafted_link_to_the_ui_runs_nothing(xss_page):
    """A link someone sends (``#/trace/<payload>``) shows an error as text."""
    server, page, watch = xss_page
    page.goto(server.url + "#/trace/" + "%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E")
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    assert "<img src=x onerror=window.__xss=1>" in banner.inner_text()
    page.goto(server.url + "#/?q=%3Cscript%3Ewindow.__xss%3D2%3C%2Fscript%3E")
    expect(page.locator("input[name=q]")).to_have_value("<script>window.__xss=2</script>")
    assert_inert(page, watch, not_found_expected=True)


def test_payload_project_names_are_options_as_text(xss_page):
    _, page, watch = xss_page
    page.locator("tr.trace-row").wait_for()
    option = page.locator("select[name=project] option").nth(1)
    expect(option).to_have_text(PAYLOADS[3])
    page.select_option("select[name=project]", PAYLOADS[3])
    expect(page.locator("tr.trace-row")).to_have_count(1)
    assert_inert(page, watch)
