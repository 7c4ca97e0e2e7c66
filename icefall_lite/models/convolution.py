"""Zipformer convolution module: GLU-style gating, a depthwise convolution, SwooshR, projection.

With ``causal=True`` the depthwise convolution is :class:`ChunkCausalDepthwiseConv1d`: a causal
convolution over the past plus a convolution confined to the current chunk, so that chunked
(simulated streaming) training and chunk-by-chunk streaming compute the same thing.

Example::

    >>> import torch
    >>> conv = ConvolutionModule(16, kernel_size=7, causal=True)
    >>> conv(torch.randn(12, 2, 16), chunk_size=4).shape
    torch.Size([12, 2, 16])
"""

# TorchScript on torch 1.13 does not parse "X | None": keep typing.Optional here.
# ruff: noqa: UP045

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icefall_lite.models.scaling import Balancer, SwooshR, scaled_conv1d, scaled_linear

__all__ = ["ChunkCausalDepthwiseConv1d", "ConvolutionModule"]


class ChunkCausalDepthwiseConv1d(nn.Module):
    """Depthwise conv = causal conv (width (k+1)/2 over k//2 left-padded frames) + a chunk-local
    conv (width k, zero-padded at every chunk edge) whose output is scaled per channel and
    position by ``1 + left_edge + right_edge`` (learned, initialised to zero).

    Args:
      channels: C. kernel_size: k, odd.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                f"ChunkCausalDepthwiseConv1d: kernel_size must be odd, got {kernel_size}"
            )
        self.kernel_size = kernel_size
        half_kernel = (kernel_size + 1) // 2
        self.causal_conv = nn.Conv1d(channels, channels, half_kernel, groups=channels, bias=True)
        self.chunkwise_conv = scaled_conv1d(
            channels, channels, kernel_size, groups=channels, padding=kernel_size // 2,
            bias=True, initial_scale=0.5,
        )
        self.chunkwise_conv_scale = nn.Parameter(torch.zeros(2, channels, kernel_size))

    def _chunk_scale(self, chunk_size: int, x: Tensor) -> Tensor:
        """(C, chunk_size) multiplier ``1 + left_edge + right_edge`` (no data-dependent branches,
        so a traced graph stays valid for any chunk length)."""
        k = self.kernel_size
        positions = torch.arange(chunk_size, device=x.device)
        left_index = positions.clamp(max=k - 1)
        left = self.chunkwise_conv_scale[0][:, left_index] * (positions < k).to(x.dtype)
        right_pos = positions - chunk_size + k
        right = self.chunkwise_conv_scale[1][:, right_pos.clamp(min=0)] * (right_pos >= 0).to(
            x.dtype
        )
        return 1.0 + left + right

    def forward(self, x: Tensor, chunk_size: int = -1) -> Tensor:
        """x: (N, C, T) -> (N, C, T); chunk_size < 0 means the whole sequence is one chunk.

        A last partial chunk is zero-padded to the full chunk length, as streaming would see it.
        """
        batch_size, channels, seq_len = x.shape
        causal_out = self.causal_conv(F.pad(x, (self.kernel_size // 2, 0)))
        if chunk_size < 0:
            chunk_size = seq_len
        num_chunks = (seq_len + chunk_size - 1) // chunk_size
        padded_len = num_chunks * chunk_size
        chunks = F.pad(x, (0, padded_len - seq_len))
        chunks = chunks.reshape(batch_size, channels, num_chunks, chunk_size)
        chunks = chunks.permute(0, 2, 1, 3).reshape(batch_size * num_chunks, channels, chunk_size)
        chunk_out = self.chunkwise_conv(chunks) * self._chunk_scale(chunk_size, x)
        chunk_out = chunk_out.reshape(batch_size, num_chunks, channels, chunk_size)
        chunk_out = chunk_out.permute(0, 2, 1, 3).reshape(batch_size, channels, padded_len)
        return chunk_out[..., :seq_len] + causal_out

    def streaming_forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C, T) one chunk; cache: (N, C, k//2) past inputs -> (out, new cache)."""
        extended = torch.cat([cache, x], dim=2)
        new_cache = extended[:, :, extended.size(2) - cache.size(2) :]
        causal_out = self.causal_conv(extended)
        chunk_out = self.chunkwise_conv(x) * self._chunk_scale(x.size(2), x)
        return chunk_out + causal_out, new_cache


class _DepthwiseConv1d(nn.Conv1d):
    """Plain "same"-padded depthwise conv with the call signature of the chunk-causal one."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)

    def forward(self, x: Tensor, chunk_size: int = -1) -> Tensor:
        """x: (N, C, T) -> (N, C, T); chunk_size is ignored (the model is not causal)."""
        return self._conv_forward(x, self.weight, self.bias)

    def streaming_forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        raise RuntimeError("streaming_forward needs a causal model (--causal 1)")


class ConvolutionModule(nn.Module):
    """``out_proj(SwooshR(depthwise(x * sigmoid(s))))`` with ``[x, s] = in_proj(input)``.

    Padded frames are zeroed before the depthwise convolution, so padding a batch does not change
    the outputs of its shorter utterances.

    Args:
      channels: d. kernel_size: k (odd). causal: use :class:`ChunkCausalDepthwiseConv1d`.
    """

    def __init__(self, channels: int, kernel_size: int, causal: bool):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvolutionModule: kernel_size must be odd, got {kernel_size}")
        self.causal = causal
        self.kernel_size = kernel_size
        self.in_proj = nn.Linear(channels, 2 * channels)
        # keeps the pre-sigmoid values from blowing up (a failure icefall saw in layer 0)
        self.balancer1 = Balancer(2 * channels, channel_dim=-1, max_abs=10.0, min_positive=0.05,
                                  max_positive=1.0)
        if causal:
            self.depthwise_conv = ChunkCausalDepthwiseConv1d(channels, kernel_size)
        else:
            self.depthwise_conv = _DepthwiseConv1d(channels, kernel_size)
        self.activation = SwooshR()
        self.out_proj = scaled_linear(channels, channels, initial_scale=0.05)

    def _gate(self, x: Tensor) -> Tensor:
        x, s = self.balancer1(self.in_proj(x)).chunk(2, dim=-1)
        return (x * torch.sigmoid(s)).permute(1, 2, 0)  # (N, C, T)

    def forward(
        self, x: Tensor, src_key_padding_mask: Optional[Tensor] = None, chunk_size: int = -1
    ) -> Tensor:
        """x: (T, N, C); src_key_padding_mask: (N, T) True = padding -> (T, N, C)."""
        x = self._gate(x)
        if src_key_padding_mask is not None:
            x = x.masked_fill(src_key_padding_mask.unsqueeze(1), 0.0)
        x = self.depthwise_conv(x, chunk_size)
        return self.out_proj(self.activation(x).permute(2, 0, 1))

    def streaming_forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x: (T, N, C) one chunk; cache: (N, C, k//2) -> (out (T, N, C), new cache)."""
        x = self._gate(x)
        x, new_cache = self.depthwise_conv.streaming_forward(x, cache)
        return self.out_proj(self.activation(x).permute(2, 0, 1)), new_cache
