"""Shared fixtures.

Parity tests carry ``@pytest.mark.k2`` and run only in the k2 environment (``make test`` runs
``-m k2`` there and ``-m "not k2"`` in the main environment), so no test is ever skipped for a
missing backend. They live in files whose name contains ``k2`` (the k2 environment, which lacks
lhotse, sentencepiece and the rest, collects only those), take ``real_k2`` and ``builtin_k2``, and
compare the two on the same inputs, usually through ``on_both``.

Tests that read a real corpus take its location from one setting, the environment variable
``ICEFALL_LITE_DL_DIR`` (the corpus download directory, read-only; default ``../shared/download``
beside the checkout), through the ``corpus_dir`` fixture; a missing corpus fails the test with a
message naming the setting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from corpus_setting import find_corpus


def pytest_ignore_collect(collection_path, config):
    """Under ``-m k2`` collect only the parity files (``*k2*.py``), and no folder without one
    (its conftest.py may need packages that only the main environment has)."""
    if config.getoption("markexpr") != "k2":
        return None
    if collection_path.is_dir():
        return not any("k2" in p.name for p in collection_path.rglob("*.py"))
    if collection_path.suffix == ".py":
        return "k2" not in collection_path.name
    return None


@pytest.fixture(scope="session")
def corpus_dir() -> Callable[[str], Path]:
    """``corpus_dir("an4")`` -> the corpus directory under ``$ICEFALL_LITE_DL_DIR`` (fails the
    test, naming the setting, when it is absent)."""
    return find_corpus


@pytest.fixture(scope="session")
def yesno_dir(corpus_dir) -> Path:
    """The yesno corpus (``waves_yesno``) under the corpus setting."""
    return corpus_dir("waves_yesno")


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def real_k2():
    import k2

    return k2


@pytest.fixture
def builtin_k2():
    from icefall_lite.k2 import builtin

    return builtin


def assert_nested_close(expected, actual, rtol=1e-5, atol=1e-5, path="result"):
    """Compare nested lists/tuples/dicts of tensors, numbers and strings."""
    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        expected_t = torch.as_tensor(expected)
        actual_t = torch.as_tensor(actual)
        assert expected_t.shape == actual_t.shape, (
            f"{path}: shape {actual_t.shape} != {expected_t.shape}"
        )
        if expected_t.is_floating_point() or actual_t.is_floating_point():
            torch.testing.assert_close(
                actual_t.double(), expected_t.double(), rtol=rtol, atol=atol, equal_nan=True,
                msg=lambda m: f"{path}: {m}",
            )
        else:
            assert torch.equal(actual_t, expected_t), f"{path}: {actual_t} != {expected_t}"
    elif isinstance(expected, dict):
        assert set(expected) == set(actual), f"{path}: keys {set(actual)} != {set(expected)}"
        for key in expected:
            assert_nested_close(expected[key], actual[key], rtol, atol, f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_nested_close(e, a, rtol, atol, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=rtol, abs=atol), (
            f"{path}: {actual} != {expected}"
        )
    else:
        assert expected == actual, f"{path}: {actual!r} != {expected!r}"


@pytest.fixture
def on_both(real_k2, builtin_k2):
    """``on_both(check, rtol=, atol=)`` runs ``check(k2_namespace)`` with real k2 and with the
    built-in backend and asserts the two results (nested tensors/lists/numbers) are equal."""

    def run(check, rtol=1e-5, atol=1e-5):
        expected = check(real_k2)
        actual = check(builtin_k2)
        assert_nested_close(expected, actual, rtol=rtol, atol=atol)
        return expected, actual

    return run
