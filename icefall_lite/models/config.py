"""Typed configuration of the Zipformer transducer: one source of truth for every default, and the
command-line flags (icefall's names) generated from it.

Per-stack values are comma-separated strings on the command line (``--encoder-dim 192,256``) and
tuples of ints in the dataclass.

Example::

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = ZipformerConfig.add_arguments(parser)
    >>> args = parser.parse_args(["--num-encoder-layers", "1,1,1,1,1,1", "--causal", "1"])
    >>> config = ZipformerConfig.from_args(args)
    >>> config.num_encoder_layers, config.causal
    ((1, 1, 1, 1, 1, 1), True)
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from icefall_lite.utils.config import add_dataclass_arguments, config_from_args

__all__ = ["ZipformerConfig", "normal_config", "tiny_config"]

Ints = tuple[int, ...]


def _ints(default: str, help_text: str):
    return field(
        default=tuple(int(v) for v in default.split(",")),
        metadata={"help": help_text, "ints": True},
    )


def _value(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass
class ZipformerConfig:
    """Every size of the Zipformer transducer (defaults: icefall's "normal" 65.5 M model)."""

    feature_dim: int = _value(80, "Input feature dimension (fbank bins)")
    num_encoder_layers: Ints = _ints("2,2,3,4,3,2", "Number of Zipformer layers per stack")
    downsampling_factor: Ints = _ints("1,2,4,8,4,2", "Downsampling factor of each stack")
    feedforward_dim: Ints = _ints("512,768,1024,1536,1024,768", "Feed-forward dim per stack")
    num_heads: Ints = _ints("4,4,4,8,4,4", "Attention heads per stack")
    encoder_dim: Ints = _ints("192,256,384,512,384,256", "Embedding dim per stack")
    query_head_dim: Ints = _ints("32", "Query/key dim per head (per stack or one value)")
    value_head_dim: Ints = _ints("12", "Value dim per head (per stack or one value)")
    pos_head_dim: Ints = _ints("4", "Positional-query dim per head (per stack or one value)")
    pos_dim: int = _value(48, "Positional-encoding dimension")
    encoder_unmasked_dim: Ints = _ints(
        "192,192,256,256,256,192",
        "Channels per stack never hit by feature masking (set equal to --encoder-dim to disable)",
    )
    cnn_module_kernel: Ints = _ints("31,31,15,15,15,31", "Convolution kernel size per stack")
    decoder_dim: int = _value(512, "Embedding dim of the stateless decoder")
    joiner_dim: int = _value(512, "Hidden dim of the joiner")
    context_size: int = _value(2, "Decoder context size: 1 = bigram, 2 = tri-gram")
    causal: bool = _value(False, "Causal (chunked) encoder, needed for streaming")
    chunk_size: Ints = _ints(
        "16,32,64,-1",
        "Chunk sizes (50 Hz frames) drawn at random in training; the first is used in eval",
    )
    left_context_frames: Ints = _ints(
        "64,128,256,-1",
        "Left context (50 Hz frames) drawn at random in training; the first is used in eval",
    )
    vocab_size: int = _value(500, "Output vocabulary size (normally taken from the BPE model)")
    blank_id: int = _value(0, "Id of the blank symbol")
    dropout: float = _value(0.1, "Dropout of the feed-forward hidden layers and embed output")
    embed_layer3_channels: int = _value(
        128, "Channels of the front end's third conv layer and its ConvNeXt block (icefall: 128; "
             "64 roughly halves the front end's cost, which dominates a tiny model's)"
    )
    use_ctc: bool = _value(False, "Add a CTC head on the encoder output (trained with "
                                  "--ctc-loss-scale times the CTC loss)")
    ctc_blank_bias: float = _value(
        0.0, "Added to the initial bias of the CTC head's blank output (with --use-ctc 1): > 0 "
             "starts CTC training from mostly-blank output (yesno: 3; see its RESULTS.md)"
    )

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.metadata.get("ints"):
                setattr(self, f.name, tuple(int(v) for v in getattr(self, f.name)))
        if self.decoder_dim % 4 != 0:
            raise ValueError(f"decoder_dim must be divisible by 4, got {self.decoder_dim}")
        if self.context_size < 1:
            raise ValueError(f"context_size must be >= 1, got {self.context_size}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add ``--num-encoder-layers`` ... with this dataclass's defaults to ``parser``."""
        add_dataclass_arguments(parser, cls, title="Zipformer model")
        return parser

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ZipformerConfig:
        """Build from parsed arguments (attributes missing from ``args`` keep their defaults)."""
        return config_from_args(cls, args)


def normal_config(vocab_size: int = 500, causal: bool = False) -> ZipformerConfig:
    """icefall's default ("normal", 65.5 M parameters for V = 500) configuration."""
    return ZipformerConfig(vocab_size=vocab_size, causal=causal)


def tiny_config(vocab_size: int = 100, causal: bool = False) -> ZipformerConfig:
    """The "Tiny-AN4" configuration of docs/design/zipformer.rst §14 (about 2.8 M for V = 100)."""
    return ZipformerConfig(
        num_encoder_layers=(1, 1, 1, 1, 1, 1),
        feedforward_dim=(192,) * 6,
        encoder_dim=(128,) * 6,
        encoder_unmasked_dim=(128,) * 6,
        decoder_dim=160,
        joiner_dim=160,
        vocab_size=vocab_size,
        causal=causal,
    )
