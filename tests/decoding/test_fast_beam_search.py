"""fast_beam_search and the lattice methods against brute force and each other."""

from __future__ import annotations

import pytest
import torch
from fake_model import (
    FakeTransducer,
    alignment_scores,
    log_prob_table_with_start,
    penalized,
    random_lg,
)

from icefall_lite import k2
from icefall_lite.decoding import (
    DecodingConfig,
    decode,
    edit_distance,
    fast_beam_search,
    fast_beam_search_nbest,
    fast_beam_search_nbest_LG,
    fast_beam_search_nbest_oracle,
    fast_beam_search_one_best,
)

WIDE = dict(beam=1000.0, max_states=100000, max_contexts=100000)


def start(H: int) -> tuple[int, ...]:
    """The decoder context of a fresh hypothesis, as in training: ``(-1, ..., -1, blank)``."""
    return (-1,) * (H - 1) + (0,)


@pytest.fixture
def tiny():
    torch.manual_seed(5)
    V, H = 3, 2
    model = FakeTransducer(vocab_size=V, context_size=H, scale=2.0)
    enc, lens = model.random_batch([5, 3, 4])
    per_utt = []
    for i, n in enumerate(lens.tolist()):
        table = log_prob_table_with_start(model, enc[i])
        # k2's lattice: frames 0..n-2 are scored, the last one only reaches the final state.
        per_utt.append(alignment_scores(table, n, V, H, start(H), n - 1))
    return model, enc, lens, per_utt


def test_one_best_with_wide_limits_is_the_brute_force_best_alignment(tiny):
    model, enc, lens, per_utt = tiny
    hyps = fast_beam_search_one_best(model, k2.trivial_graph(2), enc, lens, **WIDE)
    for hyp, seqs in zip(hyps, per_utt):
        best = max(seqs, key=lambda s: max(seqs[s]))
        assert hyp == list(best)


def test_one_best_with_a_blank_penalty_is_the_brute_force_best_of_the_shifted_scores():
    torch.manual_seed(5)
    V, H, p = 3, 2, 2.5
    model = FakeTransducer(vocab_size=V, context_size=H, scale=2.0)
    enc, lens = model.random_batch([5, 3, 4])
    plain = fast_beam_search_one_best(model, k2.trivial_graph(2), enc, lens, **WIDE)
    hyps = fast_beam_search_one_best(model, k2.trivial_graph(2), enc, lens, blank_penalty=p,
                                     **WIDE)
    assert hyps != plain
    for i, n in enumerate(lens.tolist()):
        seqs = alignment_scores(penalized(log_prob_table_with_start(model, enc[i]), p), n, V, H,
                                start(H), n - 1)
        assert hyps[i] == list(max(seqs, key=lambda s: max(seqs[s])))


def test_nbest_picks_the_sequence_with_the_best_alignment(tiny):
    model, enc, lens, per_utt = tiny
    hyps = fast_beam_search_nbest(model, k2.trivial_graph(2), enc, lens, num_paths=300,
                                  nbest_scale=1.0, **WIDE)
    for hyp, seqs in zip(hyps, per_utt):
        assert hyp == list(max(seqs, key=lambda s: max(seqs[s])))


def test_nbest_lg_picks_the_sequence_with_the_best_total_over_alignments(tiny):
    model, enc, lens, per_utt = tiny
    hyps = fast_beam_search_nbest_LG(model, k2.trivial_graph(2), enc, lens, num_paths=300,
                                     nbest_scale=1.0, **WIDE)
    for hyp, seqs in zip(hyps, per_utt):
        best = max(seqs, key=lambda s: torch.tensor(seqs[s]).logsumexp(0).item())
        assert hyp == list(best)


def test_nbest_lg_without_log_semiring_picks_the_sequence_with_the_best_alignment(tiny):
    model, enc, lens, per_utt = tiny
    hyps = fast_beam_search_nbest_LG(model, k2.trivial_graph(2), enc, lens, num_paths=300,
                                     nbest_scale=1.0, log_semiring=False, **WIDE)
    by_total = fast_beam_search_nbest_LG(model, k2.trivial_graph(2), enc, lens, num_paths=300,
                                         nbest_scale=1.0, **WIDE)
    for hyp, seqs in zip(hyps, per_utt):
        assert hyp == list(max(seqs, key=lambda s: max(seqs[s])))
    # the two scores must pick differently somewhere, or this test would not tell them apart
    assert hyps != by_total
    # decode.py's --nbest-lg-log-semiring 0 reaches the search through the registry
    cfg = DecodingConfig(beam=1000.0, max_states=100000, max_contexts=100000, num_paths=300,
                         nbest_scale=1.0, nbest_lg_log_semiring=False)
    assert decode("fast_beam_search_nbest_LG", model, enc, lens, cfg, k2.trivial_graph(2)) == hyps


