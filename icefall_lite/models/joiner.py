"""Transducer joiner: ``output_linear(tanh(encoder_proj(enc) + decoder_proj(dec)))``.

The projections are separate so the pruned loss and decoding can project once and combine later
(``project_input=False``).

Example::

    >>> import torch
    >>> joiner = Joiner(encoder_dim=6, decoder_dim=4, joiner_dim=5, vocab_size=7)
    >>> joiner(torch.randn(2, 3, 6), torch.randn(2, 3, 4)).shape
    torch.Size([2, 3, 7])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icefall_lite.models.scaling import scaled_linear

__all__ = ["Joiner"]


class Joiner(nn.Module):
    """Args: encoder_dim, decoder_dim, joiner_dim (J), vocab_size (V)."""

    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int):
        super().__init__()
        self.encoder_proj = scaled_linear(encoder_dim, joiner_dim, initial_scale=0.25)
        self.decoder_proj = scaled_linear(decoder_dim, joiner_dim, initial_scale=0.25)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(self, encoder_out: Tensor, decoder_out: Tensor, project_input: bool = True
                ) -> Tensor:
        """encoder_out: (..., encoder_dim) and decoder_out: (..., decoder_dim), broadcastable
        (or both (..., J) with project_input=False) -> logits (..., V)."""
        if project_input:
            logit = self.encoder_proj(encoder_out) + self.decoder_proj(decoder_out)
        else:
            logit = encoder_out + decoder_out
        return self.output_linear(torch.tanh(logit))
