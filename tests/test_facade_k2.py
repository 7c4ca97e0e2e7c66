"""In the k2 environment the facade picks real k2 and still holds the built-in namespace."""

import pytest

from icefall_lite import k2


@pytest.mark.k2
def test_k2_environment_uses_real_k2(real_k2):
    assert k2.backend == "k2"
    assert k2.implementation is real_k2
    assert k2.Fsa is real_k2.Fsa
    assert k2.builtin is not real_k2


@pytest.mark.k2
def test_namespace_of_follows_the_object(real_k2):
    assert k2.namespace_of(real_k2.trivial_graph(3)) is real_k2
    assert k2.namespace_of(k2.builtin.trivial_graph(3)) is k2.builtin
