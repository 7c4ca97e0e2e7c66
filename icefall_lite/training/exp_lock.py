"""One training run per experiment directory: ``EXP_DIR/train.lock``.

The lock is a POSIX record lock (``lockf``) on ``EXP_DIR/train.lock``, which also holds the
owner's pid and host. The kernel drops it when its process dies (SIGKILL included), and, unlike
an ``flock``, it is not shared with forked children (DataLoader workers), so a lock left behind
by a dead run is simply taken over (with a log line naming the dead pid); a second run while the
first is alive stops with :class:`ExpDirLockedError`. One process holds one lock per directory.

Example::

    with ExpDirLock(Path("zipformer/exp")):
        ...  # train
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
from pathlib import Path

__all__ = ["ExpDirLock", "ExpDirLockedError"]

logger = logging.getLogger(__name__)

LOCK_NAME = "train.lock"


class ExpDirLockedError(RuntimeError):
    """Another live process trains into the same experiment directory."""


class ExpDirLock:
    """The exclusive right to write into ``exp_dir`` (a context manager; ``acquire``/``release``
    for explicit use)."""

    def __init__(self, exp_dir: str | Path) -> None:
        self.path = Path(exp_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                os.close(fd)
                raise
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ExpDirLockedError(
                f"--exp-dir {self.path.parent} is in use by a running train.py ({owner}; lock "
                f"{self.path}): wait for it to finish, or train into another --exp-dir"
            ) from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if previous:
            logger.warning("%s was left by %s, which is no longer running: taking it over",
                           self.path, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Empty the file first: a lock file with content means "its owner did not finish".
        os.ftruncate(self._fd, 0)
        fcntl.lockf(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ExpDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
