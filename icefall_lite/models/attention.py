"""Zipformer attention: compact relative positional encoding, shared attention weights, and the
two modules that consume them (value-only self-attention and non-linear attention).

Shapes follow the encoder's convention: ``x`` is (T, N, C); attention weights are (H, N, T, K)
with K = T keys, or K = L + T keys in streaming mode (L cached left-context frames).

Example::

    >>> import torch
    >>> pos = CompactRelPositionalEncoding(48)
    >>> attn = RelPositionMultiheadAttentionWeights(64, 48, num_heads=4, query_head_dim=8,
    ...                                             pos_head_dim=4)
    >>> x = torch.randn(10, 2, 64)
    >>> attn(x, pos(x)).shape
    torch.Size([4, 2, 10, 10])
"""

# TorchScript on torch 1.13 does not parse "X | None": keep typing.Optional here.
# ruff: noqa: UP045

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from icefall_lite.models.scaling import Balancer, Whiten, scaled_linear

__all__ = [
    "CompactRelPositionalEncoding",
    "NonlinAttention",
    "RelPositionMultiheadAttentionWeights",
    "SelfAttention",
]


class CompactRelPositionalEncoding(nn.Module):
    """Relative positional encodings with logarithmically compressed offsets.

    For an offset x: ``x_c = c * sign(x) * (ln(|x| + c) - ln c)`` with ``c = sqrt(P)``,
    ``theta = atan(x_c / L)`` with ``L = length_factor * P / (2 pi)``; dims 2k and 2k+1 hold
    ``cos((k+1) theta)`` and ``sin((k+1) theta)``; the last dim is 1.0 (a bias term).

    The table is computed on the fly (cheap: (2T-1) x P), so there is no length limit and the
    module scripts and traces with dynamic lengths.

    Args:
      embed_dim: P, even.
      dropout_rate: dropout on the table in training.
      length_factor: L = length_factor * P / (2 pi).
    """

    def __init__(self, embed_dim: int, dropout_rate: float = 0.15, length_factor: float = 1.0):
        super().__init__()
        if embed_dim % 2 != 0:
            raise ValueError(f"CompactRelPositionalEncoding: pos_dim must be even, got {embed_dim}")
        self.embed_dim = embed_dim
        self.length_factor = length_factor
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: Tensor, left_context_len: int = 0) -> Tensor:
        """x: (T, N, C) -> (1, left_context_len + 2T - 1, P).

        Column m encodes the offset ``key - query = m - (left_context_len + T - 1)``.
        """
        seq_len = x.size(0)
        num_left = left_context_len + seq_len - 1
        offsets = torch.arange(
            -num_left, seq_len, device=x.device, dtype=torch.float32
        ).unsqueeze(1)
        compression = math.sqrt(self.embed_dim)
        compressed = (
            compression
            * offsets.sign()
            * (torch.log(offsets.abs() + compression) - math.log(compression))
        )
        length_scale = self.length_factor * self.embed_dim / (2.0 * math.pi)
        angle = torch.atan(compressed / length_scale)
        freqs = torch.arange(1, self.embed_dim // 2 + 1, device=x.device, dtype=torch.float32)
        angles = angle * freqs
        pe = torch.stack([angles.cos(), angles.sin()], dim=-1).reshape(-1, self.embed_dim)
        pe = torch.cat([pe[:, :-1], torch.ones_like(pe[:, -1:])], dim=1)
        return self.dropout(pe.to(x.dtype).unsqueeze(0))


class RelPositionMultiheadAttentionWeights(nn.Module):
    """Attention weights computed once per Zipformer layer and shared by its attention modules.

    ``scores = q k^T + p . linear_pos(pe)[key - query]``, masked entries set to -1000, softmax over
    keys. There is no 1/sqrt(d) factor: the ``query_head_dim ** -0.25`` init of ``in_proj`` takes
    its place.

    Args:
      embed_dim: d. pos_dim: P. num_heads: H. query_head_dim, pos_head_dim: per-head sizes.
    """

    def __init__(
        self,
        embed_dim: int,
        pos_dim: int,
        num_heads: int,
        query_head_dim: int,
        pos_head_dim: int,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.query_head_dim = query_head_dim
        self.pos_head_dim = pos_head_dim
        in_dim = (2 * query_head_dim + pos_head_dim) * num_heads
        self.in_proj = scaled_linear(embed_dim, in_dim, initial_scale=query_head_dim**-0.25)
        self.linear_pos = scaled_linear(
            pos_dim, num_heads * pos_head_dim, bias=False, initial_scale=0.05
        )
        key_dim = query_head_dim * num_heads
        self.balance_keys = Balancer(key_dim, channel_dim=-1, min_positive=0.4, max_positive=0.6)
        self.whiten_keys = Whiten(num_groups=num_heads, whitening_limit=2.0, prob=0.025)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (T, N, C) -> q (T, N, H*qhd), k (T, N, H*qhd), p (T, N, H*phd)."""
        x = self.in_proj(x)
        key_dim = self.query_head_dim * self.num_heads
        q = x[..., :key_dim]
        k = self.whiten_keys(self.balance_keys(x[..., key_dim : 2 * key_dim]))
        p = x[..., 2 * key_dim :]
        return q, k, p

    def _weights(
        self,
        q: Tensor,
        k: Tensor,
        p: Tensor,
        pos_emb: Tensor,
        key_padding_mask: Optional[Tensor],
        attn_mask: Optional[Tensor],
    ) -> Tensor:
        seq_len, batch_size, _ = q.shape
        num_keys = k.size(0)
        heads = self.num_heads
        q = q.reshape(seq_len, batch_size, heads, -1).permute(2, 1, 0, 3)
        k = k.reshape(num_keys, batch_size, heads, -1).permute(2, 1, 3, 0)
        scores = torch.matmul(q, k)  # (H, N, T, K)

        p = p.reshape(seq_len, batch_size, heads, -1).permute(2, 1, 0, 3)
        pos = self.linear_pos(pos_emb)  # (1, S, H*phd), S = K + T - 1
        num_offsets = pos.size(1)
        pos = pos.reshape(num_offsets, heads, -1).permute(1, 2, 0).unsqueeze(1)
        pos_scores = torch.matmul(p, pos)  # (H, N, T, S)
        scores = scores + _rel_shift(pos_scores, num_keys)

        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask, -1000.0)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask.unsqueeze(1), -1000.0)
        return scores.softmax(dim=-1)

    def forward(
        self,
        x: Tensor,
        pos_emb: Tensor,
        key_padding_mask: Optional[Tensor] = None,
        attn_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """x: (T, N, C); pos_emb: (1, 2T-1, P); key_padding_mask: (N, T) bool, True = padding;
        attn_mask: (T, T) bool, True = masked. Returns weights (H, N, T, T)."""
        q, k, p = self._project(x)
        return self._weights(q, k, p, pos_emb, key_padding_mask, attn_mask)

    def streaming_forward(
        self,
        x: Tensor,
        pos_emb: Tensor,
        cached_key: Tensor,
        key_padding_mask: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """x: (T, N, C); pos_emb: (1, L + 2T - 1, P); cached_key: (L, N, H*qhd);
        key_padding_mask: (N, L + T). Returns weights (H, N, T, L + T) and the new cached key."""
        q, k, p = self._project(x)
        left_context_len = cached_key.size(0)
        k = torch.cat([cached_key, k], dim=0)
        new_cached_key = k[k.size(0) - left_context_len :]
        weights = self._weights(q, k, p, pos_emb, key_padding_mask, None)
        return weights, new_cached_key


def _rel_shift(pos_scores: Tensor, num_keys: int) -> Tensor:
    """(H, N, T, K + T - 1) indexed by offset column -> (H, N, T, K) indexed by key.

    Query i (which sits at key position K - T + i) and key j use column ``j - i + T - 1``.
    """
    heads, batch_size, seq_len, num_offsets = pos_scores.shape
    if torch.jit.is_tracing():
        # as_strided would freeze the strides in a traced (ONNX) graph; gather stays dynamic
        rows = torch.arange(seq_len, device=pos_scores.device).unsqueeze(1)
        cols = torch.arange(num_keys, device=pos_scores.device).unsqueeze(0)
        index = (cols - rows + seq_len - 1).expand(heads, batch_size, seq_len, num_keys)
        return torch.gather(pos_scores, dim=3, index=index)
    pos_scores = pos_scores.contiguous()
    return pos_scores.as_strided(
        (heads, batch_size, seq_len, num_keys),
        (batch_size * seq_len * num_offsets, seq_len * num_offsets, num_offsets - 1, 1),
        pos_scores.storage_offset() + seq_len - 1,
    )


class SelfAttention(nn.Module):
    """Value-only attention that reuses precomputed weights: ``out_proj(merge_heads(A @ v))``.

    Args:
      embed_dim: d. num_heads: H. value_head_dim: per-head value size.
    """

    def __init__(self, embed_dim: int, num_heads: int, value_head_dim: int):
        super().__init__()
        self.in_proj = nn.Linear(embed_dim, num_heads * value_head_dim)
        self.out_proj = scaled_linear(num_heads * value_head_dim, embed_dim, initial_scale=0.05)

    def _attend(self, values: Tensor, attn_weights: Tensor, seq_len: int) -> Tensor:
        num_keys, batch_size, _ = values.shape
        heads = attn_weights.size(0)
        values = values.reshape(num_keys, batch_size, heads, -1).permute(2, 1, 0, 3)
        out = torch.matmul(attn_weights, values)  # (H, N, T, vhd)
        out = out.permute(2, 1, 0, 3).reshape(seq_len, batch_size, -1)
        return self.out_proj(out)

    def forward(self, x: Tensor, attn_weights: Tensor) -> Tensor:
        """x: (T, N, C); attn_weights: (H, N, T, T) -> (T, N, C)."""
        return self._attend(self.in_proj(x), attn_weights, x.size(0))

    def streaming_forward(
        self, x: Tensor, attn_weights: Tensor, cached_val: Tensor
    ) -> tuple[Tensor, Tensor]:
        """x: (T, N, C); attn_weights: (H, N, T, L + T); cached_val: (L, N, H*vhd)."""
        left_context_len = cached_val.size(0)
        values = torch.cat([cached_val, self.in_proj(x)], dim=0)
        new_cached_val = values[values.size(0) - left_context_len :]
        return self._attend(values, attn_weights, x.size(0)), new_cached_val


class NonlinAttention(nn.Module):
    """Non-linear attention with head-0 weights: ``out_proj((A0 @ (x * tanh(s))) * y)``.

    Args:
      embed_dim: d. hidden_channels: H (3d/4 in the Zipformer).
    """

    def __init__(self, embed_dim: int, hidden_channels: int):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.in_proj = nn.Linear(embed_dim, 3 * hidden_channels)
        self.balancer = Balancer(hidden_channels, channel_dim=-1, min_positive=0.3,
                                 max_positive=0.7, min_abs=0.75, max_abs=5.0)
        self.out_proj = scaled_linear(hidden_channels, embed_dim, initial_scale=0.05)

    def _gate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, v, y = self.in_proj(x).chunk(3, dim=-1)
        s = self.balancer(s)
        return v * torch.tanh(s), y

    def _attend(self, gated: Tensor, y: Tensor, attn_weights: Tensor) -> Tensor:
        # gated: (1, N, K, H); attn_weights: (1, N, T, K); y: (T, N, H)
        out = torch.matmul(attn_weights, gated).squeeze(0).permute(1, 0, 2)
        return self.out_proj(out * y)

    def forward(self, x: Tensor, attn_weights: Tensor) -> Tensor:
        """x: (T, N, C); attn_weights: (1, N, T, T) (head 0) -> (T, N, C)."""
        gated, y = self._gate(x)
        return self._attend(gated.permute(1, 0, 2).unsqueeze(0), y, attn_weights)

    def streaming_forward(
        self, x: Tensor, attn_weights: Tensor, cached_x: Tensor
    ) -> tuple[Tensor, Tensor]:
        """x: (T, N, C); attn_weights: (1, N, T, L + T); cached_x: (1, N, L, H)."""
        gated, y = self._gate(x)
        left_context_len = cached_x.size(2)
        gated = torch.cat([cached_x, gated.permute(1, 0, 2).unsqueeze(0)], dim=2)
        new_cached_x = gated[:, :, gated.size(2) - left_context_len :]
        return self._attend(gated, y, attn_weights), new_cached_x
