"""Parity of the built-in RnntDecodingStreams with real k2 1.23.4 (k2 environment only):
same states, arcs, labels, score bits and aux_labels, in the same order. Every test runs both
built-in engines: numpy (the CPU default) and torch (other devices)."""

from __future__ import annotations

import pytest
import torch
from stream_helpers import TableJoiner, decode_with, lattice_arrays, make_graph, random_lg_arcs

from icefall_lite.fsa import paths
from icefall_lite.transducer import decode_stream

CONFIGS = [(4.0, 8, 3), (8.0, 32, 8), (20.0, 64, 8), (3.0, 4, 2)]
NUM_FRAMES = [7, 3, 5]


@pytest.fixture(autouse=True, params=["numpy", "torch"])
def engine(request, monkeypatch):
    monkeypatch.setattr(paths, "NUMPY_LOOPS", request.param == "numpy")
    return request.param


def assert_same_lattice(expected, actual):
    e, a = lattice_arrays(expected), lattice_arrays(actual)
    assert e["row_splits1"].tolist() == a["row_splits1"].tolist(), "states per FSA differ"
    assert e["row_splits2"].tolist() == a["row_splits2"].tolist(), "arcs per state differ"
    assert torch.equal(e["arcs"], a["arcs"]), "src/dest/label differ"
    assert torch.equal(e["score_bits"], a["score_bits"]), "scores differ"
    if isinstance(e["aux_labels"], torch.Tensor):
        assert torch.equal(e["aux_labels"].int(), a["aux_labels"].int()), "aux_labels differ"
    else:
        assert e["aux_labels"] == a["aux_labels"], "aux_labels differ"


@pytest.mark.k2
@pytest.mark.parametrize("context_size", [1, 2])
@pytest.mark.parametrize("beam,max_states,max_contexts", CONFIGS)
def test_trivial_graph_lattice_equals_k2(real_k2, builtin_k2, beam, max_states, max_contexts,
                                         context_size):
    joiner = TableJoiner(len(NUM_FRAMES), max(NUM_FRAMES), vocab_size=5,
                         context_size=context_size, seed=1)
    run = lambda ns: decode_with(  # noqa: E731
        ns, [ns.trivial_graph(4)] * len(NUM_FRAMES), joiner, NUM_FRAMES, beam, max_states,
        max_contexts,
    )
    assert_same_lattice(run(real_k2), run(builtin_k2))


@pytest.mark.k2
@pytest.mark.parametrize("allow_partial", [False, True])
@pytest.mark.parametrize("beam,max_states,max_contexts", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lg_like_graph_lattice_equals_k2(real_k2, builtin_k2, seed, beam, max_states,
                                         max_contexts, allow_partial):
    lg_a = random_lg_arcs(6, 5, 20, seed)
    lg_b = random_lg_arcs(6, 4, 20, seed + 100)
    joiner = TableJoiner(len(NUM_FRAMES), max(NUM_FRAMES), vocab_size=6, context_size=2,
                         seed=seed)

    def run(ns):
        a, b = make_graph(ns, *lg_a), make_graph(ns, *lg_b)
        return decode_with(ns, [a, b, a], joiner, NUM_FRAMES, beam, max_states, max_contexts,
                           allow_partial)

    assert_same_lattice(run(real_k2), run(builtin_k2))


@pytest.mark.k2
def test_chunked_lattice_equals_k2(real_k2, builtin_k2):
    joiner = TableJoiner(2, 9, vocab_size=5, context_size=3, seed=3)
    run = lambda ns: decode_with(  # noqa: E731
        ns, [ns.trivial_graph(4)] * 2, joiner, [9, 6], 6.0, 16, 4, chunks=[4, 2, 3]
    )
    assert_same_lattice(run(real_k2), run(builtin_k2))


@pytest.mark.k2
@pytest.mark.parametrize("strong_factor", [1, 4])
@pytest.mark.parametrize("graph_kind", ["trivial", "lg"])
@pytest.mark.parametrize("beam,max_states,max_contexts", [(20.0, 8, 4), (6.0, 16, 3), (9.0, 3, 8)])
def test_large_vocab_lattice_equals_k2(real_k2, builtin_k2, monkeypatch, engine, strong_factor,
                                       graph_kind, beam, max_states, max_contexts):
    """A vocabulary of 40 gives each state far more arcs than max_states, so the numpy engine's
    first pass over the strong arcs decides most streams, and with strong_factor 1 it often
    falls back to all arcs within the beam."""
    monkeypatch.setattr(decode_stream, "_STRONG_FACTOR", strong_factor)
    V, frames = 40, [12, 9, 12, 5, 10, 12]
    joiner = TableJoiner(len(frames), max(frames), vocab_size=V, context_size=2, seed=6,
                         scale=1.0)
    lg = random_lg_arcs(V, 30, 50, seed=8)

    def run(ns):
        graph = ns.trivial_graph(V - 1) if graph_kind == "trivial" else make_graph(ns, *lg)
        return decode_with(ns, [graph] * len(frames), joiner, frames, beam, max_states,
                           max_contexts, allow_partial=graph_kind == "lg")

    assert_same_lattice(run(real_k2), run(builtin_k2))
