"""Print the parameter counts of the tiny (docs/design/zipformer.rst §14) and normal (icefall's
default) Zipformer transducer configurations.

Usage::

    python -m icefall_lite.models.param_count [--vocab-size 500] [--causal 0]
"""

from __future__ import annotations

import argparse
import sys

import torch

from icefall_lite.models.asr_model import build_model
from icefall_lite.models.config import ZipformerConfig, normal_config, tiny_config

__all__ = ["ICEFALL_NORMAL_PARAMS", "count_parameters", "main"]

# egs/librispeech/ASR/RESULTS.md, zipformer "normal" (V = 500, non-causal)
ICEFALL_NORMAL_PARAMS = 65_549_011


def count_parameters(config: ZipformerConfig) -> int:
    """Number of trainable parameters of the model built from ``config``."""
    if hasattr(torch, "get_default_device"):  # torch >= 2.3: build on "meta", no memory/init
        with torch.device("meta"):
            return sum(p.numel() for p in build_model(config).parameters())
    return sum(p.numel() for p in build_model(config).parameters())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=500)
    parser.add_argument("--tiny-vocab-size", type=int, default=100)
    parser.add_argument("--causal", type=int, default=0)
    args = parser.parse_args(argv)
    rows = [
        ("tiny", count_parameters(tiny_config(args.tiny_vocab_size, bool(args.causal)))),
        ("normal", count_parameters(normal_config(args.vocab_size, bool(args.causal)))),
    ]
    sys.stdout.write(f"{'config':<8} {'parameters':>12} {'vs icefall normal':>18}\n")
    for name, count in rows:
        sys.stdout.write(f"{name:<8} {count:>12,} {count / ICEFALL_NORMAL_PARAMS:>18.4f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
