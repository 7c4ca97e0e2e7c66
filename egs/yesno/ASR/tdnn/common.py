"""Shared by the TDNN scripts: paths, data loaders, the phone lexicon, sorted supervisions."""

from __future__ import annotations

from pathlib import Path

import torch

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.lang.lexicon import read_lexicon
from icefall_lite.lang.symbol_table import SymbolTable

LANG_DIR = Path("data/lang_phone")
MANIFEST_DIR = Path("data/fbank")
EXP_DIR = Path("tdnn/exp")


def data_module(max_duration: float = 30.0, seed: int = 42) -> AsrDataModule:
    """The yesno loaders as icefall's yesno recipe has them: no bucketing (with one bucket per
    cut, the bucketing sampler's batches hold 1-2 of the ~6 s utterances instead of ~5);
    ``seed``: the shuffling's (each epoch's order also depends on the epoch)."""
    return AsrDataModule(AsrDataConfig(manifest_dir=MANIFEST_DIR, max_duration=max_duration,
                                       bucketing_sampler=False, num_workers=0,
                                       enable_spec_aug=False, drop_last=False, shuffle=True,
                                       return_cuts=True, seed=seed))


class Lexicon:
    """Word -> token ids of the phone lang dir (the first pronunciation of each word)."""

    def __init__(self, lang_dir: Path = LANG_DIR):
        self.tokens = SymbolTable.from_file(lang_dir / "tokens.txt")
        self.words = SymbolTable.from_file(lang_dir / "words.txt")
        self.prons: dict[str, list[int]] = {}
        for word, toks in read_lexicon(lang_dir / "lexicon.txt"):
            self.prons.setdefault(word, [self.tokens[t] for t in toks])
        self.num_classes = max(self.tokens[t] for t in self.tokens.symbols
                               if not t.startswith("#")) + 1

    def token_ids(self, text: str) -> list[int]:
        return [t for w in text.split() for t in self.prons[w]]


def supervision_rows(batch: dict) -> torch.Tensor:
    """``[S, 3]`` int32 ``(sequence_idx, start_frame, num_frames)`` of the batch's
    supervisions, in their order."""
    sup = batch["supervisions"]
    return torch.stack([sup["sequence_idx"], sup["start_frame"], sup["num_frames"]],
                       1).to(torch.int32)


def sorted_supervisions(batch: dict) -> tuple[torch.Tensor, list[int]]:
    """Supervision segments sorted by decreasing duration (what ``intersect_dense``
    requires) and the order used (indexes into the batch's supervisions)."""
    rows = supervision_rows(batch)
    order = torch.argsort(rows[:, 2], descending=True, stable=True).tolist()
    return rows[order], order
