#!/usr/bin/env python3
"""Train the yesno zipformer transducer (run from egs/yesno/ASR). See --help for every option.

yesno's training set is 30 utterances (3 minutes), so one pass is only ~8 batches; with
``--repeat-train N`` an "epoch" is N passes (differently shuffled), which keeps the number of
epoch checkpoints (17 MB each) small while the model sees hundreds of batches.
"""

import argparse

from model_defaults import CORPUS, MODEL, TRAIN

from icefall_lite.data.datamodule import AsrDataModule
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.common import add_corpus_arguments, make_model, make_text_encoder
from icefall_lite.recipe.train import make_datamodule as corpus_datamodule
from icefall_lite.training.train import CutSetData
from icefall_lite.training.train import main as train_main


def add_repeat_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat-train", type=int, default=1,
                        help="passes over the training cuts per epoch (default: %(default)s)")


def make_datamodule(args: argparse.Namespace) -> CutSetData:
    """The corpus's training data, its cut set repeated ``--repeat-train`` times per epoch."""
    if args.repeat_train < 1:
        raise ValueError(f"--repeat-train must be >= 1, got {args.repeat_train}")
    data = corpus_datamodule(args)
    if args.repeat_train > 1:
        data.train_cuts = data.train_cuts.repeat(times=args.repeat_train)
    return data


if __name__ == "__main__":
    defaults = {**CORPUS, **MODEL, **TRAIN}
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
    )
