"""Zipformer encoder: shapes, padding invariance, chunk masks, causality and streaming."""

from __future__ import annotations

import pytest
import torch

from icefall_lite.models import build_model
from icefall_lite.models.zipformer import chunk_attention_mask
from tests.models.model_helpers import random_batch, small_config


@pytest.mark.parametrize("causal", [False, True])
def test_padding_does_not_change_the_unpadded_outputs(causal):
    model = build_model(small_config(causal=causal)).eval()
    lengths = [101, 74, 50]
    x, x_lens = random_batch(lengths)
    with torch.no_grad():
        out, out_lens = model.forward_encoder(x, x_lens)
        # front end (T-7)//2, then the final downsampling ceil(./2)
        assert out_lens.tolist() == [((n - 7) // 2 + 1) // 2 for n in lengths]
        assert out.shape == (3, max(out_lens.tolist()), 48)
        for i, n in enumerate(lengths):
            alone, alone_lens = model.forward_encoder(x[i : i + 1, :n], x_lens[i : i + 1])
            assert alone_lens.tolist() == [out_lens[i].item()]
            torch.testing.assert_close(out[i, : out_lens[i]], alone[0], atol=1e-4, rtol=1e-4)


def test_chunk_attention_mask_matches_definition():
    mask = chunk_attention_mask(10, chunk_size=3, left_context_chunks=1, device=torch.device("cpu"))
    for q in range(10):
        for k in range(10):
            allowed = q // 3 - 1 <= k // 3 <= q // 3
            assert bool(mask[q, k]) == (not allowed)
    unlimited = chunk_attention_mask(6, 2, -1, torch.device("cpu"))
    assert not unlimited[5, 0] and unlimited[0, 2]


def test_causal_encoder_outputs_do_not_depend_on_future_chunks():
    model = build_model(small_config(causal=True)).eval()
    chunk = model.encoder.chunk_size[0]
    x, x_lens = random_batch([2 * chunk * 4 + 13])
    with torch.no_grad():
        embed, embed_lens = model.encoder_embed(x, x_lens)
        out, _ = model.encoder(embed.permute(1, 0, 2), embed_lens)
        perturbed = embed.clone()
        perturbed[:, 2 * chunk :] += 3.0  # chunks 2 and 3 (at 50 Hz)
        out2, _ = model.encoder(perturbed.permute(1, 0, 2), embed_lens)
    # output frames are at 25 Hz: the first two chunks are the first `chunk` frames
    torch.testing.assert_close(out[:chunk], out2[:chunk], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[chunk:], out2[chunk:], atol=1e-3)


def test_training_draws_chunk_size_and_left_context_per_batch():
    model = build_model(small_config(causal=True, chunk_size=(16, 32, -1),
                                     left_context_frames=(32, 64, -1))).train()
    seen = {model.encoder._chunk_config() for _ in range(60)}
    assert (-1, -1) in seen
    assert {(16, 2), (16, 4), (32, 1), (32, 2)} & seen
    assert len(seen) >= 4
    model.eval()
    assert model.encoder._chunk_config() == (16, 2)


@pytest.mark.parametrize("batch_size, layer3_channels", [(1, 128), (2, 128), (2, 16)])
def test_streaming_forward_equals_chunked_full_forward(batch_size, layer3_channels):
    model = build_model(small_config(causal=True,
                                     embed_layer3_channels=layer3_channels)).eval()
    assert model.encoder_embed.convnext.pointwise_conv1.in_channels == layer3_channels
    chunk = model.encoder.chunk_size[0]  # 16 frames at 50 Hz = 32 fbank frames
    num_chunks = 5  # more than the 2 chunks of left context: the caches roll over
    x, _ = random_batch([2 * chunk * num_chunks + 13] * batch_size)
    with torch.no_grad():
        embed, embed_lens = model.encoder_embed(x, torch.tensor([x.size(1)] * batch_size))
        # streaming never emits the last 3 frames (they are look-ahead for the ConvNeXt)
        embed, embed_lens = embed[:, : chunk * num_chunks], embed_lens - 3
        full, full_lens = model.encoder(embed.permute(1, 0, 2), embed_lens)
        full = full.permute(1, 0, 2)

        states = model.get_init_states(batch_size)
        outputs = []
        for k in range(num_chunks):
            piece = x[:, 2 * chunk * k : 2 * chunk * k + 2 * chunk + 13]
            lens = torch.full((batch_size,), piece.size(1))
            out, out_lens, states = model.streaming_forward_encoder(piece, lens, states)
            assert out.shape == (batch_size, chunk // 2, 48)
            assert out_lens.tolist() == [chunk // 2] * batch_size
            outputs.append(out)
    assert states[-1].tolist() == [chunk * num_chunks] * batch_size
    torch.testing.assert_close(torch.cat(outputs, dim=1), full, atol=1e-4, rtol=0)


def test_streaming_needs_a_causal_model():
    model = build_model(small_config(causal=False))
    with pytest.raises(ValueError, match="causal"):
        model.get_init_states(1)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="chunk_size"):
        build_model(small_config(causal=True, chunk_size=(12,)))
    with pytest.raises(ValueError, match="num_heads"):
        build_model(small_config(num_heads=(2, 2)))
