"""Relative positional encoding and attention weights against brute-force definitions."""

from __future__ import annotations

import math

import torch

from icefall_lite.models.attention import (
    CompactRelPositionalEncoding,
    RelPositionMultiheadAttentionWeights,
    _rel_shift,
)


def _encoding_of_offset(offset: int, dim: int) -> list[float]:
    c = math.sqrt(dim)
    sign = (offset > 0) - (offset < 0)
    compressed = c * sign * (math.log(abs(offset) + c) - math.log(c))
    theta = math.atan(compressed / (dim / (2 * math.pi)))
    values = []
    for k in range(1, dim // 2 + 1):
        values += [math.cos(k * theta), math.sin(k * theta)]
    values[-1] = 1.0
    return values


def test_positional_encoding_matches_formula_for_every_offset():
    pos = CompactRelPositionalEncoding(8, dropout_rate=0.0)
    seq_len, left = 4, 3
    table = pos(torch.zeros(seq_len, 1, 5), left_context_len=left)
    assert table.shape == (1, left + 2 * seq_len - 1, 8)
    for column in range(table.size(1)):
        offset = column - (left + seq_len - 1)
        expected = torch.tensor(_encoding_of_offset(offset, 8))
        torch.testing.assert_close(table[0, column], expected, atol=1e-6, rtol=1e-6)


def test_rel_shift_picks_the_key_minus_query_column():
    heads, batch, seq_len, left = 2, 3, 4, 2
    num_keys = left + seq_len
    scores = torch.randn(heads, batch, seq_len, num_keys + seq_len - 1)
    shifted = _rel_shift(scores, num_keys)
    for i in range(seq_len):
        for j in range(num_keys):
            offset = j - (left + i)  # key position - query position
            column = offset + (left + seq_len - 1)
            assert torch.equal(shifted[:, :, i, j], scores[:, :, i, column])


def test_attention_weights_equal_explicit_score_computation():
    torch.manual_seed(1)
    d, heads, qhd, phd, pos_dim = 12, 2, 4, 2, 8
    attn = RelPositionMultiheadAttentionWeights(d, pos_dim, heads, qhd, phd)
    pos = CompactRelPositionalEncoding(pos_dim, dropout_rate=0.0)
    x = torch.randn(5, 1, d)
    key_padding_mask = torch.tensor([[False, False, False, False, True]])
    weights = attn(x, pos(x), key_padding_mask=key_padding_mask)
    proj = attn.in_proj(x)[:, 0]
    for h in range(heads):
        q = proj[:, h * qhd : (h + 1) * qhd]
        k = proj[:, heads * qhd + h * qhd : heads * qhd + (h + 1) * qhd]
        p = proj[:, 2 * heads * qhd + h * phd : 2 * heads * qhd + (h + 1) * phd]
        for i in range(5):
            scores = []
            for j in range(5):
                pe = torch.tensor(_encoding_of_offset(j - i, pos_dim))
                pos_proj = attn.linear_pos(pe)[h * phd : (h + 1) * phd]
                score = q[i] @ k[j] + p[i] @ pos_proj
                scores.append(score if j < 4 else torch.tensor(-1000.0))
            expected = torch.stack(scores).softmax(dim=0)
            torch.testing.assert_close(weights[h, 0, i], expected, atol=1e-5, rtol=1e-4)
