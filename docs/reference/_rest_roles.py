"""A Griffe extension for the API reference: reST roles in docstrings read as code.

Some docstrings name other objects with reST roles (``:func:`open_span```,
``:class:`~tracekit.Span```) and end a paragraph with ``::`` before an
example. The reference is rendered as Markdown, where both would show
literally. This extension rewrites each docstring as it is loaded: a role
becomes inline code of its target (a leading ``~`` dropped), and a closing
``::`` a single colon. The source is not changed. Loaded by mkdocs.yml
(``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|exc|obj|const):`~?([^`]+)`")
_LITERAL = re.compile(r"::$", re.MULTILINE)


class RestRoles(griffe.Extension):
    """Rewrite reST roles and ``::`` in every docstring Griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of ``obj`` (called once per loaded object)."""
        docstring = obj.docstring
        if docstring is not None:
            text = _ROLE.sub(r"`\1`", docstring.value)
            docstring.value = _LITERAL.sub(":", text)
