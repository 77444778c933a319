"""The local web UI (``tracekit ui``): trace table, timeline, span detail, model architecture.

Needs the ``ui`` extra (``pip install 'tracekit-llm[ui]'``: Starlette and
uvicorn). The server reads the store only through ``tracekit.store``; the
page is static files in ``static/`` (plain JavaScript modules, no build step).
"""

from __future__ import annotations

from tracekit.ui._app import create_app
from tracekit.ui._server import DEFAULT_HOST, DEFAULT_PORT, UIServer, serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "UIServer", "create_app", "serve"]
