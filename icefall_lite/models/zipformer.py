"""The Zipformer2 encoder: stacks of Zipformer layers at several frame rates, run in sequence.

Each stack converts the channel count, (optionally) downsamples by a learned weighted average,
runs its layers, upsamples by repetition and mixes with its input through a learned bypass. The
output concatenates the widest channels available from the last stacks and is downsampled by 2.

With ``causal=True`` attention is restricted to chunks (and a limited number of left chunks),
chosen at random per batch in training, and :meth:`Zipformer2.streaming_forward` processes one
chunk at a time with caches, reproducing the chunked forward.

Shapes: (T, N, C) inside the encoder. Example::

    >>> import torch
    >>> enc = Zipformer2(downsampling_factor=(1, 2), encoder_dim=(16, 24),
    ...                  num_encoder_layers=(1, 1), encoder_unmasked_dim=(16, 24),
    ...                  num_heads=(2, 2), feedforward_dim=(32, 32), cnn_module_kernel=(3, 3),
    ...                  query_head_dim=(4,), pos_head_dim=(2,), value_head_dim=(4,), pos_dim=8)
    >>> y, y_lens = enc(torch.randn(10, 2, 16), torch.tensor([10, 7]))
    >>> y.shape, y_lens.tolist()
    (torch.Size([5, 2, 24]), [5, 4])
"""

# TorchScript on torch 1.13 does not parse "X | None": keep typing.Optional here.
# ruff: noqa: UP045

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn

from icefall_lite.models.attention import (
    CompactRelPositionalEncoding,
    NonlinAttention,
    RelPositionMultiheadAttentionWeights,
    SelfAttention,
)
from icefall_lite.models.convolution import ConvolutionModule
from icefall_lite.models.scaling import (
    Balancer,
    BiasNorm,
    BypassModule,
    SharedDropout,
    SwooshL,
    Whiten,
    scaled_linear,
)

__all__ = [
    "DownsampledZipformer2Encoder",
    "FeedforwardModule",
    "SimpleDownsample",
    "SimpleUpsample",
    "Zipformer2",
    "Zipformer2Encoder",
    "Zipformer2EncoderLayer",
    "chunk_attention_mask",
]

CPU = torch.device("cpu")
NUM_LAYER_STATES = 6  # cached_key, cached_nonlin_attn, cached_val1, cached_val2, conv1, conv2


def chunk_attention_mask(
    seq_len: int, chunk_size: int, left_context_chunks: int, device: torch.device
) -> Tensor:
    """(T, T) bool mask, True = masked: key chunk > query chunk, or more than
    ``left_context_chunks`` chunks to the left (< 0: unlimited)."""
    chunk_index = torch.div(torch.arange(seq_len, device=device), chunk_size, rounding_mode="floor")
    diff = chunk_index.unsqueeze(0) - chunk_index.unsqueeze(1)  # key chunk - query chunk
    mask = diff > 0
    if left_context_chunks >= 0:
        mask = mask | (diff < -left_context_chunks)
    return mask


def convert_num_channels(x: Tensor, num_channels: int) -> Tensor:
    """Truncate or zero-pad the last dim of ``x`` to ``num_channels``."""
    if num_channels <= x.size(-1):
        return x[..., :num_channels]
    pad = torch.zeros(
        x.shape[:-1] + (num_channels - x.size(-1),), dtype=x.dtype, device=x.device
    )
    return torch.cat([x, pad], dim=-1)


def fill_padding_with_last_frame(x: Tensor, src_key_padding_mask: Optional[Tensor]) -> Tensor:
    """Replace padded frames of x (T, N, C) by each sequence's last valid frame, so a following
    :class:`SimpleDownsample` treats a padded sequence exactly as it would alone."""
    if src_key_padding_mask is None:
        return x
    lengths = (~src_key_padding_mask).sum(dim=1)
    last = (lengths - 1).clamp(min=0)
    last_frames = x[last, torch.arange(x.size(1), device=x.device)]  # (N, C)
    return torch.where(src_key_padding_mask.t().unsqueeze(-1), last_frames.unsqueeze(0), x)


