"""The frontend's files, served from a table read once at startup (no path reaches the disk).

The static folder ships inside the package. Its files are listed when the
app is built, and a request is answered only when its path is exactly one
of those names: ``..``, encoded or double-encoded separators, absolute
paths and symlinks have nothing to resolve against.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; importlib.abc's alias warns on 3.12+
    from importlib.abc import Traversable

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclasses.dataclass(frozen=True)
class Asset:
    """One file of the frontend."""

    body: bytes
    content_type: str


def load_assets() -> dict[str, Asset]:
    """Every servable file under ``tracekit/ui/static``, by its path relative to it."""
    assets: dict[str, Asset] = {}
    root = resources.files("tracekit.ui").joinpath("static")
    pending: list[tuple[str, Traversable]] = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((name + "/", entry))
                continue
            suffix = "." + entry.name.rpartition(".")[2]
            if suffix in CONTENT_TYPES:  # anything else (editor backups...) is not served
                assets[name] = Asset(entry.read_bytes(), CONTENT_TYPES[suffix])
    return assets


class StaticFiles:
    """Answers ``/static/<name>`` from the table, 404 for any other name.

    Args:
        assets: the table from :func:`load_assets`.
    """

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets

    def response(self, name: str) -> Response:
        """The file called ``name``, or a 404."""
        asset = self.assets.get(name)
        if asset is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        # no-cache: revalidated on each load, so an upgraded tracekit is seen at once
        return Response(
            asset.body, media_type=asset.content_type, headers={"cache-control": "no-cache"}
        )

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint for ``/static/{name:path}``."""
        return self.response(str(request.path_params["name"]))

    async def index(self, request: Request) -> Response:
        """The page itself, at ``/``."""
        return self.response("index.html")
