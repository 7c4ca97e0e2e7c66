"""Shared set-up of the ``lang/`` command-line tools."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr with time, level and source, as the recipes do."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s",
        level=logging.DEBUG if verbose else logging.INFO,
        force=True,
    )


def run_tool(body: Callable[[], None]) -> None:
    """Run a tool's body; bad input (a missing file, a malformed line) ends it with a one-line
    error naming the problem and exit status 1 instead of a traceback."""
    try:
        body()
    except (FileNotFoundError, PermissionError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
