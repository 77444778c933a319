"""Fixtures for the web UI: a store, the API client, a live server and headless Chromium.

Browser tests drive Debian's ``/usr/bin/chromium`` through Playwright (never
a downloaded browser). Without that binary they skip locally, but fail when
``CI`` is set: ``.ci/run`` installs it, and there they must run. Screenshots
go to ``build/ui-artifacts/`` (gitignored); with ``TRACEKIT_UI_DOCS=1`` the
ones the docs use are also written to ``docs/images/``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from ui_helpers import langchain_trace, research_trace, write

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Set up before any page script runs (Playwright injects it outside the page's CSP).
GUARD_SCRIPT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "traces.db")


@pytest.fixture
def sample_db(db):
    write(db, research_trace(1) + langchain_trace(2, project="graphs"))
    return db


@pytest.fixture
def client(sample_db):
    """The API through Starlette's TestClient, as a browser on 127.0.0.1:7842 sees it."""
    from starlette.testclient import TestClient

    from tracekit.ui import create_app

    app = create_app(sample_db, host="127.0.0.1", port=7842)
    with TestClient(app, base_url="http://127.0.0.1:7842") as test_client:
        yield test_client


@pytest.fixture
def serve():
    """Start UI servers on free loopback ports; each is stopped after the test."""
    from tracekit.ui import UIServer

    servers = []

    def start(db, host="127.0.0.1"):
        server = UIServer(db, host, 0)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium through Playwright (skipped only off CI without the binary)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing: .ci/run must install chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI runs these")
    from playwright.sync_api import expect, sync_playwright

    # a loaded 2-core CI machine: waits are polls with a deadline, so a long one costs nothing
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """What a page did besides rendering: requests, dialogs, console errors, CSP reports."""

    def __init__(self):
        self.requests = []
        self.blocked = []
        self.dialogs = []
        self.console_errors = []
        self.accept_dialogs = False

    def off_loopback(self):
        return [u for u in self.requests if urlsplit(u).hostname not in ("127.0.0.1",)]


@pytest.fixture
def browse(chromium, request):
    """Open a page on a server's URL with every request, dialog and console error recorded.

    Requests to anything but 127.0.0.1 are aborted (and recorded): nothing
    leaves the machine even if a test fails.
    """
    contexts = []

    def open_page(url, width=1400, height=900):
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        watch = Watch()

        def route(r):
            watch.requests.append(r.request.url)
            if urlsplit(r.request.url).hostname == "127.0.0.1":
                r.continue_()
            else:
                watch.blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)

        def dialog(d):
            watch.dialogs.append(d.message)
            d.accept() if watch.accept_dialogs else d.dismiss()

        page.on("dialog", dialog)
        page.on("console", lambda m: m.type == "error" and watch.console_errors.append(m.text))
        page.on("pageerror", lambda e: watch.console_errors.append(str(e)))
        page.add_init_script(GUARD_SCRIPT)
        page.set_default_timeout(15_000)
        page.goto(url)
        return page, watch

    yield open_page
    for context in contexts:
        context.close()
