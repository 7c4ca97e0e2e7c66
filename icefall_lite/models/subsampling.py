"""The Zipformer front end: three 2-D convolutions (time x freq), one ConvNeXt block, a linear
projection and BiasNorm, taking 100 Hz fbank frames to about 50 Hz.

Output length is ``(T - 7) // 2``; in streaming mode the ConvNeXt block reads 3 frames of
look-ahead and keeps 3 frames of left context, so a chunk of ``2 * chunk + 13`` fbank frames gives
``chunk`` output frames.

Example::

    >>> import torch
    >>> embed = Conv2dSubsampling(80, 32)
    >>> y, y_lens = embed(torch.randn(2, 50, 80), torch.tensor([50, 40]))
    >>> y.shape, y_lens.tolist()
    (torch.Size([2, 21, 32]), [21, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icefall_lite.models.scaling import (
    Balancer,
    BiasNorm,
    SharedDropout,
    SwooshL,
    SwooshR,
    Whiten,
    scaled_conv2d,
)

__all__ = ["Conv2dSubsampling", "ConvNeXt"]


class ConvNeXt(nn.Module):
    """Residual block: depthwise 7x7 -> 1x1 (C -> 3C) -> SwooshL -> 1x1 (3C -> C, init 0.01).

    Args:
      channels: C. hidden_ratio: 3. kernel_size: (time, freq), both odd.
    """

    def __init__(self, channels: int, hidden_ratio: int = 3, kernel_size: tuple[int, int] = (7, 7)):
        super().__init__()
        self.time_padding = (kernel_size[0] - 1) // 2
        freq_padding = (kernel_size[1] - 1) // 2
        self.depthwise_conv = nn.Conv2d(
            channels, channels, kernel_size, groups=channels,
            padding=(self.time_padding, freq_padding),
        )
        self.freq_padding = freq_padding
        self.pointwise_conv1 = nn.Conv2d(channels, hidden_ratio * channels, 1)
        self.activation = SwooshL()
        self.pointwise_conv2 = scaled_conv2d(hidden_ratio * channels, channels, 1,
                                             initial_scale=0.01)
        self.out_balancer = Balancer(channels, channel_dim=1, min_positive=0.4, max_positive=0.6,
                                     min_abs=1.0, max_abs=6.0)

    def _pointwise(self, x: Tensor) -> Tensor:
        return self.pointwise_conv2(self.activation(self.pointwise_conv1(x)))

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, C, T, F) -> (N, C, T, F), zero-padded in time."""
        return self.out_balancer(x + self._pointwise(self.depthwise_conv(x)))

    def streaming_forward(self, x: Tensor, cached_left_pad: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C, T + pad, F) where the last ``pad`` frames are look-ahead; cached_left_pad:
        (N, C, pad, F). Returns (N, C, T, F) and the new cache (pad = time_padding)."""
        pad = self.time_padding
        extended = torch.cat([cached_left_pad, x], dim=2)
        num_out = x.size(2) - pad
        new_cache = extended[:, :, num_out : num_out + pad]
        conv = self.depthwise_conv
        y = F.conv2d(extended, conv.weight, conv.bias, padding=(0, self.freq_padding),
                     groups=conv.groups)
        return x[:, :, :num_out] + self._pointwise(y), new_cache


class Conv2dSubsampling(nn.Module):
    """Conv2d(1->8, k3, freq pad 1) -> SwooshR -> Conv2d(8->32, k3, stride 2) -> SwooshR ->
    Conv2d(32->128, k3, stride (1, 2)) -> SwooshR -> ConvNeXt -> Linear -> BiasNorm -> Dropout.

    Frames past each utterance's length are zeroed before the ConvNeXt block (whose time padding
    would otherwise see the padding of longer utterances in the batch).

    Args:
      in_channels: feature dim (80). out_channels: d0, the first stack's dim.
      layer1_channels, layer2_channels, layer3_channels: 8, 32, 128. dropout: output dropout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layer1_channels: int = 8,
        layer2_channels: int = 32,
        layer3_channels: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        if in_channels < 7:
            raise ValueError(f"Conv2dSubsampling: feature dim must be >= 7, got {in_channels}")
        self.in_channels = in_channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, layer1_channels, 3, padding=(0, 1)),
            Balancer(layer1_channels, channel_dim=1, max_abs=1.0),
            SwooshR(),
            nn.Conv2d(layer1_channels, layer2_channels, 3, stride=2),
            Balancer(layer2_channels, channel_dim=1, max_abs=4.0),
            SwooshR(),
            nn.Conv2d(layer2_channels, layer3_channels, 3, stride=(1, 2)),
            Balancer(layer3_channels, channel_dim=1, max_abs=4.0),
            SwooshR(),
        )
        self.convnext = ConvNeXt(layer3_channels)
        self.layer3_channels = layer3_channels
        self.out_width = (((in_channels - 1) // 2) - 1) // 2
        self.out = nn.Linear(self.out_width * layer3_channels, out_channels)
        self.out_whiten = Whiten(num_groups=1, whitening_limit=5.0)
        self.out_norm = BiasNorm(out_channels)
        self.dropout = SharedDropout(dropout, shared_dim=1)  # (N, T, C): one mask per sequence

    def _project(self, x: Tensor) -> Tensor:
        batch_size, channels, seq_len, width = x.shape
        x = x.permute(0, 2, 1, 3).reshape(batch_size, seq_len, channels * width)
        return self.out_norm(self.out_whiten(self.out(x)))

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, T, F) fbank; x_lens: (N,) -> (N, (T-7)//2, d0) and lengths ``(x_lens-7)//2``."""
        x = self.conv(x.unsqueeze(1))
        x_lens = torch.div(x_lens - 7, 2, rounding_mode="floor")
        frames = torch.arange(x.size(2), device=x.device)
        valid = (frames.unsqueeze(0) < x_lens.unsqueeze(1)).to(x.dtype)
        x = self.convnext(x * valid[:, None, :, None])
        return self.dropout(self._project(x)), x_lens

    def streaming_forward(
        self, x: Tensor, x_lens: Tensor, cached_left_pad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x: (N, 2*chunk + 13, F); cached_left_pad: (N, C3, 3, F') ->
        (N, chunk, d0), lengths ``(x_lens - 7)//2 - 3`` and the new cache."""
        x = self.conv(x.unsqueeze(1))
        x, new_cache = self.convnext.streaming_forward(x, cached_left_pad)
        x_lens = torch.div(x_lens - 7, 2, rounding_mode="floor") - self.convnext.time_padding
        return self._project(x), x_lens, new_cache

    def get_init_state(self, batch_size: int, device: torch.device) -> Tensor:
        """Zeros of shape (N, C3, 3, F') (C3 = layer3_channels): the ConvNeXt left context
        before any audio."""
        return torch.zeros(
            batch_size, self.layer3_channels, self.convnext.time_padding, self.out_width,
            device=device,
        )
