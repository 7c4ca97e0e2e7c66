"""The CTC lattice methods (nbest, nbest-rescoring, whole-lattice-rescoring, nbest-oracle) on
small random HLG-like graphs and random log-probs (k2 environment only): the built-in backend
gives the same word sequences as a reference written here with real k2 calls that mirrors
icefall's ``nbest_decoding`` / ``rescore_with_whole_lattice``, and as the same module run on
real k2 (the backend follows the graph)."""

from __future__ import annotations

import random

import pytest
import torch
from ctc_graphs import random_hlg_text, random_word_lm_text

from icefall_lite.decoding import rescore
from icefall_lite.decoding.ctc import ctc_decode_keyed
from icefall_lite.decoding.lattice import get_texts

pytestmark = pytest.mark.k2

SCALES = [0.3, 1.0, 2.5]
NUM_PATHS, NBEST_SCALE = 12, 0.6
BEAMS = dict(search_beam=20.0, output_beam=8.0, min_active_states=30, max_active_states=10000)


def make_inputs(seed: int):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    hlg, lm = random_hlg_text(rng), random_word_lm_text(rng)
    log_probs = torch.randn(3, 6, 4).mul(2).log_softmax(-1)
    lens = torch.tensor([6, 4, 5])
    return hlg, lm, log_probs, lens


def build(k2, hlg: str, lm: str):
    graph = k2.arc_sort(k2.Fsa.from_str(hlg, acceptor=False))
    return graph, k2.Fsa.from_str(lm, acceptor=True)


def reference_lattice(k2, graph, log_probs, lens):
    segs = torch.stack([torch.arange(lens.numel()), torch.zeros_like(lens), lens], 1)
    dense = k2.DenseFsaVec(log_probs, segs.to(torch.int32))
    graph = graph.clone()
    graph.lm_scores = graph.scores.clone()
    return k2.intersect_dense_pruned(graph, dense, **BEAMS)


def reference_nbest(k2, lattice) -> list[list[int]]:
    """icefall's nbest_decoding with real k2: sample, score each word sequence by its best
    path through the lattice, take the best."""
    nbest = k2.Nbest.from_lattice(lattice, NUM_PATHS, True, NBEST_SCALE)
    word_fsa = k2.invert(nbest.fsa)
    word_fsa.scores = torch.zeros_like(word_fsa.scores.detach())
    del word_fsa.aux_labels
    loops = k2.linear_fsa_with_self_loops(word_fsa)
    inv = k2.arc_sort(k2.invert(lattice))
    paths = k2.intersect_device(inv, loops, b_to_a_map=nbest.shape.row_ids(1),
                                sorted_match_a=True)
    best = k2.invert(k2.shortest_path(k2.top_sort(k2.connect(paths)), use_double_scores=True))
    per_path = k2.RaggedTensor(best.arcs.shape().remove_axis(1),
                                best.scores.contiguous()).sum()
    pick = k2.RaggedTensor(nbest.shape, per_path).argmax()
    return get_texts(k2.index_fsa(best, pick))


def reference_whole_lattice(k2, lattice, G) -> dict[str, list[list[int]]]:
    """icefall's rescore_with_whole_lattice with real k2."""
    G = k2.arc_sort(k2.add_epsilon_self_loops(k2.create_fsa_vec([G])))
    G.lm_scores = G.scores.clone()
    lattice.scores = lattice.scores - lattice.lm_scores
    del lattice.lm_scores
    b_to_a = torch.zeros(lattice.shape[0], dtype=torch.int32)
    rescored = k2.intersect_device(G, k2.invert(lattice), b_to_a, sorted_match_a=True)
    lat = k2.invert(k2.top_sort(k2.connect(rescored)))
    am = lat.scores - lat.lm_scores
    out = {}
    for s in SCALES:
        lat.scores = am / s + lat.lm_scores
        out[f"lm_scale_{s}"] = get_texts(k2.shortest_path(lat, use_double_scores=True))
    return out


