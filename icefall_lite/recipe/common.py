"""Pieces every zipformer recipe script shares: corpus options, the BPE text codec, the model.

Example::

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_corpus_arguments(parser, {"corpus": "an4", "lang_dir": "data/lang_bpe_100"})
    >>> parser.parse_args([]).test_sets
    'test'
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from icefall_lite import k2
from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.decoding.registry import DECODING_METHODS, make_decoding_graph
from icefall_lite.lang.bpe import SilInserter, sil_id
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable
from icefall_lite.models.asr_model import AsrModel, build_model
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.model_info import ModelInfo
from icefall_lite.training.safe_load import load_weights_only
from icefall_lite.utils.config import add_dataclass_arguments, config_from_args

logger = logging.getLogger(__name__)

CORPUS_DEFAULTS = {
    "corpus": "yesno",
    "lang_dir": "data/lang_bpe_14",
    "train_split": "train",
    "valid_split": "test",
    "test_sets": "test",
}
_CORPUS_HELP = {
    "corpus": "manifest prefix: data/fbank/<corpus>_cuts_<split>.jsonl.gz",
    "lang_dir": "lang dir with bpe.model, tokens.txt, words.txt, LG.pt",
    "train_split": "training split",
    "valid_split": "validation split",
    "test_sets": "comma-separated test splits to decode",
}
#: The data options of decoding (no sampling seed, augmentation or speed perturbation).
DECODE_DATA_FIELDS = ("manifest_dir", "max_duration", "bucketing_sampler", "num_buckets",
                      "num_workers", "on_the_fly_feats")
#: Data options that training defines elsewhere (TrainingConfig: seed, world size; the model:
#: feature dim) or takes from torch.distributed (rank): each flag is defined once.
TRAIN_DATA_EXCLUDED = ("seed", "world_size", "rank", "feature_dim")


def add_corpus_arguments(parser: argparse.ArgumentParser, defaults: dict[str, Any],
                         options: Sequence[str] = tuple(CORPUS_DEFAULTS)) -> None:
    """The corpus ``options`` of a script: ``--corpus`` (manifest prefix), ``--lang-dir`` and the
    split names (default: all), with the recipe's defaults."""
    group = parser.add_argument_group("corpus")
    for name in options:
        default = defaults.get(name, CORPUS_DEFAULTS[name])
        group.add_argument("--" + name.replace("_", "-"), default=default,
                           type=Path if name == "lang_dir" else str, help=_CORPUS_HELP[name])


def add_data_arguments(parser: argparse.ArgumentParser, decoding: bool) -> None:
    """The data module's options: for decoding only :data:`DECODE_DATA_FIELDS`, for training
    all but :data:`TRAIN_DATA_EXCLUDED`."""
    group = parser.add_argument_group("ASR data", "batches, sampling and augmentation")
    if decoding:
        add_dataclass_arguments(group, AsrDataConfig, only=DECODE_DATA_FIELDS)
    else:
        add_dataclass_arguments(group, AsrDataConfig, exclude=TRAIN_DATA_EXCLUDED)


def data_module(args: argparse.Namespace, feature_dim: int | None = None) -> AsrDataModule:
    """The data module of the parsed options (fields without a flag keep their defaults);
    ``feature_dim`` (from a checkpoint) sets the bins of on-the-fly features."""
    values = dict(vars(args))
    if feature_dim is not None:
        values["feature_dim"] = feature_dim
    return AsrDataModule(config_from_args(AsrDataConfig, values))


class BpeCodec:
    """Text <-> token ids through the lang dir's sentencepiece model (``<blk>`` = 0).

    With a ``<sil>`` piece in the model (``prepare_bpe.py --sil-piece 1``) texts are encoded with
    ``<sil>`` between words and ``decode`` drops it (``icefall_lite.lang.bpe``)."""

    def __init__(self, lang_dir: Path) -> None:
        import sentencepiece as spm

        model = require_file(Path(lang_dir) / "bpe.model", "BPE model (made by prepare.sh)")
        self.sp = spm.SentencePieceProcessor(model_file=str(model))
        self.sil = sil_id(self.sp)
        self._insert_sil = SilInserter(self.sp, self.sil) if self.sil is not None else None

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        encoded = self.sp.encode(texts, out_type=int)
        return encoded if self._insert_sil is None else self._insert_sil(encoded)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode([i for i in ids if i != self.sil])


