"""Where the tests find real corpora: one setting, the environment variable ICEFALL_LITE_DL_DIR
(the corpus download directory, read-only), default ``../shared/download`` beside the checkout.
Tests reach it through the ``corpus_dir`` fixture of tests/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DL_DIR_VAR = "ICEFALL_LITE_DL_DIR"
DEFAULT_DL_DIR = Path(__file__).resolve().parents[2] / "shared" / "download"


def download_dir() -> Path:
    """The corpus download directory the tests read: ``$ICEFALL_LITE_DL_DIR`` or the default."""
    return Path(os.environ.get(DL_DIR_VAR) or DEFAULT_DL_DIR).resolve()


def find_corpus(name: str) -> Path:
    """``<download dir>/<name>``, or a test failure that says which setting to change."""
    root = download_dir()
    path = root / name
    if not path.is_dir():
        pytest.fail(
            f"corpus {name!r} not found: {path} is not a directory. Set {DL_DIR_VAR} to the "
            f"directory that holds the downloaded corpora (now {root}; default {DEFAULT_DL_DIR})",
            pytrace=False,
        )
    return path
