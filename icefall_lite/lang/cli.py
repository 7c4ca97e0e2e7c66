"""Shared error handling of the ``lang/`` and data-preparation command-line tools.

Their log set-up is :func:`icefall_lite.utils.logging.setup_logging`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


def run_tool(body: Callable[[], None]) -> None:
    """Run a tool's body; bad input (a missing or unwritable file, a malformed line, a failed
    download) ends it with a one-line error naming the problem and exit status 1 instead of a
    traceback."""
    try:
        body()
    except (OSError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
