"""Log set-up shared by the command-line tools, training and decoding: one line format.

- :func:`setup_logging`: console only, for the ``lang/`` tools and the data preparation steps.
- :func:`setup_logger`: a log file per rank plus console output, for training and decoding runs.
  File names follow icefall: ``log-train-<date-time>`` for a single process and
  ``log-train-<date-time>-<world_size>-<rank>`` under DDP.

Example::

    setup_logging(verbose=True)
    handle = setup_logger(Path("exp/log/log-train"), rank=0, world_size=1)
    ...
    handle.close()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["LogHandle", "log_format", "setup_logger", "setup_logging"]


def log_format(rank: int | None = None, world_size: int | None = None) -> str:
    """Time, level and source of every line, as the recipes log; ``(rank/world_size)`` in runs."""
    where = f" ({rank}/{world_size})" if rank is not None else ""
    return f"%(asctime)s %(levelname)s [%(filename)s:%(lineno)d]{where} %(message)s"


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr (replacing earlier handlers); DEBUG when ``verbose``, else INFO."""
    logging.basicConfig(
        format=log_format(), level=logging.DEBUG if verbose else logging.INFO, force=True
    )


@dataclass
class LogHandle:
    """What :func:`setup_logger` changed on the root logger, so :meth:`close` can undo it."""

    handlers: list[logging.Handler]
    previous_level: int
    path: Path

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self.previous_level)


def setup_logger(
    log_prefix: Path, rank: int, world_size: int, level: int = logging.INFO
) -> LogHandle:
    """Attach a file handler (and, on rank 0, a console handler) to the root logger.

    The file is ``<log_prefix>-<date-time>`` (``-<world_size>-<rank>`` appended under DDP, and
    ``.1``, ``.2``, ... when another run took that name in the same second); its folder is
    created. A run never appends to another run's log. Call ``close()`` on the returned handle
    to detach both handlers again.
    """
    stamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    name = f"{log_prefix.name}-{stamp}" + (f"-{world_size}-{rank}" if world_size > 1 else "")
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    # Never append to another run's log: a name already taken gets a counter.
    for attempt in range(1000):
        path = log_prefix.parent / (name if attempt == 0 else f"{name}.{attempt}")
        try:
            handler = logging.FileHandler(path, mode="x")
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free log file name {log_prefix.parent / name}.N")
    handlers: list[logging.Handler] = [handler]
    if rank == 0:
        handlers.append(logging.StreamHandler())
    root = logging.getLogger()
    handle = LogHandle(handlers, root.level, path)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(log_format(rank, world_size)))
        handler.setLevel(level)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handle
