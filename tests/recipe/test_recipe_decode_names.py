"""decode.py's --decoding-method list, and its result-file names: checkpoint and averaging, plus
the attention a causal model was decoded with, so that full-context and simulated-streaming
results of one model do not overwrite each other (expected strings written out by hand)."""

from __future__ import annotations

import argparse
from argparse import Namespace

import pytest

from icefall_lite.decoding import DecodingConfig
from icefall_lite.recipe.decode import (
    build_parser,
    decoding_methods,
    result_prefix,
    result_settings,
)


def _args(**kw):
    base = dict(iter=0, epoch=7, avg=3, use_averaged_model=1, causal=False,
                chunk_size=(16, 32, 64, -1), left_context_frames=(128,))
    return Namespace(**(base | kw))


def _prefix(args):
    # the namespace stands for both the options and the decoded model's config
    return result_prefix(args, args)


def test_non_causal_prefix_names_only_the_checkpoints():
    assert _prefix(_args()) == "epoch-7_avg-3_use-averaged-model"
    assert _prefix(_args(iter=800, use_averaged_model=0)) == "iter-800_avg-3"


def test_causal_prefix_names_the_chunk_or_full_context():
    assert _prefix(_args(causal=True)) == "epoch-7_avg-3_use-averaged-model_chunk-16_left-128"
    full = _args(causal=True, chunk_size=(-1,), left_context_frames=(-1,))
    assert _prefix(full) == "epoch-7_avg-3_use-averaged-model_full-context"
    assert len({_prefix(_args(causal=True, chunk_size=(c,))) for c in (16, 32, -1)}) == 3


def test_decoding_method_takes_one_name_or_a_comma_separated_list():
    parser = build_parser({}, "test")
    assert parser.parse_args([]).decoding_method == ["greedy_search"]
    args = parser.parse_args(["--decoding-method", "modified_beam_search, fast_beam_search_LG"])
    assert args.decoding_method == ["modified_beam_search", "fast_beam_search_LG"]
    for bad in ("greedy", "greedy_search,greedy_search", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            decoding_methods(bad)


def test_nbest_lg_scored_by_best_alignments_gets_its_own_result_files():
    tropical = DecodingConfig(nbest_lg_log_semiring=False, blank_penalty=1.0)
    assert result_settings("fast_beam_search_nbest_LG", tropical) == {
        "beam": 20.0, "max_contexts": 8, "max_states": 64, "num_paths": 200, "nbest_scale": 0.5,
        "ngram_lm_scale": 0.01, "semiring": "tropical", "blank_penalty": 1.0}
    assert "semiring" not in result_settings("fast_beam_search_nbest_LG", DecodingConfig())
    assert "semiring" not in result_settings("fast_beam_search_nbest", tropical)
