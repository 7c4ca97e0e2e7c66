"""A log file per rank under ``EXP_DIR/log/`` plus console output.

File names follow icefall: ``log-train-<date-time>`` for a single process and
``log-train-<date-time>-<world_size>-<rank>`` under DDP.

Example::

    handle = setup_logger(Path("exp/log/log-train"), rank=0, world_size=1)
    ...
    handle.close()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


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
    """Attach a file handler (and, on rank 0, a console handler) to the root logger."""
    stamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    name = f"{log_prefix.name}-{stamp}" + (f"-{world_size}-{rank}" if world_size > 1 else "")
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    path = log_prefix.parent / name
    fmt = f"%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] ({rank}/{world_size}) %(message)s"
    handlers: list[logging.Handler] = [logging.FileHandler(path)]
    if rank == 0:
        handlers.append(logging.StreamHandler())
    root = logging.getLogger()
    handle = LogHandle(handlers, root.level, path)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(fmt))
        handler.setLevel(level)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handle


def remove_handlers(handle: LogHandle) -> None:
    """Undo :func:`setup_logger` (same as ``handle.close()``)."""
    handle.close()
