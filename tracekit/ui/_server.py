"""Serving the UI: bind the socket, warn about non-loopback hosts, run uvicorn.

The socket is bound here, before the app is built, so the app knows the
port it really listens on (``--port 0`` picks a free one) and can check Host
headers against it.
"""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from typing import IO

import uvicorn

from tracekit.store import Store
from tracekit.ui._app import create_app
from tracekit.ui._security import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7842

NON_LOOPBACK_WARNING = """\
WARNING: tracekit ui is listening on {host}, which is not a loopback address.
Anyone who can reach this machine on port {port} can read every trace in {db}
(prompts, model answers, tool outputs) and delete traces. There is no login.
Use the default (127.0.0.1) unless this network is yours alone."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (``localhost`` means 127.0.0.1)."""
    if host == "localhost":  # one address, the one the Host check expects
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it a response's head and body wait out the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    """The address to open in a browser."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is reachable on loopback
        host = "127.0.0.1"
    name = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{name}:{port}/"


class UIServer:
    """The UI's web server for one store.

    Args:
        db: the store's database file; it must exist.
        host: the address to bind (loopback by default).
        port: the port; 0 picks a free one.

    Raises:
        tracekit.store.StoreError: ``db`` is not a readable store.
        OSError: the address cannot be bound.
    """

    def __init__(self, db: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        Store(db).close()  # a missing or foreign file is reported now, in one line
        self.db = db
        self.host = host
        self.socket = bind(host, port)
        self.port = int(self.socket.getsockname()[1])
        self.url = url_for(host, self.port)
        app = create_app(db, host=host, port=self.port)
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", server_header=False, access_log=False
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C), in this thread."""
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; return once it accepts requests."""
        self._thread = threading.Thread(target=self.run, name="tracekit-ui", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the tracekit ui server did not start")
            time.sleep(0.01)  # polling a flag uvicorn sets; no event is exposed

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()


def serve(
    db: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    open_browser: bool = False,
    out: IO[str],
    err: IO[str],
) -> None:
    """Run ``tracekit ui``: print where it listens, warn off loopback, serve until Ctrl-C."""
    server = UIServer(db, host, port)
    if not is_loopback(host):
        print(NON_LOOPBACK_WARNING.format(host=host, port=server.port, db=db), file=err)
        err.flush()
    print(f"tracekit ui: serving {db} at {server.url} (Ctrl-C to stop)", file=out)
    out.flush()
    if open_browser:
        webbrowser.open(server.url)  # the socket already listens: the request waits for us
    server.run()
