"""The modified Kneser-Ney estimator against hand-computed values and normalisation."""

from __future__ import annotations

import math
import random

import pytest
from lang_helpers import arpa_log10_prob, read_arpa

from icefall_lite.lang.ngram import (
    FALLBACK_DISCOUNTS,
    estimate_kneser_ney,
    modified_kn_discounts,
    read_sentences,
    write_arpa,
)


def test_discounts_follow_chen_goodman_formulas():
    # n1..n4 = 10, 5, 3, 2: Y = 10/20 = 0.5
    d1, d2, d3 = modified_kn_discounts({1: 10, 2: 5, 3: 3, 4: 2})
    assert d1 == pytest.approx(1 - 2 * 0.5 * 5 / 10)  # 0.5
    assert d2 == pytest.approx(2 - 3 * 0.5 * 3 / 5)  # 1.1
    assert d3 == pytest.approx(3 - 4 * 0.5 * 2 / 3)  # 1.6667
    assert modified_kn_discounts({1: 3, 2: 1, 3: 1}) is None  # n4 = 0: undefined


def test_trigram_matches_hand_computed_kneser_ney(tmp_path):
    # Corpus "<s> a b </s>", "<s> a </s>"; every order falls back to D = (0.5, 1, 1.5).
    # Unigram continuation counts: a 1 (after <s>), b 1 (after a), </s> 2 (after a, b); total 4;
    # gamma() = (0.5 + 0.5 + 1) / 4 = 0.5; vocabulary {a, b, </s>, <unk>} -> uniform 1/4.
    p_a, p_b, p_eos, p_unk = 0.5 / 4 + 0.5 / 4, 0.5 / 4 + 0.5 / 4, 1 / 4 + 0.5 / 4, 0.5 / 4
    # Bigrams: "<s> a" keeps its raw count 2 (starts with <s>); "a b", "a </s>", "b </s>" have
    # continuation count 1. gamma(<s>) = 1/2, gamma(a) = (0.5 + 0.5)/2, gamma(b) = 0.5/1.
    p_a_s = (2 - 1) / 2 + 0.5 * p_a
    p_b_a = 0.5 / 2 + 0.5 * p_b
    p_eos_a = 0.5 / 2 + 0.5 * p_eos
    p_eos_b = 0.5 / 1 + 0.5 * p_eos
    # Trigrams (raw counts 1): gamma(<s> a) = 1/2, gamma(a b) = 0.5.
    p_b_sa = 0.5 / 2 + 0.5 * p_b_a
    p_eos_sa = 0.5 / 2 + 0.5 * p_eos_a
    p_eos_ab = 0.5 / 1 + 0.5 * p_eos_b

    model = estimate_kneser_ney([["a", "b"], ["a"]], order=3)
    assert model.discounts == [FALLBACK_DISCOUNTS] * 3
    write_arpa(model, tmp_path / "lm.arpa")
    order, entries = read_arpa(tmp_path / "lm.arpa")
    assert order == 3
    expected = {
        ("a",): p_a, ("b",): p_b, ("</s>",): p_eos, ("<unk>",): p_unk,
        ("<s>", "a"): p_a_s, ("a", "b"): p_b_a, ("a", "</s>"): p_eos_a, ("b", "</s>"): p_eos_b,
        ("<s>", "a", "b"): p_b_sa, ("<s>", "a", "</s>"): p_eos_sa, ("a", "b", "</s>"): p_eos_ab,
    }
    assert set(entries) == set(expected) | {("<s>",)}
    for ngram, p in expected.items():
        assert 10 ** entries[ngram][0] == pytest.approx(p, rel=1e-6), ngram
    for history in [("<s>",), ("a",), ("b",), ("<s>", "a"), ("a", "b")]:
        assert 10 ** entries[history][1] == pytest.approx(0.5, rel=1e-6), history
    # P(a b </s>) = 0.625 * 0.4375 * 0.84375
    sentence = sum(arpa_log10_prob(entries, g) for g in
                   [("<s>", "a"), ("<s>", "a", "b"), ("a", "b", "</s>")])
    assert 10 ** sentence == pytest.approx(0.625 * 0.4375 * 0.84375, rel=1e-6)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_probabilities_sum_to_one_for_every_history(tmp_path, order):
    rng = random.Random(order)
    vocab = [f"w{i}" for i in range(12)]
    # Zipf-like word choice so that counts of 1..4 all occur (estimated discounts)
    weights = [1 / (i + 1) for i in range(len(vocab))]
    sentences = [rng.choices(vocab, weights, k=rng.randint(1, 8)) for _ in range(300)]
    model = estimate_kneser_ney(sentences, order=order)
    if order > 1:
        assert model.discounts[-1] != FALLBACK_DISCOUNTS
    write_arpa(model, tmp_path / "lm.arpa")
    arpa_order, entries = read_arpa(tmp_path / "lm.arpa")
    assert arpa_order == order
    predicted = [g[0] for g in entries if len(g) == 1 and g[0] != "<s>"]
    assert "<unk>" in predicted and "</s>" in predicted
    histories = {g for g in entries if len(g) < order} | {()}
    histories |= {("w3", "w3", "w3")[: order - 1], ("<s>", "w11", "w0")[: order - 1]}
    for history in histories:
        total = sum(10 ** arpa_log10_prob(entries, (*history, w)) for w in predicted)
        assert total == pytest.approx(1.0, abs=1e-5), history


def test_out_of_vocabulary_words_become_unk(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("a b\n\nc a\n")
    assert read_sentences(text, {"a", "b"}) == [["a", "b"], ["<unk>", "a"]]
    model = estimate_kneser_ney(read_sentences(text, {"a", "b"}), order=2)
    assert ("<unk>", "a") in model.probs[1]
    assert math.isclose(sum(p for g, p in model.probs[0].items()), 1.0)


def test_bad_input_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_sentences(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="empty.txt contains no words"):
        read_sentences(tmp_path / "empty.txt")
    (tmp_path / "marked.txt").write_text("a b\n<s> a </s>\n")
    with pytest.raises(ValueError, match="marked.txt:2: the text must hold words only"):
        read_sentences(tmp_path / "marked.txt")
    with pytest.raises(ValueError, match="order=0"):
        estimate_kneser_ney([["a"]], order=0)
