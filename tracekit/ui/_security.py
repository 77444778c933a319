"""The web UI's guard, as ASGI middleware: Host check, same-origin writes, response headers.

Everything the UI shows is untrusted text from traced calls, and the server
listens on a port any web page in the user's browser can reach. So:

- a request whose ``Host`` header is not a name this server is bound to is
  refused (a DNS-rebinding page would send its own domain name);
- a request that changes something (``DELETE``) must prove it comes from
  the UI's own origin (``Origin`` or ``Sec-Fetch-Site``);
- every response carries a strict Content-Security-Policy (no inline
  script or style, nothing loaded from anywhere but this origin) and
  ``nosniff``, so even a rendering bug cannot run or fetch anything;
- an exception escaping the app is logged once through the ``tracekit``
  logger and answered with a JSON 500 that carries the same headers.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
SAFE_METHODS = frozenset({"GET", "HEAD"})
logger = logging.getLogger("tracekit")
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_literal(host: str) -> str:
    """How ``host`` appears in a Host header: IPv6 addresses in brackets."""
    name = host.strip("[]").lower()
    return f"[{name}]" if ":" in name else name


class HostPolicy:
    """Which ``Host`` header values a server bound to ``host``:``port`` answers.

    A loopback bind answers its own address and ``localhost``, with the port.
    A non-loopback address answers that address and the loopback names. A
    wildcard bind (``0.0.0.0``, ``::``) answers any IP address literal: DNS
    rebinding needs a domain name, and an address cannot be rebound.

    Args:
        host: the address or name the server is bound to.
        port: the port it listens on.
    """

    def __init__(self, host: str, port: int) -> None:
        self.port = port
        literal = _host_literal(host)
        names = {literal, *LOOPBACK_NAMES}
        if is_loopback(host) and literal == "localhost":
            names.add("127.0.0.1")
        if not is_loopback(host):
            names.update(("127.0.0.1", "[::1]"))
        self.wildcard = literal in ("0.0.0.0", "[::]")  # noqa: S104 - recognising, not binding
        self.allowed = frozenset(f"{name}:{port}" for name in names)
        if port == 80:  # browsers leave the default port out
            self.allowed |= frozenset(names)

    def allows(self, value: str | None) -> bool:
        """Whether a request with this ``Host`` header is for us."""
        if not value:
            return False
        value = value.strip().lower()
        if value in self.allowed:
            return True
        if self.wildcard:
            name, _, port = value.rpartition(":")
            if port == str(self.port) and _is_ip_literal(name):
                return True
        return False


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def same_origin(headers: dict[str, str], host: str) -> bool:
    """Whether a state-changing request comes from the UI's own page.

    A browser sends ``Origin`` with every ``DELETE`` and, for recent ones,
    ``Sec-Fetch-Site``; a request carrying neither cannot be shown to come
    from our page, so it is refused too (a script can send ``Origin``).
    """
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    if origin is None and site is None:
        return False
    if origin is not None and origin.lower() != f"http://{host.lower()}":
        return False
    return site is None or site == "same-origin"


class GuardMiddleware:
    """Refuse foreign Host headers and cross-origin writes; add security headers.

    Args:
        app: the application to guard.
        policy: the Host header policy of the bound address.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on with headers added to its response."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # the UI uses none: refuse rather than guard
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        host = headers.get("host")
        if not self.policy.allows(host):
            await _refuse(send, 400, "unexpected Host header: this server answers on loopback only")
            return
        if scope["method"] not in SAFE_METHODS and not same_origin(headers, host or ""):
            await _refuse(send, 403, "cross-origin request refused")
            return
        is_api = scope["path"].startswith("/api/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = list(SECURITY_HEADERS)
                if is_api:  # traced data never lingers in a cache
                    extra.append(NO_STORE)
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Logged here, once, and not re-raised: the server would print it
            # again and answer with a bare 500 that lacks the headers above.
            logger.exception("tracekit ui: internal error on %s %r", scope["method"], scope["path"])
            if not started:  # otherwise the client sees the response cut short
                await _refuse(send, 500, "internal error")


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


async def _refuse(send: Send, status: int, message: str) -> None:
    """Answer ``{"error": message}`` as the API's errors are, with the security headers."""
    body = json.dumps({"error": message}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        NO_STORE,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
