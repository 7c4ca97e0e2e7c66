"""The registry knows icefall's method names and dispatches each with one convention."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from fake_model import FakeTransducer, random_lg

from icefall_lite import k2
from icefall_lite.decoding import DECODING_METHODS, DecodingConfig, decode, make_decoding_graph

ICEFALL_NAMES = {
    "greedy_search", "beam_search", "modified_beam_search", "fast_beam_search",
    "fast_beam_search_LG", "fast_beam_search_nbest", "fast_beam_search_nbest_LG",
    "fast_beam_search_nbest_oracle",
}


def test_defaults_are_icefall_decode_py_defaults():
    cfg = DecodingConfig()
    assert (cfg.beam, cfg.max_contexts, cfg.max_states) == (20.0, 8, 64)
    assert (cfg.num_paths, cfg.nbest_scale, cfg.ngram_lm_scale, cfg.beam_size) == (
        200, 0.5, 0.01, 4)


def test_every_icefall_method_is_registered_and_runs():
    assert set(DECODING_METHODS) == ICEFALL_NAMES
    torch.manual_seed(8)
    model = FakeTransducer(vocab_size=6, context_size=2)
    enc, lens = model.random_batch([6, 4])
    lg = random_lg(k2, 6, 4, [7, 8, 9], seed=2)
    cfg = DecodingConfig(beam=4.0, max_states=16, max_contexts=4, num_paths=10)
    for name, method in DECODING_METHODS.items():
        graph = make_decoding_graph(name, 6, LG=lg, ngram_lm_scale=0.5)
        hyps = decode(name, model, enc, lens, cfg, graph, ref_texts=[[1, 2], [3]])
        assert len(hyps) == 2 and all(isinstance(t, int) for h in hyps for t in h), name
        vocab = range(7, 10) if method.output == "words" else range(1, 6)
        assert all(t in vocab for h in hyps for t in h), name


def test_lg_is_scaled_once_and_left_unchanged():
    lg = random_lg(k2, 5, 3, [7], seed=3)
    scaled = make_decoding_graph("fast_beam_search_nbest_LG", 5, LG=lg, ngram_lm_scale=0.01)
    assert torch.allclose(scaled.scores, lg.scores * 0.01)
    assert not torch.allclose(lg.scores, scaled.scores)


def test_misuse_is_reported_clearly():
    model = FakeTransducer(vocab_size=4, context_size=2)
    enc, lens = model.random_batch([3])
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode("viterbi", model, enc, lens)
    with pytest.raises(ValueError, match="needs a decoding graph"):
        decode("fast_beam_search", model, enc, lens)
    with pytest.raises(ValueError, match="needs ref_texts"):
        decode("fast_beam_search_nbest_oracle", model, enc, lens, graph=k2.trivial_graph(3))
    with pytest.raises(ValueError, match="needs an LG"):
        make_decoding_graph("fast_beam_search_LG", 4)


def test_every_method_applies_the_blank_penalty_as_a_lower_blank_logit():
    """Decoding with ``blank_penalty`` p equals decoding, without one, a copy of the model whose
    joiner's blank bias is p lower (the joiner output is ``scale * linear``)."""
    torch.manual_seed(8)
    model = FakeTransducer(vocab_size=6, context_size=2)
    enc, lens = model.random_batch([9, 6])
    p = 1.5
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.joiner.output_linear.bias[0] -= p / shifted.joiner.scale
    lg = random_lg(k2, 6, 4, [7, 8, 9], seed=2)
    cfg = DecodingConfig(beam=4.0, max_states=16, max_contexts=4, num_paths=10)
    changed = 0
    for name in DECODING_METHODS:
        graph = make_decoding_graph(name, 6, LG=lg, ngram_lm_scale=0.5)
        refs = [[1, 2], [3]]
        torch.manual_seed(0)  # n-best path sampling draws random numbers
        got = decode(name, model, enc, lens, replace(cfg, blank_penalty=p), graph, refs)
        torch.manual_seed(0)
        expected = decode(name, shifted, enc, lens, cfg, graph, refs)
        assert got == expected, name
        torch.manual_seed(0)
        changed += got != decode(name, model, enc, lens, cfg, graph, refs)
    assert changed >= 4