class SimpleDownsample(nn.Module):
    """Weighted average of each group of ``downsample`` frames (weights ``softmax(bias)``); the
    end is padded by repeating the last frame. (T, N, C) -> (ceil(T / ds), N, C)."""

    def __init__(self, downsample: int):
        super().__init__()
        self.downsample = downsample
        self.bias = nn.Parameter(torch.zeros(downsample))

    def forward(self, src: Tensor) -> Tensor:
        seq_len, batch_size, channels = src.shape
        ds = self.downsample
        out_len = (seq_len + ds - 1) // ds
        if torch.jit.is_tracing() or out_len * ds != seq_len:
            index = torch.arange(out_len * ds, device=src.device).clamp(max=seq_len - 1)
            src = src[index]
        src = src.reshape(out_len, ds, batch_size, channels)
        weights = self.bias.softmax(dim=0).to(src.dtype)
        return (src * weights.reshape(1, ds, 1, 1)).sum(dim=1)


class SimpleUpsample(nn.Module):
    """Repeat each frame ``upsample`` times: (T, N, C) -> (T * ds, N, C)."""

    def __init__(self, upsample: int):
        super().__init__()
        self.upsample = upsample

    def forward(self, src: Tensor) -> Tensor:
        seq_len, batch_size, channels = src.shape
        src = src.unsqueeze(1).expand(seq_len, self.upsample, batch_size, channels)
        return src.reshape(seq_len * self.upsample, batch_size, channels)


class FeedforwardModule(nn.Module):
    """Linear(d -> F) -> SwooshL -> Dropout -> Linear(F -> d, init 0.1)."""

    def __init__(self, embed_dim: int, feedforward_dim: int, dropout: float):
        super().__init__()
        self.in_proj = nn.Linear(embed_dim, feedforward_dim)
        self.hidden_balancer = Balancer(feedforward_dim, channel_dim=-1, min_positive=0.3,
                                        max_positive=1.0, min_abs=0.75, max_abs=5.0)
        self.activation = SwooshL()
        self.dropout = SharedDropout(dropout, shared_dim=0)  # (T, N, F): one mask per sequence
        self.out_proj = scaled_linear(feedforward_dim, embed_dim, initial_scale=0.1)
        self.out_whiten = Whiten(num_groups=1, whitening_limit=7.5)

    def forward(self, x: Tensor) -> Tensor:
        """x: (T, N, d) -> (T, N, d)."""
        x = self.dropout(self.activation(self.hidden_balancer(self.in_proj(x))))
        return self.out_whiten(self.out_proj(x))


