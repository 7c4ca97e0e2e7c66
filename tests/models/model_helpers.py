"""Shared helpers for the model tests: a very small Zipformer configuration and random batches."""

from __future__ import annotations

import torch

from icefall_lite.models import ZipformerConfig


def small_config(causal: bool = False, vocab_size: int = 10, **overrides) -> ZipformerConfig:
    """Six stacks (downsampling 1,2,4,8,4,2) of one layer each, tiny dims: fast on CPU."""
    values = dict(
        num_encoder_layers=(1, 1, 1, 1, 1, 1),
        feedforward_dim=(48,),
        encoder_dim=(32, 32, 48, 48, 32, 32),
        encoder_unmasked_dim=(32,),
        num_heads=(2,),
        query_head_dim=(8,),
        value_head_dim=(4,),
        pos_head_dim=(2,),
        pos_dim=16,
        cnn_module_kernel=(7, 7, 5, 5, 5, 7),
        decoder_dim=16,
        joiner_dim=16,
        vocab_size=vocab_size,
        causal=causal,
        chunk_size=(16,),
        left_context_frames=(32,),
        dropout=0.0,
    )
    values.update(overrides)
    return ZipformerConfig(**values)


def random_batch(lengths, feature_dim: int = 80):
    """(N, max(lengths), F) normal features (padding is also random, never zeros) and lengths."""
    x = torch.randn(len(lengths), max(lengths), feature_dim)
    return x, torch.tensor(lengths, dtype=torch.int64)
