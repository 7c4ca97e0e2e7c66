"""decode.py's result-file prefix: checkpoint and averaging, plus the attention a causal model was
decoded with, so that full-context and simulated-streaming results of one model do not overwrite
each other (expected strings written out by hand)."""

from __future__ import annotations

from argparse import Namespace

from icefall_lite.recipe.decode import result_prefix


def _args(**kw):
    base = dict(iter=0, epoch=7, avg=3, use_averaged_model=1, causal=False,
                chunk_size=(16, 32, 64, -1), left_context_frames=(128,))
    return Namespace(**(base | kw))


def test_non_causal_prefix_names_only_the_checkpoints():
    assert result_prefix(_args()) == "epoch-7_avg-3_use-averaged-model"
    assert result_prefix(_args(iter=800, use_averaged_model=0)) == "iter-800_avg-3"


def test_causal_prefix_names_the_chunk_or_full_context():
    assert result_prefix(_args(causal=True)) == "epoch-7_avg-3_use-averaged-model_chunk-16_left-128"
    full = _args(causal=True, chunk_size=(-1,), left_context_frames=(-1,))
    assert result_prefix(full) == "epoch-7_avg-3_use-averaged-model_full-context"
    assert len({result_prefix(_args(causal=True, chunk_size=(c,))) for c in (16, 32, -1)}) == 3
