"""Fsa.from_str refuses a text that declares far more states than its arcs can touch (a one-line
text must not allocate 10^8 states), and still takes FSAs with a few arc-less states."""

from __future__ import annotations

import resource

import pytest

from icefall_lite.fsa import Fsa


@pytest.mark.parametrize("text,kwargs", [
    ("0 100000000 -1 0", {"openfst": True}),
    ("0 100000000 -1 0\n100000000", {}),
    ("100000000", {}),
])
def test_a_huge_state_count_with_few_arcs_is_an_error_before_any_allocation(text, kwargs):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"declares 10000000[0-2] states but gives only [01] "
                                         r"arcs"):
        Fsa.from_str(text, **kwargs)
    # 10^8 states would take hundreds of MB (row splits, counts); peak memory stays put
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_the_k2_one_liner_without_a_final_state_is_an_error():
    with pytest.raises(ValueError, match="missing the final-state line"):
        Fsa.from_str("0 100000000 -1 0")


def test_fsas_with_some_states_without_arcs_still_parse():
    fsa = Fsa.from_str("0 1 3 0.5\n1 5 -1 0\n5")  # states 2, 3, 4 have no arcs
    assert fsa.shape[0] == 6 and fsa.num_arcs == 2
