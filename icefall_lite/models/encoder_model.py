"""The encoder half of the transducer as stand-alone modules (front end + Zipformer2), used by
:class:`~icefall_lite.models.asr_model.AsrModel` and scripted by the TorchScript export.

- :class:`EncoderModel` - x (N, T, F), x_lens -> encoder_out (N, T2, D), lengths;
- :class:`StreamingEncoderModel` - one chunk of ``2 * chunk + 13`` frames with states, and
  ``get_init_states``.

Example::

    >>> import torch
    >>> from icefall_lite.models import build_model, tiny_config
    >>> model = build_model(tiny_config(causal=True))
    >>> streaming = StreamingEncoderModel(model.encoder_embed, model.encoder).eval()
    >>> states = streaming.get_init_states(1)
    >>> out, out_lens, states = streaming(torch.randn(1, 45, 80), torch.tensor([45]), states)
    >>> out.shape
    torch.Size([1, 8, 128])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icefall_lite.models.subsampling import Conv2dSubsampling
from icefall_lite.models.zipformer import CPU, Zipformer2

__all__ = ["EncoderModel", "StreamingEncoderModel", "streaming_padding_mask"]


def streaming_padding_mask(
    processed_lens: Tensor, x_lens: Tensor, left_context_len: int, seq_len: int
) -> Tensor:
    """(N, L + T) key padding mask of a streaming chunk: cache slots are filled from the right,
    so the first ``L - processed_lens`` are still empty; chunk frames past ``x_lens`` are padding.
    """
    slots = torch.arange(left_context_len, device=x_lens.device).unsqueeze(0)
    processed_mask = slots < (left_context_len - processed_lens).unsqueeze(1)
    frames = torch.arange(seq_len, device=x_lens.device).unsqueeze(0)
    return torch.cat([processed_mask, frames >= x_lens.unsqueeze(1)], dim=1)



class EncoderModel(nn.Module):
    """Front end + encoder: x (N, T, F), x_lens (N,) -> encoder_out (N, T2, D), lengths."""

    def __init__(self, encoder_embed: Conv2dSubsampling, encoder: Zipformer2):
        super().__init__()
        self.encoder_embed = encoder_embed
        self.encoder = encoder

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        x, x_lens = self.encoder_embed(x, x_lens)
        frames = torch.arange(x.size(1), device=x.device)
        src_key_padding_mask = frames.unsqueeze(0) >= x_lens.unsqueeze(1)
        out, out_lens = self.encoder(x.permute(1, 0, 2), x_lens, src_key_padding_mask)
        return out.permute(1, 0, 2), out_lens


class StreamingEncoderModel(nn.Module):
    """One chunk: x (N, 2*chunk + 13, F), x_lens, states -> encoder_out, lengths, new states."""

    def __init__(self, encoder_embed: Conv2dSubsampling, encoder: Zipformer2):
        super().__init__()
        self.encoder_embed = encoder_embed
        self.encoder = encoder
        self.chunk_size = encoder.chunk_size[0]
        self.left_context_len = encoder.left_context_frames[0]
        self.pad_length = 7 + 2 * encoder_embed.convnext.time_padding

    def forward(
        self, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        x, x_lens, new_cached_embed_left_pad = self.encoder_embed.streaming_forward(
            x, x_lens, states[-2]
        )
        src_key_padding_mask = streaming_padding_mask(
            states[-1], x_lens, self.left_context_len, x.size(1)
        )
        out, out_lens, new_states = self.encoder.streaming_forward(
            x.permute(1, 0, 2), x_lens, states[:-2], src_key_padding_mask
        )
        new_states.append(new_cached_embed_left_pad)
        new_states.append(states[-1] + x_lens)
        return out.permute(1, 0, 2), out_lens, new_states

    @torch.jit.export
    def get_init_states(
        self, batch_size: int = 1, device: torch.device = CPU
    ) -> list[Tensor]:
        """The encoder's caches, then cached_embed_left_pad and processed_lens."""
        states = self.encoder.get_init_states(batch_size, device)
        states.append(self.encoder_embed.get_init_state(batch_size, device))
        states.append(torch.zeros(batch_size, dtype=torch.int64, device=device))
        return states
