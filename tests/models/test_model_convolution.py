"""Chunk-causal convolution: no look-ahead beyond the chunk, and streaming equals chunked."""

from __future__ import annotations

import torch

from icefall_lite.models.convolution import ChunkCausalDepthwiseConv1d, ConvolutionModule


def _randomise(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()


def test_chunk_causal_conv_does_not_see_later_chunks():
    conv = ChunkCausalDepthwiseConv1d(3, 5)
    _randomise(conv)
    x = torch.randn(2, 3, 12)
    y = conv(x, chunk_size=4)
    x2 = x.clone()
    x2[:, :, 8:] += 10.0  # perturb the last chunk only
    y2 = conv(x2, chunk_size=4)
    torch.testing.assert_close(y[:, :, :8], y2[:, :, :8])
    assert not torch.allclose(y[:, :, 8:], y2[:, :, 8:])


def test_chunk_causal_conv_matches_explicit_definition():
    conv = ChunkCausalDepthwiseConv1d(1, 3)
    _randomise(conv)
    x = torch.randn(1, 1, 6)
    y = conv(x, chunk_size=3)
    wc, bc = conv.causal_conv.weight[0, 0].detach(), conv.causal_conv.bias[0].detach()
    wk, bk = conv.chunkwise_conv.weight[0, 0].detach(), conv.chunkwise_conv.bias[0].detach()
    scale = conv.chunkwise_conv_scale[:, 0].detach()  # (2, k)
    xs = x[0, 0].tolist()
    for t in range(6):
        past = [xs[t - 1] if t >= 1 else 0.0, xs[t]]
        causal = float(wc @ torch.tensor(past)) + float(bc)
        start = (t // 3) * 3
        window = [xs[s] if start <= s < start + 3 else 0.0 for s in (t - 1, t, t + 1)]
        chunk = float(wk @ torch.tensor(window)) + float(bk)
        pos = t - start
        factor = 1.0 + float(scale[0, pos]) + float(scale[1, pos])
        assert abs(float(y[0, 0, t].detach()) - (causal + chunk * factor)) < 1e-5


def test_streaming_conv_module_equals_chunked_forward():
    module = ConvolutionModule(4, 7, causal=True).eval()
    _randomise(module)
    x = torch.randn(12, 2, 4)
    full = module(x, chunk_size=4)
    cache = torch.zeros(2, 4, 3)
    outs = []
    for k in range(3):
        out, cache = module.streaming_forward(x[4 * k : 4 * k + 4], cache)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), full, atol=1e-5, rtol=1e-5)


def test_conv_module_ignores_padded_frames():
    module = ConvolutionModule(4, 5, causal=False).eval()
    x = torch.randn(9, 1, 4)
    mask = torch.tensor([[False] * 6 + [True] * 3])
    padded = module(torch.cat([x[:6], torch.randn(3, 1, 4) * 100]), src_key_padding_mask=mask)
    alone = module(x[:6])
    torch.testing.assert_close(padded[:6], alone, atol=1e-5, rtol=1e-5)
