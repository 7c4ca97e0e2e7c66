"""The k2 facade: backend switch, the built-in namespace, and a clear error where k2 is missing."""

import importlib.util
import os
import subprocess
import sys

import pytest

from icefall_lite import k2
from icefall_lite.utils.env import get_env_info

HAVE_K2 = importlib.util.find_spec("k2") is not None


def _backend_in_subprocess(choice: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ICEFALL_LITE_K2=choice)
    return subprocess.run(
        [sys.executable, "-c", "from icefall_lite import k2; print(k2.backend)"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_auto_backend_matches_k2_availability():
    expected = "k2" if HAVE_K2 else "builtin"
    result = _backend_in_subprocess("auto")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_builtin_switch_forces_builtin_backend():
    result = _backend_in_subprocess("builtin")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "builtin"


def test_unknown_switch_value_is_rejected():
    result = _backend_in_subprocess("gpu")
    assert result.returncode != 0
    assert "ICEFALL_LITE_K2='gpu'" in result.stderr


def test_forcing_k2_where_missing_fails_clearly():
    result = _backend_in_subprocess("k2")
    if HAVE_K2:
        assert result.returncode == 0 and result.stdout.strip() == "k2", result.stderr
    else:
        assert result.returncode != 0
        assert "ICEFALL_LITE_K2=k2 asks for real k2" in result.stderr


def test_builtin_namespace_is_always_available():
    assert k2.builtin.__name__ == "icefall_lite.k2_builtin"
    assert set(k2.builtin.__all__) <= set(k2.__all__)
    with pytest.raises(AttributeError, match="no attribute 'not_a_k2_name'"):
        k2.builtin.not_a_k2_name  # noqa: B018


def test_facade_exposes_the_architecture_names():
    names = (
        "Fsa RaggedTensor arc_sort connect top_sort invert intersect_device random_paths "
        "shortest_path linear_fsa linear_fsa_with_self_loops trivial_graph levenshtein_graph "
        "levenshtein_alignment index_fsa create_fsa_vec to_str_simple mutual_information_recursion "
        "rnnt_loss rnnt_loss_simple rnnt_loss_smoothed get_rnnt_prune_ranges do_rnnt_pruning "
        "rnnt_loss_pruned RnntDecodingConfig RnntDecodingStream RnntDecodingStreams"
    ).split()
    assert set(names) <= set(k2.builtin.__all__)


def test_env_info_names_the_backend():
    info = get_env_info()
    assert info["k2_backend"] == k2.backend
    assert info["python"].count(".") == 2
    assert info["icefall_lite_git_sha"]


def test_namespace_of_names_the_backend_that_made_an_object():
    graph = k2.builtin.trivial_graph(3)
    assert k2.namespace_of(graph) is k2.builtin
    assert k2.namespace_of(k2.builtin.RaggedTensor([[1, 2], [3]])) is k2.builtin


def test_builtin_streams_refuse_a_graph_of_another_backend():
    class ForeignFsa:  # stands for an object made by another backend
        arcs = None

    with pytest.raises(TypeError, match="expected a built-in Fsa"):
        k2.builtin.RnntDecodingStream(ForeignFsa())


def test_only_the_facade_picks_a_backend():
    """No module of the package other than the facade imports real k2 (or its extension)."""
    import pathlib
    import re

    root = pathlib.Path(k2.__file__).parent
    pattern = re.compile(r"^\s*(import _?k2\b|from _?k2\b|.*import_module\(\"_?k2\"\))", re.M)
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if p.name != "k2.py" and pattern.search(p.read_text())
    ]
    assert offenders == []