def decode_all(k2, hlg, lm, log_probs, lens):
    graph, G = build(k2, hlg, lm)
    table = k2.SymbolTable.from_str("<eps> 0\na 1\nb 2\nc 3\nd 4\n<UNK> 5")
    common = dict(graph=graph, num_paths=NUM_PATHS, nbest_scale=NBEST_SCALE, **BEAMS)
    return {
        "nbest": ctc_decode_keyed("nbest", log_probs, lens, **common),
        "nbest-rescoring": ctc_decode_keyed("nbest-rescoring", log_probs, lens, G=G,
                                            lm_scale_list=SCALES, **common),
        "whole-lattice-rescoring": ctc_decode_keyed("whole-lattice-rescoring", log_probs, lens,
                                                    G=G, lm_scale_list=SCALES, **common),
        "nbest-oracle": ctc_decode_keyed("nbest-oracle", log_probs, lens, ref_texts=[
            "a b", "c zzz d", ""], word_table=table, **common),
    }


@pytest.mark.parametrize("seed", [0, 2, 3, 6])
def test_lattice_methods_equal_real_k2_and_icefall_reference(real_k2, builtin_k2, seed):
    hlg, lm, log_probs, lens = make_inputs(seed)
    ours = decode_all(builtin_k2, hlg, lm, log_probs, lens)
    on_k2 = decode_all(real_k2, hlg, lm, log_probs, lens)
    assert ours == on_k2
    graph, G = build(real_k2, hlg, lm)
    lattice = reference_lattice(real_k2, graph, log_probs, lens)
    key = f"no_rescore-nbest-scale-{NBEST_SCALE}-{NUM_PATHS}"
    assert ours["nbest"] == {key: reference_nbest(real_k2, lattice)}
    assert ours["whole-lattice-rescoring"] == reference_whole_lattice(real_k2, lattice, G)
    assert set(ours["nbest-rescoring"]) == {f"lm_scale_{s}" for s in SCALES}
    assert any(h for hyps in ours["nbest"].values() for h in hyps), "all hypotheses empty"


@pytest.mark.parametrize("empty_first", [False, True])
def test_utterances_without_a_path_match_k2(on_both, empty_first):
    """A lattice of an utterance without a successful path gives an empty hypothesis in every
    method, wherever it is in the batch."""

    def check(k2):
        f = k2.Fsa.from_str("0 1 1 -0.5\n0 1 2 -1.5\n1 2 -1 0\n2")
        f.aux_labels = torch.tensor([5, 6, -1], dtype=torch.int32)
        e = k2.Fsa.from_str("0 1 1 -0.5\n2 3 -1 0\n3")  # nothing reaches the final state
        e.aux_labels = torch.tensor([5, -1], dtype=torch.int32)
        lat = k2.create_fsa_vec([e, f] if empty_first else [f, e])
        lat.lm_scores = lat.scores.clone() * 0.5
        lm = "0 0 5 -0.1\n0 0 6 -0.2\n0 1 -1 0\n1"
        G = k2.arc_sort(k2.create_fsa_vec([k2.Fsa.from_str(lm)]))
        table = k2.SymbolTable.from_str("<eps> 0\nx 5\ny 6\n<UNK> 7")
        G2 = k2.arc_sort(k2.add_epsilon_self_loops(G))
        G2.lm_scores = G2.scores.clone()
        return [get_texts(rescore.nbest_decoding(lat, 5)),
                {k: get_texts(v) for k, v in
                 rescore.rescore_with_n_best_list(lat, G, 5, [1.0]).items()},
                get_texts(rescore.nbest_oracle(lat, 5, ["y", "y"], table)),
                {k: get_texts(v) for k, v in
                 rescore.rescore_with_whole_lattice(lat, G2, [1.0]).items()}]

    expected, _ = on_both(check)
    assert [] in expected[0] and [] in expected[2]