class Zipformer2EncoderLayer(nn.Module):
    """One Zipformer block (docs/design/zipformer.rst §5): attention weights computed once and
    shared by the non-linear attention (head 0) and two self-attention modules; three feed-forward
    modules (3F/4, F, 5F/4); two convolution modules; a mid-layer bypass; BiasNorm; a bypass.

    Args:
      embed_dim: d. pos_dim: P. num_heads: H. query_head_dim, pos_head_dim, value_head_dim.
      feedforward_dim: F. dropout: feed-forward dropout. cnn_module_kernel: k. causal: chunked.
      layer_skip_rate: probability (training only) that a sequence bypasses the whole layer.
    """

    def __init__(
        self,
        embed_dim: int,
        pos_dim: int,
        num_heads: int,
        query_head_dim: int,
        pos_head_dim: int,
        value_head_dim: int,
        feedforward_dim: int,
        dropout: float = 0.1,
        cnn_module_kernel: int = 31,
        causal: bool = False,
        layer_skip_rate: float = 0.0,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.self_attn_weights = RelPositionMultiheadAttentionWeights(
            embed_dim, pos_dim, num_heads, query_head_dim, pos_head_dim
        )
        self.self_attn1 = SelfAttention(embed_dim, num_heads, value_head_dim)
        self.self_attn2 = SelfAttention(embed_dim, num_heads, value_head_dim)
        self.feed_forward1 = FeedforwardModule(embed_dim, (feedforward_dim * 3) // 4, dropout)
        self.feed_forward2 = FeedforwardModule(embed_dim, feedforward_dim, dropout)
        self.feed_forward3 = FeedforwardModule(embed_dim, (feedforward_dim * 5) // 4, dropout)
        self.nonlin_attention = NonlinAttention(embed_dim, hidden_channels=3 * embed_dim // 4)
        self.conv_module1 = ConvolutionModule(embed_dim, cnn_module_kernel, causal)
        self.conv_module2 = ConvolutionModule(embed_dim, cnn_module_kernel, causal)
        self.bypass_mid = BypassModule(embed_dim)
        self.bypass = BypassModule(embed_dim, skip_rate=layer_skip_rate)
        self.norm = BiasNorm(embed_dim)
        # FF2's output tends to become too small without this (icefall's observation)
        self.balancer_ff2 = Balancer(embed_dim, channel_dim=-1, min_abs=0.1, max_abs=2.0)
        self.balancer1 = Balancer(embed_dim, channel_dim=-1, min_positive=0.45,
                                  max_positive=0.55, min_abs=0.2, max_abs=4.0)
        self.balancer2 = Balancer(embed_dim, channel_dim=-1, min_positive=0.45,
                                  max_positive=0.55, min_abs=0.1, max_abs=4.0)
        self.whiten = Whiten(num_groups=1, whitening_limit=4.0)

    def forward(
        self,
        src: Tensor,
        pos_emb: Tensor,
        chunk_size: int = -1,
        attn_mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """src: (T, N, d); pos_emb: (1, 2T-1, P); attn_mask: (T, T); src_key_padding_mask:
        (N, T). Returns (T, N, d)."""
        src_orig = src
        attn_weights = self.self_attn_weights(src, pos_emb, src_key_padding_mask, attn_mask)
        src = src + self.feed_forward1(src)
        src = src + self.nonlin_attention(src, attn_weights[0:1])
        src = src + self.self_attn1(src, attn_weights)
        src = src + self.conv_module1(src, src_key_padding_mask, chunk_size)
        src = src + self.balancer_ff2(self.feed_forward2(src))
        src = self.bypass_mid(src_orig, src)
        src = src + self.self_attn2(src, attn_weights)
        src = src + self.conv_module2(src, src_key_padding_mask, chunk_size)
        src = src + self.feed_forward3(src)
        src = self.norm(self.balancer1(src))
        src = self.bypass(src_orig, src)
        return self.whiten(self.balancer2(src))

    def streaming_forward(
        self,
        src: Tensor,
        pos_emb: Tensor,
        states: list[Tensor],
        src_key_padding_mask: Tensor,
    ) -> tuple[Tensor, list[Tensor]]:
        """src: (T, N, d) one chunk; pos_emb: (1, L + 2T - 1, P); states: [cached_key (L, N,
        H*qhd), cached_nonlin_attn (1, N, L, 3d/4), cached_val1, cached_val2 (L, N, H*vhd),
        cached_conv1, cached_conv2 (N, d, k//2)]; src_key_padding_mask: (N, L + T).
        Returns the output (T, N, d) and the new states."""
        src_orig = src
        attn_weights, cached_key = self.self_attn_weights.streaming_forward(
            src, pos_emb, states[0], src_key_padding_mask
        )
        src = src + self.feed_forward1(src)
        nla, cached_nonlin_attn = self.nonlin_attention.streaming_forward(
            src, attn_weights[0:1], states[1]
        )
        src = src + nla
        attn, cached_val1 = self.self_attn1.streaming_forward(src, attn_weights, states[2])
        src = src + attn
        conv, cached_conv1 = self.conv_module1.streaming_forward(src, states[4])
        src = src + conv
        src = src + self.feed_forward2(src)
        src = self.bypass_mid(src_orig, src)
        attn, cached_val2 = self.self_attn2.streaming_forward(src, attn_weights, states[3])
        src = src + attn
        conv, cached_conv2 = self.conv_module2.streaming_forward(src, states[5])
        src = src + conv
        src = src + self.feed_forward3(src)
        src = self.bypass(src_orig, self.norm(src))
        return src, [cached_key, cached_nonlin_attn, cached_val1, cached_val2, cached_conv1,
                     cached_conv2]


class Zipformer2Encoder(nn.Module):
    """A stack of ``num_layers`` copies of a layer with its own relative positional encoding
    (offsets counted in this stack's frames). Args: layer, num_layers, pos_dim, pos dropout."""

    def __init__(
        self,
        encoder_layer: Zipformer2EncoderLayer,
        num_layers: int,
        pos_dim: int,
        pos_dropout: float = 0.15,
    ):
        super().__init__()
        self.encoder_pos = CompactRelPositionalEncoding(pos_dim, dropout_rate=pos_dropout)
        # identical initial copies, as in icefall
        self.layers = nn.ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.num_layer_states = NUM_LAYER_STATES

    def forward(
        self,
        src: Tensor,
        chunk_size: int = -1,
        left_context_chunks: int = -1,
        feature_mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """src: (T, N, d) -> (T, N, d). chunk_size (in this stack's frames) < 0: no chunking."""
        pos_emb = self.encoder_pos(src)
        attn_mask: Optional[Tensor] = None
        if chunk_size > 0:
            attn_mask = chunk_attention_mask(src.size(0), chunk_size, left_context_chunks,
                                             src.device)
        if feature_mask is not None:
            src = src * feature_mask
        for layer in self.layers:
            src = layer(src, pos_emb, chunk_size, attn_mask, src_key_padding_mask)
            if feature_mask is not None:
                src = src * feature_mask
        return src

    def streaming_forward(
        self,
        src: Tensor,
        states: list[Tensor],
        left_context_len: int,
        src_key_padding_mask: Tensor,
    ) -> tuple[Tensor, list[Tensor]]:
        """src: (T, N, d) one chunk; states: 6 per layer; src_key_padding_mask: (N, L + T)."""
        pos_emb = self.encoder_pos(src, left_context_len)
        new_states: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            layer_states = states[i * self.num_layer_states : (i + 1) * self.num_layer_states]
            src, layer_states = layer.streaming_forward(
                src, pos_emb, layer_states, src_key_padding_mask
            )
            new_states.extend(layer_states)
        return src, new_states


class DownsampledZipformer2Encoder(nn.Module):
    """Downsample by ``ds`` -> :class:`Zipformer2Encoder` -> upsample -> bypass with the input.

    Chunk sizes and padding masks are given at the input frame rate and divided here."""

    def __init__(self, encoder: Zipformer2Encoder, dim: int, downsample: int):
        super().__init__()
        self.downsample_factor = downsample
        self.downsample = SimpleDownsample(downsample)
        self.encoder = encoder
        self.upsample = SimpleUpsample(downsample)
        self.out_combiner = BypassModule(dim)

    def forward(
        self,
        src: Tensor,
        chunk_size: int = -1,
        left_context_chunks: int = -1,
        feature_mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """src: (T, N, d) -> (T, N, d)."""
        ds = self.downsample_factor
        src_orig = src
        src = self.downsample(fill_padding_with_last_frame(src, src_key_padding_mask))
        if src_key_padding_mask is not None:
            src_key_padding_mask = src_key_padding_mask[:, ::ds]
        if chunk_size > 0:
            chunk_size = chunk_size // ds
        src = self.encoder(src, chunk_size, left_context_chunks, feature_mask,
                           src_key_padding_mask)
        src = self.upsample(src)[: src_orig.size(0)]
        return self.out_combiner(src_orig, src)

    def streaming_forward(
        self,
        src: Tensor,
        states: list[Tensor],
        left_context_len: int,
        src_key_padding_mask: Tensor,
    ) -> tuple[Tensor, list[Tensor]]:
        """src: (T, N, d) one chunk, T divisible by ds; left_context_len and the (N, L + T) mask
        at the input frame rate."""
        ds = self.downsample_factor
        src_orig = src
        src = self.downsample(src)
        src, new_states = self.encoder.streaming_forward(
            src, states, left_context_len // ds, src_key_padding_mask[:, ::ds]
        )
        src = self.upsample(src)[: src_orig.size(0)]
        return self.out_combiner(src_orig, src), new_states


def _as_tuple(value: Sequence[int], num_stacks: int, name: str) -> tuple[int, ...]:
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        value = value * num_stacks
    if len(value) != num_stacks:
        raise ValueError(f"Zipformer2: {name} has {len(value)} values, expected 1 or {num_stacks}")
    return value


class Zipformer2(nn.Module):
    """The Zipformer2 encoder (docs/design/zipformer.rst section 4).

    Per-stack tuples (a single value is broadcast): downsampling_factor, encoder_dim,
    num_encoder_layers, encoder_unmasked_dim, num_heads, feedforward_dim, cnn_module_kernel,
    query_head_dim, pos_head_dim, value_head_dim.

    Args:
      output_downsampling_factor: final downsampling (2).
      pos_dim: P. dropout: feed-forward dropout. causal: chunked attention and convolution.
      chunk_size, left_context_frames: candidates in 50 Hz frames (training draws one of each per
        batch; eval and streaming use the first; -1 = unlimited).
      feature_mask_probs: per-sequence probabilities of zeroing the upper two halves of the
        channels above ``encoder_unmasked_dim`` in training.
      layer_skip_rate: per-sequence layer-skip probability in training, times sqrt(ds) per stack.
    """

    def __init__(
        self,
        downsampling_factor: Sequence[int] = (1, 2, 4, 8, 4, 2),
        encoder_dim: Sequence[int] = (192, 256, 384, 512, 384, 256),
        num_encoder_layers: Sequence[int] = (2, 2, 3, 4, 3, 2),
        encoder_unmasked_dim: Sequence[int] = (192, 192, 256, 256, 256, 192),
        num_heads: Sequence[int] = (4, 4, 4, 8, 4, 4),
        feedforward_dim: Sequence[int] = (512, 768, 1024, 1536, 1024, 768),
        cnn_module_kernel: Sequence[int] = (31, 31, 15, 15, 15, 31),
        query_head_dim: Sequence[int] = (32,),
        pos_head_dim: Sequence[int] = (4,),
        value_head_dim: Sequence[int] = (12,),
        pos_dim: int = 48,
        output_downsampling_factor: int = 2,
        dropout: float = 0.1,
        causal: bool = False,
        chunk_size: Sequence[int] = (-1,),
        left_context_frames: Sequence[int] = (-1,),
        feature_mask_probs: tuple[float, float] = (0.125, 0.234),
        layer_skip_rate: float = 0.035,
    ):
        super().__init__()
        n = len(tuple(downsampling_factor))
        self.downsampling_factor = list(_as_tuple(downsampling_factor, n, "downsampling_factor"))
        self.encoder_dim = list(_as_tuple(encoder_dim, n, "encoder_dim"))
        self.num_encoder_layers = list(_as_tuple(num_encoder_layers, n, "num_encoder_layers"))
        self.encoder_unmasked_dim = list(
            _as_tuple(encoder_unmasked_dim, n, "encoder_unmasked_dim")
        )
        self.num_heads = list(_as_tuple(num_heads, n, "num_heads"))
        self.query_head_dim = list(_as_tuple(query_head_dim, n, "query_head_dim"))
        self.value_head_dim = list(_as_tuple(value_head_dim, n, "value_head_dim"))
        self.cnn_module_kernel = list(_as_tuple(cnn_module_kernel, n, "cnn_module_kernel"))
        feedforward = _as_tuple(feedforward_dim, n, "feedforward_dim")
        pos_heads = _as_tuple(pos_head_dim, n, "pos_head_dim")
        for name, dims in (("encoder_dim", self.encoder_dim),
                           ("encoder_unmasked_dim", self.encoder_unmasked_dim)):
            if any(d % 4 for d in dims):
                raise ValueError(f"Zipformer2: every {name} must be divisible by 4, got {dims}")
        if any(u > d for u, d in zip(self.encoder_unmasked_dim, self.encoder_dim)):
            raise ValueError("Zipformer2: encoder_unmasked_dim must not exceed encoder_dim")
        self.output_downsampling_factor = output_downsampling_factor
        self.causal = causal
        self.chunk_size = [int(c) for c in chunk_size]
        self.left_context_frames = [int(c) for c in left_context_frames]
        if causal:
            for c in self.chunk_size:
                if c > 0 and any(c % ds for ds in self.downsampling_factor):
                    raise ValueError(
                        f"Zipformer2: chunk_size {c} must be divisible by every "
                        f"downsampling_factor {self.downsampling_factor}"
                    )
        self.feature_mask_probs = [float(p) for p in feature_mask_probs]
        self.num_layer_states = NUM_LAYER_STATES

        encoders = []
        for i in range(n):
            layer = Zipformer2EncoderLayer(
                embed_dim=self.encoder_dim[i],
                pos_dim=pos_dim,
                num_heads=self.num_heads[i],
                query_head_dim=self.query_head_dim[i],
                pos_head_dim=pos_heads[i],
                value_head_dim=self.value_head_dim[i],
                feedforward_dim=feedforward[i],
                dropout=dropout,
                cnn_module_kernel=self.cnn_module_kernel[i],
                causal=causal,
                # icefall's value after the layer-drop warm-up (the warm-up itself is dropped)
                layer_skip_rate=layer_skip_rate * math.sqrt(self.downsampling_factor[i]),
            )
            encoder: nn.Module = Zipformer2Encoder(layer, self.num_encoder_layers[i], pos_dim)
            if self.downsampling_factor[i] != 1:
                encoder = DownsampledZipformer2Encoder(
                    encoder, self.encoder_dim[i], self.downsampling_factor[i]
                )
            encoders.append(encoder)
        self.encoders = nn.ModuleList(encoders)
        self.output_dim = max(self.encoder_dim)
        self.downsample_output = SimpleDownsample(output_downsampling_factor)

    def _chunk_config(self) -> tuple[int, int]:
        """(chunk_size, left_context_chunks) for this call; (-1, -1) = no chunking."""
        if not self.causal:
            return -1, -1
        if self.training:
            chunk_size = self.chunk_size[int(torch.randint(len(self.chunk_size), (1,)).item())]
            left_frames = self.left_context_frames[
                int(torch.randint(len(self.left_context_frames), (1,)).item())
            ]
        else:
            chunk_size = self.chunk_size[0]
            left_frames = self.left_context_frames[0]
        if chunk_size < 0:
            return -1, -1
        left_chunks = -1 if left_frames < 0 else max(1, left_frames // chunk_size)
        return chunk_size, left_chunks

    def _feature_masks(self, x: Tensor) -> list[Optional[Tensor]]:
        """Per-stack (1, N, d_i) channel masks in training, drawn once per sequence so they
        agree across stacks; all None in eval."""
        masks: list[Optional[Tensor]] = []
        if not self.training:
            for _ in self.encoder_dim:
                masks.append(None)
            return masks
        batch_size = x.size(1)
        drop1 = (torch.rand(batch_size, 1, device=x.device) < self.feature_mask_probs[0])
        drop2 = (torch.rand(batch_size, 1, device=x.device) < self.feature_mask_probs[1])
        for dim, unmasked in zip(self.encoder_dim, self.encoder_unmasked_dim):
            channels = torch.arange(dim, device=x.device).unsqueeze(0)
            middle = unmasked + (dim - unmasked) // 2
            band1 = (channels >= unmasked) & (channels < middle)
            band2 = channels >= middle
            dropped = (band1 & drop1) | (band2 & drop2)
            masks.append((~dropped).to(x.dtype).unsqueeze(0))
        return masks

    def _full_dim_output(self, outputs: list[Tensor]) -> Tensor:
        """The last stack's output, widened with the upper channels of earlier, wider stacks."""
        pieces = [outputs[-1]]
        cur_dim = self.encoder_dim[-1]
        for i in range(len(self.encoder_dim) - 2, -1, -1):
            dim = self.encoder_dim[i]
            if dim > cur_dim:
                pieces.append(outputs[i][..., cur_dim:dim])
                cur_dim = dim
        return torch.cat(pieces, dim=-1)

    def forward(
        self, x: Tensor, x_lens: Tensor, src_key_padding_mask: Optional[Tensor] = None
    ) -> tuple[Tensor, Tensor]:
        """x: (T, N, d0); x_lens: (N,); src_key_padding_mask: (N, T), True = padding (built
        from x_lens when None). Returns (ceil(T / 2), N, max(dims)) and ``(x_lens + 1) // 2``."""
        if src_key_padding_mask is None:
            frames = torch.arange(x.size(0), device=x.device)
            src_key_padding_mask = frames.unsqueeze(0) >= x_lens.unsqueeze(1)
        chunk_size, left_chunks = self._chunk_config()
        feature_masks = self._feature_masks(x)
        outputs: list[Tensor] = []
        for i, module in enumerate(self.encoders):
            x = convert_num_channels(x, self.encoder_dim[i])
            x = module(x, chunk_size, left_chunks, feature_masks[i], src_key_padding_mask)
            outputs.append(x)
        x = self._full_dim_output(outputs)
        x = self.downsample_output(fill_padding_with_last_frame(x, src_key_padding_mask))
        ds = self.output_downsampling_factor
        lengths = torch.div(x_lens + ds - 1, ds, rounding_mode="floor")
        return x, lengths

    def streaming_forward(
        self,
        x: Tensor,
        x_lens: Tensor,
        states: list[Tensor],
        src_key_padding_mask: Tensor,
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One chunk. x: (T, N, d0) with T = chunk frames; states: 6 per layer (see
        :meth:`get_init_states`); src_key_padding_mask: (N, L + T) with L =
        ``left_context_frames[0]``. Returns (T / 2, N, max(dims)), lengths, new states."""
        outputs: list[Tensor] = []
        new_states: list[Tensor] = []
        left_context_len = self.left_context_frames[0]
        offset = 0
        for i, module in enumerate(self.encoders):
            num_states = self.num_encoder_layers[i] * self.num_layer_states
            x = convert_num_channels(x, self.encoder_dim[i])
            x, stack_states = module.streaming_forward(
                x, states[offset : offset + num_states], left_context_len, src_key_padding_mask
            )
            offset += num_states
            outputs.append(x)
            new_states.extend(stack_states)
        x = self.downsample_output(self._full_dim_output(outputs))
        ds = self.output_downsampling_factor
        lengths = torch.div(x_lens + ds - 1, ds, rounding_mode="floor")
        return x, lengths, new_states

    def get_init_states(self, batch_size: int = 1, device: torch.device = CPU
                        ) -> list[Tensor]:
        """Zero caches, 6 per layer in stack order: cached_key (L_i, N, H*qhd),
        cached_nonlin_attn (1, N, L_i, 3d/4), cached_val1/2 (L_i, N, H*vhd), cached_conv1/2
        (N, d, k//2), with L_i = left_context_frames[0] // ds_i."""
        if not self.causal or self.left_context_frames[0] <= 0 or self.chunk_size[0] <= 0:
            raise ValueError(
                "streaming needs causal=True with positive chunk_size[0] and "
                "left_context_frames[0]"
            )
        states: list[Tensor] = []
        for i in range(len(self.encoder_dim)):
            dim = self.encoder_dim[i]
            left = self.left_context_frames[0] // self.downsampling_factor[i]
            key_dim = self.num_heads[i] * self.query_head_dim[i]
            value_dim = self.num_heads[i] * self.value_head_dim[i]
            conv_len = self.cnn_module_kernel[i] // 2
            for _ in range(self.num_encoder_layers[i]):
                states.append(torch.zeros(left, batch_size, key_dim, device=device))
                states.append(torch.zeros(1, batch_size, left, 3 * dim // 4, device=device))
                states.append(torch.zeros(left, batch_size, value_dim, device=device))
                states.append(torch.zeros(left, batch_size, value_dim, device=device))
                states.append(torch.zeros(batch_size, dim, conv_len, device=device))
                states.append(torch.zeros(batch_size, dim, conv_len, device=device))
        return states
