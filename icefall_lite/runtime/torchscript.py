"""A TorchScript model of ``export.py --jit 1`` (``jit_script.pt`` or the streaming
``jit_script_chunk_C_left_L.pt``) behind the eager model's interface.

Example::

    model = TorchScriptTransducer("exp/jit_script_chunk_16_left_128.pt")
    decoder = StreamingDecoder(model, "fast_beam_search", DecodingConfig())
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["TorchScriptTransducer"]


class TorchScriptTransducer:
    """``forward_encoder`` (non-streaming file) or ``get_init_states`` +
    ``streaming_forward_encoder`` (streaming file), with the scripted ``decoder`` and
    ``joiner`` (the eager modules' interface)."""

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu") -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TorchScript model not found: {path}")
        try:
            self.module = torch.jit.load(str(path), map_location=device)
        except RuntimeError as e:
            raise ValueError(f"{path} is not a TorchScript model written by export.py --jit 1: "
                             f"{e}") from e
        self.module.eval()
        self.path = path
        self.decoder = self.module.decoder
        self.joiner = self.module.joiner
        self.streaming = hasattr(self.module, "get_init_states")
        if self.streaming:
            self.chunk_frames = 2 * int(self.module.encoder.chunk_size)
            self.pad_length = int(self.module.encoder.pad_length)

    def __repr__(self) -> str:
        return f"TorchScriptTransducer({self.path})"

    def parameters(self):
        return self.module.parameters()

    def forward_encoder(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        if self.streaming:
            raise ValueError(f"{self.path} is a streaming TorchScript model: decode it chunk by "
                             "chunk, or use jit_script.pt for offline decoding")
        return self.module(x, x_lens)

    def get_init_states(self, batch_size: int = 1, device: torch.device | None = None
                        ) -> list[Tensor]:
        if not self.streaming:
            raise ValueError(f"{self.path} is a non-streaming TorchScript model: chunk-wise "
                             "decoding needs jit_script_chunk_C_left_L.pt")
        return self.module.get_init_states(batch_size, device or torch.device("cpu"))

    def streaming_forward_encoder(self, x: Tensor, x_lens: Tensor, states: list[Tensor]
                                  ) -> tuple[Tensor, Tensor, list[Tensor]]:
        return self.module(x, x_lens, states)
