"""icefall's yesno TDNN: three 1-D convolutions over the fbank frames (kernel 3; kernel 5 with
dilation 2; kernel 5 with dilation 4), each followed by ReLU and batch norm without affine,
then a linear layer to the tokens and a log-softmax.

The receptive field is 1 + 2 + 8 + 16 = 27 frames (270 ms, most of a yes/no word).
``pad=True`` (the recipe's default, ``train.py --frames masked`` or ``padded``) pads each
convolution with zeros so the output has one frame per input frame and the supervisions' frame
counts apply as they are; ``forward``'s ``lengths`` (``--frames masked``) zero each sequence's
frames after its end, so that a shorter utterance sees zeros there, as alone, and not the
batch's padding.
``pad=False`` is icefall's: output frame ``t`` sees input frames ``t .. t + 26``, and
``T`` input frames give ``T - 26`` (``context``); ``common.output_segments`` says which of them
each utterance's loss covers.

Example::

    >>> Tdnn(23, 5)(torch.randn(2, 50, 23)).shape
    torch.Size([2, 50, 5])
    >>> Tdnn(23, 5, pad=False)(torch.randn(2, 50, 23)).shape
    torch.Size([2, 24, 5])
"""

from __future__ import annotations

import torch
from torch import nn

#: (kernel size, dilation) of the three convolutions, as icefall's yesno TDNN
LAYERS = ((3, 1), (5, 2), (5, 4))


class Tdnn(nn.Module):
    def __init__(self, num_features: int, num_classes: int, channels: int = 32,
                 pad: bool = True):
        super().__init__()
        self.pad = pad
        #: input frames an unpadded model's output lacks (26)
        self.context = sum(d * (k - 1) for k, d in LAYERS)
        layers: list[nn.Module] = []
        dim = num_features
        for kernel, dilation in LAYERS:
            layers += [nn.Conv1d(dim, channels, kernel_size=kernel, dilation=dilation,
                                 padding=dilation * (kernel - 1) // 2 if pad else 0),
                       nn.ReLU(), nn.BatchNorm1d(channels, affine=False)]
            dim = channels
        self.tdnn = nn.Sequential(*layers)
        self.output_linear = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``[N, T, num_features]`` -> log-probs ``[N, T', num_classes]``, ``T' = T``
        with padding, else ``T - context``. ``lengths`` (``[N]``, padded models only): each
        sequence's frames; those after its end are set to zero before every convolution, so a
        sequence's output does not depend on the others in the batch (in eval mode)."""
        x = x.permute(0, 2, 1)
        mask = None
        if lengths is not None:
            if not self.pad:
                raise ValueError("lengths: only a model with padded convolutions masks")
            mask = (torch.arange(x.shape[2]) < lengths[:, None]).unsqueeze(1).to(x.dtype)
        for layer in self.tdnn:
            if mask is not None and isinstance(layer, nn.Conv1d):
                x = x * mask
            x = layer(x)
        return self.output_linear(x.permute(0, 2, 1)).log_softmax(-1)
