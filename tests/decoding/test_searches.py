"""Greedy, beam and modified beam search against brute force and each other."""

from __future__ import annotations

import math

import pytest
import torch
from fake_model import FakeTransducer, alignment_scores, log_prob_table_with_start, penalized

from icefall_lite.decoding import beam_search, greedy_search_batch, modified_beam_search
from icefall_lite.decoding.beam_search import Hypothesis, HypothesisList


def test_greedy_equals_modified_beam_search_with_beam_one():
    torch.manual_seed(1)
    model = FakeTransducer(vocab_size=7, context_size=2, scale=2.0)
    enc, lens = model.random_batch([12, 5, 9, 1])
    greedy = greedy_search_batch(model, enc, lens)
    assert greedy == modified_beam_search(model, enc, lens, beam_size=1)
    assert any(len(h) > 0 for h in greedy)


def test_greedy_takes_the_argmax_token_frame_by_frame():
    torch.manual_seed(2)
    model = FakeTransducer(vocab_size=4, context_size=2)
    enc, lens = model.random_batch([6])
    table = log_prob_table_with_start(model, enc[0])
    ctx, expected = (-1, 0), []
    for t in range(6):
        c = int(table[ctx][t].argmax())
        if c != 0:
            expected.append(c)
            ctx = ctx[1:] + (c,)
    assert greedy_search_batch(model, enc, lens) == [expected]


@pytest.mark.parametrize("blank_penalty", [-1.0, 0.0, 1.5, 50.0])
def test_greedy_with_a_blank_penalty_takes_the_argmax_of_the_shifted_logits(blank_penalty):
    torch.manual_seed(2)
    model = FakeTransducer(vocab_size=4, context_size=2)
    T = 8
    enc, lens = model.random_batch([T])
    table = penalized(log_prob_table_with_start(model, enc[0]), blank_penalty)
    ctx, expected = (-1, 0), []
    for t in range(T):
        c = int(table[ctx][t].argmax())
        if c != 0:
            expected.append(c)
            ctx = ctx[1:] + (c,)
    got = greedy_search_batch(model, enc, lens, blank_penalty=blank_penalty)
    assert got == [expected]
    if blank_penalty == 50.0:  # blank never wins: a token on every frame
        assert len(got[0]) == T


def test_a_blank_penalty_turns_deletions_into_emissions():
    torch.manual_seed(2)
    model = FakeTransducer(vocab_size=4, context_size=2)
    enc, lens = model.random_batch([8, 5])
    counts = [sum(map(len, greedy_search_batch(model, enc, lens, blank_penalty=p)))
              for p in (-3.0, 0.0, 3.0)]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("blank_penalty", [0.0, 2.0])
def test_modified_beam_search_with_a_wide_beam_and_a_blank_penalty_is_exact(blank_penalty):
    torch.manual_seed(4)
    V, H, T = 3, 2, 4
    model = FakeTransducer(vocab_size=V, context_size=H, scale=1.5)
    enc, lens = model.random_batch([T, 3])
    hyps = modified_beam_search(model, enc, lens, beam_size=200, blank_penalty=blank_penalty)
    for i, n in enumerate(lens.tolist()):
        table = penalized(log_prob_table_with_start(model, enc[i]), blank_penalty)
        per_seq = alignment_scores(table, n, V, H, (-1, 0), n)
        best = max(
            per_seq,
            key=lambda s: torch.tensor(per_seq[s]).logsumexp(0).item() / (H + len(s)),
        )
        assert hyps[i] == list(best)


def test_modified_beam_search_with_a_wide_beam_is_exact():
    """With a beam wider than all hypotheses, the answer is the token sequence with the best
    length-normalised total (log-sum over its alignments), found by enumeration."""
    torch.manual_seed(3)
    V, H, T = 3, 2, 4
    model = FakeTransducer(vocab_size=V, context_size=H, scale=1.5)
    enc, lens = model.random_batch([T, 3])
    hyps = modified_beam_search(model, enc, lens, beam_size=200)
    for i, n in enumerate(lens.tolist()):
        table = log_prob_table_with_start(model, enc[i])
        per_seq = alignment_scores(table, n, V, H, (-1, 0), n)
        best = max(
            per_seq,
            key=lambda s: torch.tensor(per_seq[s]).logsumexp(0).item() / (H + len(s)),
        )
        assert hyps[i] == list(best)


def test_hypothesis_list_merges_equal_sequences_by_log_add():
    hyps = HypothesisList()
    hyps.add(Hypothesis([-1, 0, 3], math.log(0.2)))
    hyps.add(Hypothesis([-1, 0, 3], math.log(0.3)))
    hyps.add(Hypothesis([-1, 0, 4], math.log(0.4)))
    assert len(hyps) == 2
    assert hyps.get_most_probable().ys == [-1, 0, 3]
    assert hyps.get_most_probable().log_prob == pytest.approx(math.log(0.5))
    assert [h.ys for h in hyps.topk(1)] == [[-1, 0, 3]]


def test_beam_search_emits_nothing_when_blank_dominates_and_stops_at_the_symbol_limit():
    torch.manual_seed(4)
    model = FakeTransducer(vocab_size=5, context_size=2, scale=2.0)
    enc, lens = model.random_batch([4, 2])
    with torch.no_grad():
        model.joiner.output_linear.bias[0] = 100.0
    assert beam_search(model, enc, lens, beam_size=3) == [[], []]
    with torch.no_grad():
        model.joiner.output_linear.bias[0] = -100.0
    hyps = beam_search(model, enc, lens, beam_size=2, max_sym_per_utt=5)
    assert all(0 < len(h) <= 5 and all(0 < t < 5 for t in h) for h in hyps)
