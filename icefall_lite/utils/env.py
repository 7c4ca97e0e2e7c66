"""Environment information that every run logs first.

Example::

    >>> from icefall_lite.utils.env import get_env_info
    >>> {"python", "torch", "k2_backend", "icefall_lite_git_sha"} <= set(get_env_info())
    True
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import platform
import subprocess
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_sha(repo: Path = _REPO_ROOT) -> str:
    """The short git sha of the icefall_lite checkout, with ``-dirty`` for local changes."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def get_env_info() -> dict[str, str]:
    """Versions of Python, torch, the active k2 backend, lhotse and icefall_lite (with git sha)."""
    import torch

    from icefall_lite import __version__, k2

    k2_version = _version("k2") if k2.backend == "k2" else "-"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda_available": str(torch.cuda.is_available()),
        "k2_backend": k2.backend,
        "k2_version": k2_version,
        "lhotse": _version("lhotse"),
        "icefall_lite": __version__,
        "icefall_lite_git_sha": git_sha(),
        "hostname": platform.node(),
    }


def log_env_info(logger: logging.Logger | None = None) -> dict[str, str]:
    """Log :func:`get_env_info` (one line per item) and return it."""
    logger = logger or logging.getLogger("icefall_lite")
    info = get_env_info()
    for key, value in info.items():
        logger.info("env %s: %s", key, value)
    return info


def main(argv: list[str] | None = None) -> None:
    """Print :func:`get_env_info`, one ``key: value`` line each (``icefall-lite-env-info``)."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    for key, value in get_env_info().items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
