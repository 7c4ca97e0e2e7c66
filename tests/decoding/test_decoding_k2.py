"""The lattice methods give identical answers with the built-in backend and real k2 (k2
environment only). The backend follows the graph: a built-in Fsa decodes with built-in code."""

from __future__ import annotations

import pytest
import torch
from fake_model import FakeTransducer, random_lg

from icefall_lite.decoding import (
    fast_beam_search,
    fast_beam_search_nbest,
    fast_beam_search_nbest_LG,
    fast_beam_search_nbest_oracle,
    fast_beam_search_one_best,
)

SETTINGS = [dict(beam=4.0, max_states=16, max_contexts=4), dict(beam=20.0, max_states=64,
                                                                 max_contexts=8)]


def lattice_summary(lattice):
    aux = lattice.aux_labels
    return (
        lattice.arcs.shape().row_splits(1).tolist(),
        lattice.arcs.values().tolist(),
        aux.tolist(),
    )


@pytest.fixture
def batch():
    torch.manual_seed(9)
    model = FakeTransducer(vocab_size=6, context_size=2, scale=1.5)
    enc, lens = model.random_batch([9, 5, 7, 3])
    return model, enc, lens


@pytest.mark.k2
@pytest.mark.parametrize("settings", SETTINGS)
def test_trivial_graph_answers_equal_k2(real_k2, builtin_k2, batch, settings):
    model, enc, lens = batch
    refs = [[1, 2, 3], [4], [5, 5], []]

    def run(ns):
        g = ns.trivial_graph(5)
        return (
            lattice_summary(fast_beam_search(model, g, enc, lens, **settings)),
            fast_beam_search_one_best(model, g, enc, lens, **settings),
            fast_beam_search_nbest(model, g, enc, lens, num_paths=30, **settings),
            fast_beam_search_nbest_oracle(model, g, enc, lens, refs, num_paths=30, **settings),
        )

    expected, actual = run(real_k2), run(builtin_k2)
    assert expected[0] == actual[0], "lattices differ"
    assert expected[1:] == actual[1:]


@pytest.mark.k2
@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("allow_partial", [False, True])
def test_lg_answers_equal_k2(real_k2, builtin_k2, batch, settings, allow_partial):
    model, enc, lens = batch

    def run(ns):
        lg = random_lg(ns, 6, 6, [11, 12, 13, 14], seed=4)
        kw = dict(settings, allow_partial=allow_partial)
        return (
            lattice_summary(fast_beam_search(model, lg, enc, lens, **kw)),
            fast_beam_search_one_best(model, lg, enc, lens, **kw),
            fast_beam_search_nbest_LG(model, lg, enc, lens, num_paths=30, **kw),
            fast_beam_search_nbest_LG(model, lg, enc, lens, num_paths=30, log_semiring=False,
                                      **kw),
        )

    expected, actual = run(real_k2), run(builtin_k2)
    assert expected[0] == actual[0], "lattices differ"
    assert expected[1:] == actual[1:]
