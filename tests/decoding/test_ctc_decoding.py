"""CTC decoding methods against independent oracles: greedy search = a per-utterance loop
over frames (merge repeats, drop blanks); ctc-decoding = the CTC collapse of the single best
alignment found by enumerating every label sequence; 1best through a graph whose outputs are
relabelled tokens; clear errors for a graph that does not fit the model and unknown
methods (the lattice methods: tests/decoding/test_ctc_nbest_oracles.py)."""

from __future__ import annotations

import itertools

import pytest
import torch

from icefall_lite import k2
from icefall_lite.decoding.ctc import (
    ctc_decode,
    ctc_greedy_search,
    get_lattice,
    supervision_segments,
)


def collapse(labels: list[int], blank: int = 0) -> list[int]:
    out, prev = [], None
    for x in labels:
        if x != prev and x != blank:
            out.append(x)
        prev = x
    return out


def test_ctc_greedy_search_matches_a_frame_loop():
    torch.manual_seed(0)
    out = torch.randn(5, 9, 4).log_softmax(-1)
    lens = torch.tensor([9, 3, 1, 7, 9])
    hyps = ctc_greedy_search(out, lens)
    for i in range(5):
        assert hyps[i] == collapse(out[i, :lens[i]].argmax(-1).tolist())


def test_ctc_decoding_is_the_collapse_of_the_best_alignment():
    torch.manual_seed(1)
    n, t, c = 3, 4, 3
    out = torch.randn(n, t, c).mul(2).log_softmax(-1)
    lens = torch.tensor([4, 4, 2])
    hyps = ctc_decode("ctc-decoding", out, lens)
    for i in range(n):
        best = max(itertools.product(range(c), repeat=int(lens[i])),
                   key=lambda a: sum(out[i, f, x].item() for f, x in enumerate(a)))
        assert hyps[i] == collapse(list(best))
    # H accepts every alignment at score 0, so its best path is the frame-wise arg-max
    assert hyps == ctc_greedy_search(out, lens)
    assert ctc_decode("ctc-greedy-search", out, lens) == hyps


def test_1best_reads_the_graphs_output_labels():
    torch.manual_seed(2)
    out = torch.randn(2, 6, 4).mul(3).log_softmax(-1)
    lens = torch.tensor([6, 5])
    graph = k2.ctc_topo(3)
    aux = graph.aux_labels.clone()
    graph.aux_labels = torch.where(aux > 0, aux + 100, aux)  # "word" = token + 100
    words = ctc_decode("1best", out, lens, graph=graph)
    assert words == [[w + 100 for w in h] for h in ctc_greedy_search(out, lens)]


def test_get_lattice_uses_supervision_segments_and_truncation():
    out = torch.randn(2, 5, 3).log_softmax(-1)
    segs = supervision_segments(torch.tensor([5, 3]))
    assert segs.tolist() == [[0, 0, 5], [1, 0, 3]] and segs.dtype == torch.int32
    long_segs = torch.tensor([[0, 0, 7], [1, 0, 3]], dtype=torch.int32)  # 2 frames too long
    lat = get_lattice(out, k2.ctc_topo(2), long_segs, 20.0, 8.0, 30, 10000,
                      subsampling_factor=3)
    assert lat.shape[0] == 2
    with pytest.raises(ValueError, match="T \\+ allow_truncate"):
        get_lattice(out, k2.ctc_topo(2), long_segs, 20.0, 8.0, 30, 10000)


def test_bad_graphs_and_methods_give_clear_errors():
    out = torch.randn(1, 4, 3).log_softmax(-1)
    lens = torch.tensor([4])
    with pytest.raises(ValueError, match="token ids up to 5.*3 classes.*disagree"):
        ctc_decode("ctc-decoding", out, lens, graph=k2.ctc_topo(5))
    with pytest.raises(ValueError, match="unknown CTC method"):
        ctc_decode("ctc-beam", out, lens)
    with pytest.raises(ValueError, match="HLG"):
        ctc_decode("1best", out, lens)
