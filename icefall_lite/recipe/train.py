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


def make_datamodule(args: argparse.Namespace) -> CutSetData:
    """Training and validation cuts of ``--corpus``; utterances with fewer encoder frames than
    tokens are dropped with a logged warning (the pruned loss needs T >= S)."""
    data = AsrDataModule(AsrDataConfig.from_args(args))
    keep = ShortUtteranceFilter(make_text_encoder(args))
    return CutSetData(data, data.load_cuts(args.corpus, args.train_split),
                      data.load_cuts(args.corpus, args.valid_split), cut_filter=keep)


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
        ],
        argv=argv,
    )
