"""In the k2 environment the facade picks real k2 and still holds the built-in namespace."""

import pytest

from icefall_lite import k2


@pytest.mark.k2
def test_k2_environment_uses_real_k2(real_k2):
    assert k2.backend == "k2"
    assert k2.implementation is real_k2
    assert k2.Fsa is real_k2.Fsa
    assert k2.builtin is not real_k2
