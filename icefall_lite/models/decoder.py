"""Stateless transducer decoder (prediction network): an embedding of the last ``context_size``
tokens, mixed by a grouped 1-D convolution and a ReLU.

Example::

    >>> import torch
    >>> decoder = Decoder(vocab_size=10, decoder_dim=8, blank_id=0, context_size=2)
    >>> decoder(torch.tensor([[0, 3, 4]])).shape
    torch.Size([1, 3, 8])
    >>> decoder(torch.tensor([[3, 4]]), need_pad=False).shape
    torch.Size([1, 1, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icefall_lite.models.scaling import Balancer

__all__ = ["Decoder"]


class Decoder(nn.Module):
    """Embedding(V, d) -> [Conv1d(d, d, context_size, groups=d/4, no bias) -> ReLU].

    Negative ids (used as "no history" by beam search) give a zero embedding.

    Args:
      vocab_size: V. decoder_dim: d (divisible by 4). blank_id: id of blank.
      context_size: number of previous tokens the output depends on (1 = no convolution).
    """

    def __init__(self, vocab_size: int, decoder_dim: int, blank_id: int, context_size: int):
        super().__init__()
        if context_size < 1:
            raise ValueError(f"Decoder: context_size must be >= 1, got {context_size}")
        if decoder_dim % 4 != 0:
            raise ValueError(f"Decoder: decoder_dim must be divisible by 4, got {decoder_dim}")
        self.vocab_size = vocab_size
        self.decoder_dim = decoder_dim
        self.blank_id = blank_id
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim)
        # keeps the embedding magnitudes from drifting, which hurts model averaging
        self.balancer = Balancer(decoder_dim, channel_dim=-1, min_positive=0.0,
                                 max_positive=1.0, min_abs=0.5, max_abs=1.0)
        self.conv = nn.Identity()
        if context_size > 1:
            self.conv = nn.Conv1d(
                decoder_dim, decoder_dim, context_size, groups=decoder_dim // 4, bias=False
            )

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """y: (N, U) token ids -> (N, U, d).

        need_pad=True left-pads with zeros (training: one output per input position); False
        expects exactly ``context_size`` ids per row and returns one output per row.
        """
        y = y.to(torch.int64)
        embedding_out = self.embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1).to(
            self.embedding.weight.dtype
        )
        embedding_out = self.balancer(embedding_out)
        if self.context_size > 1:
            embedding_out = embedding_out.permute(0, 2, 1)
            if need_pad:
                embedding_out = F.pad(embedding_out, (self.context_size - 1, 0))
            elif embedding_out.size(-1) != self.context_size:
                raise ValueError(
                    f"Decoder: need_pad=False needs exactly {self.context_size} ids per row, "
                    f"got {embedding_out.size(-1)}"
                )
            embedding_out = torch.relu(self.conv(embedding_out)).permute(0, 2, 1)
        return embedding_out
