"""Reading backend URLs: the path convention and the query options (shared by every backend)."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qsl


def path_of(url: str, rest: str) -> str:
    """The path of ``scheme:///rel`` (relative) or ``scheme:////abs`` (absolute).

    Raises:
        ValueError: a URL with no path.
    """
    # SQLAlchemy's convention: "scheme:///rel/path" (rest "/rel/path") is relative,
    # "scheme:////abs/path" (rest "//abs/path") is absolute.
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError(
            f"backend URL {url!r} has no path: use three slashes for a relative path "
            "(jsonl:///spans.jsonl) or four for an absolute one (jsonl:////tmp/spans.jsonl)"
        )
    return rest[1:]


def parse_options(url: str, query: str, known: Collection[str]) -> dict[str, str]:
    """The options of a backend URL's query string (``a=1&b=2``), all of them known.

    Raises:
        ValueError: an option the backend does not know (the error lists those it does).
    """
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - set(known)
    if unknown:
        raise ValueError(
            f"backend URL {url!r}: unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    return options
