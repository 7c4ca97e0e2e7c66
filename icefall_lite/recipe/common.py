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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from icefall_lite import k2
from icefall_lite.decoding.registry import DECODING_METHODS, make_decoding_graph
from icefall_lite.lang.bpe import SilInserter, sil_id
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable
from icefall_lite.models.asr_model import AsrModel, build_model
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.training.safe_load import load_weights_only

logger = logging.getLogger(__name__)

CORPUS_DEFAULTS = {
    "corpus": "yesno",
    "lang_dir": "data/lang_bpe_14",
    "train_split": "train",
    "valid_split": "test",
    "test_sets": "test",
}


def add_corpus_arguments(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """``--corpus`` (manifest prefix), ``--lang-dir`` and the split names, with the recipe's
    defaults."""
    d = {**CORPUS_DEFAULTS, **{k: v for k, v in defaults.items() if k in CORPUS_DEFAULTS}}
    group = parser.add_argument_group("corpus")
    group.add_argument("--corpus", default=d["corpus"],
                       help="manifest prefix: data/fbank/<corpus>_cuts_<split>.jsonl.gz "
                            f"(default: {d['corpus']})")
    group.add_argument("--lang-dir", type=Path, default=Path(d["lang_dir"]),
                       help=f"lang dir with bpe.model, tokens.txt, words.txt, LG.pt "
                            f"(default: {d['lang_dir']})")
    group.add_argument("--train-split", default=d["train_split"],
                       help=f"training split (default: {d['train_split']})")
    group.add_argument("--valid-split", default=d["valid_split"],
                       help=f"validation split (default: {d['valid_split']})")
    group.add_argument("--test-sets", default=d["test_sets"],
                       help=f"comma-separated test splits to decode (default: {d['test_sets']})")


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


def make_model(args: argparse.Namespace) -> AsrModel:
    """Build the transducer (picklable module-level function for DDP spawn)."""
    codec = BpeCodec(args.lang_dir)
    config = model_config(args, codec)
    model = build_model(config)
    # A <sil> piece is the transducer's pause token; the CTC head leaves it to blank.
    model.ctc_skip_token = codec.sil
    num_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s parameters, vocab %d", f"{num_params:,}", config.vocab_size)
    return model


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
