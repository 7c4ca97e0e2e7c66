"""``zipformer/train.py`` of every recipe: the generic training loop with the corpus's defaults.

A recipe calls ``main({...corpus defaults...})``; every option stays visible in ``--help``.
Every checkpoint describes its model (config, vocabulary, features: see
:mod:`~icefall_lite.recipe.model_info`), so decoding needs no model flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    add_data_arguments,
    data_module,
    lang_facts,
    make_model,
    make_text_encoder,
    model_config,
)
from icefall_lite.recipe.model_info import model_description
from icefall_lite.training.args import build_parser
from icefall_lite.training.batches import ShortUtteranceFilter
from icefall_lite.training.train import CutSetData
from icefall_lite.training.train import main as train_main


def add_repeat_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat-train", type=int, default=1,
                        help="passes over the training cuts per epoch, for tiny corpora whose one "
                             "pass is a handful of batches")


def make_datamodule(args: argparse.Namespace) -> CutSetData:
    """Training and validation cuts of ``--corpus``; utterances with fewer encoder frames than
    tokens are dropped with a logged warning (the pruned loss needs T >= S). The training cuts
    are repeated ``--repeat-train`` times per epoch (each pass shuffled anew)."""
    if args.repeat_train < 1:
        raise ValueError(f"--repeat-train must be >= 1, got {args.repeat_train}")
    data = data_module(args)
    keep = ShortUtteranceFilter(make_text_encoder(args))
    train_cuts = data.load_cuts(args.corpus, args.train_split)
    if args.repeat_train > 1:
        train_cuts = train_cuts.repeat(times=args.repeat_train)
    return CutSetData(data, train_cuts, data.load_cuts(args.corpus, args.valid_split),
                      cut_filter=keep)


def describe_model(args: argparse.Namespace) -> dict[str, Any]:
    """The model description every checkpoint of this run holds: the model config (vocabulary
    from the BPE model), the lang facts, and the features of the training cuts (their sample
    rate; fbank with ``--feature-dim`` bins, 25 ms windows every 10 ms)."""
    codec = BpeCodec(args.lang_dir)
    config = model_config(args, codec)
    cut = next(iter(data_module(args).load_cuts(args.corpus, args.train_split)), None)
    if cut is None:
        raise ValueError(f"the {args.train_split} cuts of {args.corpus} in "
                         f"{args.manifest_dir} are empty")
    if cut.has_features and cut.num_features != config.feature_dim:
        raise ValueError(f"the {args.train_split} features have {cut.num_features} bins, the "
                         f"model --feature-dim {config.feature_dim}: pass --feature-dim "
                         f"{cut.num_features} (or recompute the features)")
    features = {"type": "fbank", "sample_rate": int(cut.sampling_rate),
                "num_mel_bins": config.feature_dim, "frame_shift_ms": 10.0,
                "frame_length_ms": 25.0}
    return model_description(config, lang_facts(codec), features)


def _option_adders(defaults: dict[str, Any]) -> list[Callable[[argparse.ArgumentParser], None]]:
    return [
        lambda p: add_corpus_arguments(p, defaults),
        lambda p: add_data_arguments(p, decoding=False),
        ZipformerConfig.add_arguments,
        add_repeat_argument,
    ]


def build_train_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    """The parser of a recipe's train.py (what ``--help`` shows)."""
    return build_parser(defaults, add_arguments=_option_adders(defaults))


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> None:
    """Train with ``defaults`` (option name -> value) as the recipe's defaults."""
    train_main(
        defaults,
        build_model=make_model,
        build_datamodule=make_datamodule,
        build_text_encoder=make_text_encoder,
        describe_model=describe_model,
        add_arguments=_option_adders(defaults),
        argv=argv,
    )
