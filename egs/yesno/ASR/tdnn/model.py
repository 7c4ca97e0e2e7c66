"""icefall's yesno TDNN: three 1-D convolutions (kernel 3, 32 channels, ReLU, batch norm
without affine) over the fbank frames and a linear layer to the tokens, log-softmax output.

Example::

    >>> Tdnn(23, 4)(torch.randn(2, 50, 23)).shape
    torch.Size([2, 50, 4])
"""

from __future__ import annotations

import torch
from torch import nn


class Tdnn(nn.Module):
    def __init__(self, num_features: int, num_classes: int, channels: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        dim = num_features
        for _ in range(3):
            layers += [nn.Conv1d(dim, channels, kernel_size=3, padding=1), nn.ReLU(),
                       nn.BatchNorm1d(channels, affine=False)]
            dim = channels
        self.tdnn = nn.Sequential(*layers)
        self.output_linear = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, T, num_features]`` -> log-probs ``[N, T, num_classes]``."""
        x = self.tdnn(x.permute(0, 2, 1)).permute(0, 2, 1)
        return self.output_linear(x).log_softmax(-1)