def read_word_table(lang_dir: Path) -> SymbolTable:
    """``<lang_dir>/words.txt``; ``table[word_id]`` is the word."""
    return SymbolTable.from_file(
        require_file(Path(lang_dir) / "words.txt", "word table (made by prepare.sh)"))


def make_text_encoder(args: argparse.Namespace) -> Callable[[list[str]], list[list[int]]]:
    """The training loop's transcript encoder (picklable for DDP: a bound method)."""
    return BpeCodec(args.lang_dir).encode


def model_config(args: argparse.Namespace, codec: BpeCodec | None = None) -> ZipformerConfig:
    """The model's config from the command line, with the vocabulary of the BPE model (``codec``,
    or the one in ``--lang-dir``)."""
    config = ZipformerConfig.from_args(args)
    config.vocab_size = (codec or BpeCodec(args.lang_dir)).vocab_size
    return config


def build_asr_model(config: ZipformerConfig, sil: int | None) -> AsrModel:
    """The transducer of ``config``; a ``<sil>`` piece (id ``sil``) is the transducer's pause
    token, which the CTC head leaves to blank."""
    model = build_model(config)
    model.ctc_skip_token = sil
    return model


def make_model(args: argparse.Namespace) -> AsrModel:
    """Build the transducer (picklable module-level function for DDP spawn)."""
    codec = BpeCodec(args.lang_dir)
    config = model_config(args, codec)
    model = build_asr_model(config, codec.sil)
    num_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s parameters, vocab %d", f"{num_params:,}", config.vocab_size)
    return model


def lang_facts(codec: BpeCodec) -> dict[str, Any]:
    """What a decoder needs to know of the training vocabulary (stored in checkpoints)."""
    return {"vocab_size": codec.vocab_size, "blank_id": 0, "sil_id": codec.sil,
            "tokens": [codec.sp.id_to_piece(i) for i in range(codec.vocab_size)]}


def check_lang(info: ModelInfo, codec: BpeCodec, lang_dir: Path) -> None:
    """A ValueError unless ``lang_dir``'s BPE model is the one the checkpoint was trained with
    (same vocabulary size and, where the checkpoint lists them, the same pieces)."""
    vocab_size = info.lang.get("vocab_size", info.config.vocab_size)
    if codec.vocab_size != vocab_size:
        raise ValueError(f"--lang-dir {lang_dir}: its bpe.model has {codec.vocab_size} pieces, "
                         f"but {info.path} was trained with {vocab_size}; pass the lang dir of "
                         f"the training run")
    tokens = info.lang.get("tokens")
    if tokens is not None and tokens != lang_facts(codec)["tokens"]:
        raise ValueError(f"--lang-dir {lang_dir}: its bpe.model has other pieces than the one "
                         f"{info.path} was trained with; pass the lang dir of the training run")


def pick_device() -> torch.device:
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


def load_decoding_graph(lang_dir: Path, method: str, ngram_lm_scale: float, vocab_size: int,
                        device: torch.device):
    """The decoding graph ``method`` needs: None, the trivial graph, or ``lang_dir/LG.pt`` with
    its scores scaled by ``ngram_lm_scale``. A missing LG.pt is a FileNotFoundError naming it;
    LG.pt is read with ``torch.load(weights_only=True)`` (it holds tensors only)."""
    LG = None
    if DECODING_METHODS[method].graph == "LG":
        path = require_file(Path(lang_dir) / "LG.pt",
                            f"LG.pt (needed by {method}; made by the LG stage of prepare.sh, "
                            f"or pass the --lang-dir that holds it)")
        LG = k2.Fsa.from_dict(load_weights_only(path, "decoding graph"))
    graph = make_decoding_graph(method, vocab_size, LG, ngram_lm_scale)
    return None if graph is None else graph.to(device)
