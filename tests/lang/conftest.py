"""Toy lang directories, built once per session with the ``lang/`` command-line tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from lang_helpers import build_bpe_lang, build_phone_lang


@pytest.fixture(scope="session")
def phone_lang(tmp_path_factory) -> Path:
    return build_phone_lang(tmp_path_factory.mktemp("phone_lang"))


@pytest.fixture(scope="session")
def bpe_lang(tmp_path_factory) -> Path:
    return build_bpe_lang(tmp_path_factory.mktemp("bpe_lang"))


@pytest.fixture(scope="session")
def bpe_sil_lang(tmp_path_factory) -> Path:
    return build_bpe_lang(tmp_path_factory.mktemp("bpe_sil_lang"), sil_piece=True)
