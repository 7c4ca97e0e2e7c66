"""``zipformer/train.py`` of every recipe: the generic training loop with the corpus's defaults.

A recipe calls ``main({...corpus defaults...})``; every option stays visible in ``--help``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.common import add_corpus_arguments, make_model, make_text_encoder
from icefall_lite.training.batches import ShortUtteranceFilter
from icefall_lite.training.train import CutSetData
from icefall_lite.training.train import main as train_main


def add_repeat_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat-train", type=int, default=1,
                        help="passes over the training cuts per epoch, for tiny corpora whose one "
                             "pass is a handful of batches (default: %(default)s)")


def make_datamodule(args: argparse.Namespace) -> CutSetData:
    """Training and validation cuts of ``--corpus``; utterances with fewer encoder frames than
    tokens are dropped with a logged warning (the pruned loss needs T >= S). The training cuts
    are repeated ``--repeat-train`` times per epoch (each pass shuffled anew)."""
    if args.repeat_train < 1:
        raise ValueError(f"--repeat-train must be >= 1, got {args.repeat_train}")
    data = AsrDataModule(AsrDataConfig.from_args(args))
    keep = ShortUtteranceFilter(make_text_encoder(args))
    train_cuts = data.load_cuts(args.corpus, args.train_split)
    if args.repeat_train > 1:
        train_cuts = train_cuts.repeat(times=args.repeat_train)
    return CutSetData(data, train_cuts, data.load_cuts(args.corpus, args.valid_split),
                      cut_filter=keep)


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> None:
    """Train with ``defaults`` (option name -> value) as the recipe's defaults."""
    train_main(
        defaults,
        build_model=make_model,
        build_datamodule=make_datamodule,
        build_text_encoder=make_text_encoder,
        add_arguments=[
            lambda p: add_corpus_arguments(p, defaults),
            AsrDataModule.add_arguments,
            ZipformerConfig.add_arguments,
            add_repeat_argument,
        ],
        argv=argv,
    )
