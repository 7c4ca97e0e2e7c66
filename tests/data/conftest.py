"""Fixtures of the data tests: a synthetic AN4-layout corpus and its features (built once).

The k2 environment has neither lhotse nor soundfile and this area has no parity tests
(``-m k2`` would deselect all of them), so there its test files are not even collected.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

if importlib.util.find_spec("lhotse") is None or importlib.util.find_spec("soundfile") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def synthetic_an4(tmp_path_factory) -> Path:
    """A download directory holding a small, valid AN4-layout corpus (6 train, 2 test)."""
    from data_helpers import GOOD_UTTERANCES, make_an4_corpus

    dl_dir = tmp_path_factory.mktemp("download")
    make_an4_corpus(dl_dir, GOOD_UTTERANCES)
    return dl_dir


@pytest.fixture(scope="session")
def synthetic_fbank(synthetic_an4, tmp_path_factory) -> tuple[Path, Path]:
    """(manifest dir, fbank dir) of the synthetic corpus; train speed-perturbed."""
    from icefall_lite.data.fbank import compute_fbank
    from icefall_lite.data.prepare_manifests import prepare_manifests

    out = tmp_path_factory.mktemp("data")
    prepare_manifests("an4", synthetic_an4, out / "manifests")
    compute_fbank(out / "manifests", out / "fbank", "an4", perturb_speed_splits=["train"])
    return out / "manifests", out / "fbank"