def test_oracle_is_never_worse_than_the_other_methods_on_the_same_lattice():
    torch.manual_seed(6)
    model = FakeTransducer(vocab_size=6, context_size=2, scale=1.0)
    enc, lens = model.random_batch([12, 9, 15, 7])
    graph = k2.trivial_graph(5)
    g = torch.Generator().manual_seed(0)
    refs = [torch.randint(1, 6, (int(n) // 2,), generator=g).tolist() for n in lens]
    args = dict(beam=8.0, max_states=32, max_contexts=8, num_paths=50, nbest_scale=0.5)
    oracle = fast_beam_search_nbest_oracle(model, graph, enc, lens, refs, **args)
    nbest = fast_beam_search_nbest(model, graph, enc, lens, **args)
    one_best = fast_beam_search_one_best(model, graph, enc, lens, beam=8.0, max_states=32,
                                         max_contexts=8)
    for r, o, n, b in zip(refs, oracle, nbest, one_best):
        assert edit_distance(r, o) <= edit_distance(r, n)
        assert edit_distance(r, o) <= edit_distance(r, b)


def test_lg_decoding_outputs_only_words_of_the_graph():
    torch.manual_seed(7)
    model = FakeTransducer(vocab_size=6, context_size=2)
    enc, lens = model.random_batch([10, 6, 8])
    words = [11, 13, 17, 19, 23]
    lg = random_lg(k2, 6, 6, words, seed=1)
    outputs = fast_beam_search_one_best(model, lg, enc, lens, beam=8.0, max_states=32,
                                        max_contexts=8)
    outputs += fast_beam_search_nbest_LG(model, lg, enc, lens, beam=8.0, max_states=32,
                                         max_contexts=8, num_paths=20)
    assert any(outputs)
    assert all(w in words for hyp in outputs for w in hyp)


def test_a_graph_with_epsilon_arcs_is_rejected():
    model = FakeTransducer(vocab_size=4, context_size=2)
    enc, lens = model.random_batch([3])
    arcs = torch.tensor([[0, 1, 0, 0], [1, 1, 2, 0], [1, 2, -1, 0]], dtype=torch.int32)
    with pytest.raises(ValueError, match="epsilon"):
        fast_beam_search(model, k2.Fsa(arcs), enc, lens)


def test_edit_distance_matches_hand_counts():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2, 3], [3, 2, 1]) == 2


def test_allow_partial_decides_between_an_empty_answer_and_the_best_partial_path():
    """A graph whose final state cannot be reached: without allow_partial every method answers
    nothing; with it, one-best returns the words of the best path through the last frame."""
    torch.manual_seed(10)
    model = FakeTransducer(vocab_size=4, context_size=2)
    enc, lens = model.random_batch([6, 4])
    arcs = torch.tensor([[0, 0, 1, 0], [0, 0, 2, 0], [0, 0, 3, 0], [1, 2, -1, 0]],
                        dtype=torch.int32)
    graph = k2.Fsa(arcs)
    graph.aux_labels = torch.tensor([5, 6, 7, -1], dtype=torch.int32)
    kw = dict(beam=8.0, max_states=16, max_contexts=8)
    assert fast_beam_search_one_best(model, graph, enc, lens, allow_partial=False, **kw) == [[], []]
    assert fast_beam_search_nbest_LG(model, graph, enc, lens, allow_partial=False,
                                     num_paths=10, **kw) == [[], []]
    partial = fast_beam_search_one_best(model, graph, enc, lens, allow_partial=True, **kw)
    assert all(hyp and all(w in (5, 6, 7) for w in hyp) for hyp in partial)


def test_stream_contexts_give_the_training_start_context():
    from icefall_lite.decoding.greedy import stream_contexts

    # history of a fresh hypothesis, after one token, after two, after three (H = 3)
    streams = torch.tensor([[0, 0, 0], [0, 0, 4], [0, 4, 2], [4, 2, 1]], dtype=torch.int32)
    assert stream_contexts(streams).tolist() == [[-1, -1, 0], [-1, 0, 4], [0, 4, 2], [4, 2, 1]]
    assert stream_contexts(torch.tensor([[0, 0], [0, 3], [3, 1]])).tolist() == [
        [-1, 0], [0, 3], [3, 1]]
    assert stream_contexts(torch.tensor([[0], [2]])).tolist() == [[0], [2]]  # bigram decoder


def test_fast_beam_search_feeds_the_decoder_only_contexts_training_produces():
    torch.manual_seed(3)
    V, H = 4, 3
    model = FakeTransducer(vocab_size=V, context_size=H)
    enc, lens = model.random_batch([6, 4])
    seen = []
    forward = model.decoder.forward

    def recording(y, need_pad=True):
        seen.append(y.clone())
        return forward(y, need_pad)

    model.decoder.forward = recording
    fast_beam_search_one_best(model, k2.trivial_graph(V - 1), enc, lens, **WIDE)
    assert seen[0].tolist() == [list(start(H))] * 2  # first frame: one fresh context per stream
    rows = {tuple(r) for y in seen for r in y.tolist()}
    assert len(rows) > 10
    for row in rows:  # (-1, ..., -1, blank, tokens...) with k < H tokens, or H tokens
        k = sum(1 for t in row if t > 0)
        expected_head = (-1,) * (H - k - 1) + (0,) if k < H else ()
        assert row[: H - k] == expected_head and all(t > 0 for t in row[H - k:]), row
