"""Shared error handling of the ``lang/`` command-line tools.

Their log set-up is :func:`icefall_lite.utils.logging.setup_logging`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


def run_tool(body: Callable[[], None]) -> None:
    """Run a tool's body; bad input (a missing file, a malformed line) ends it with a one-line
    error naming the problem and exit status 1 instead of a traceback."""
    try:
        body()
    except (FileNotFoundError, PermissionError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
