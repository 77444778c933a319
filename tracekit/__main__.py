"""``python -m tracekit``: the ``tracekit`` command line, with the same exit status."""

from __future__ import annotations

import sys

from tracekit.cli import main

if __name__ == "__main__":
    sys.exit(main())
