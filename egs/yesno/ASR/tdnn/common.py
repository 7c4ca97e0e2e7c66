"""Shared by the TDNN scripts: paths, data loaders, the splits, the phone lexicon, sorted
supervisions."""

from __future__ import annotations

from pathlib import Path

import torch
from lhotse import CutSet

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.lang.lexicon import read_lexicon
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol

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


#: every DEV_EVERY-th training utterance (by id) is held out by ``--dev 1`` (6 of the 30)
DEV_EVERY = 5
SPLITS = ("train", "dev", "test")


def load_split(data: AsrDataModule, split: str, hold_out_dev: bool) -> CutSet:
    """The cuts of ``split``: ``test`` as it is; ``train`` all 30 training utterances, or, with
    ``hold_out_dev``, the 24 that ``dev`` (6, for tuning without the test set) leaves."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split == "test":
        return data.load_cuts("yesno", "test")
    cuts = data.load_cuts("yesno", "train").to_eager()
    dev_ids = set(sorted(cuts.ids)[::DEV_EVERY])
    if split == "dev":
        return cuts.filter(lambda c: c.id in dev_ids).to_eager()
    return cuts.filter(lambda c: c.id not in dev_ids).to_eager() if hold_out_dev else cuts


class Lexicon:
    """Word -> token ids of the phone lang dir (the first pronunciation of each word)."""

    def __init__(self, lang_dir: Path = LANG_DIR):
        self.tokens = SymbolTable.from_file(lang_dir / "tokens.txt")
        self.words = SymbolTable.from_file(lang_dir / "words.txt")
        self.prons: dict[str, list[int]] = {}
        for word, toks in read_lexicon(lang_dir / "lexicon.txt"):
            self.prons.setdefault(word, [self.tokens[t] for t in toks])
        self.num_classes = max(i for i in self.tokens.ids
                               if not is_disambig_symbol(self.tokens[i])) + 1

    def token_ids(self, text: str) -> list[int]:
        return [t for w in text.split() for t in self.prons[w]]

    def lang_facts(self) -> dict:
        """What a checkpoint records of the vocabulary (decode.py checks tokens.txt by it)."""
        return {"vocab_size": self.num_classes, "blank_id": 0,
                "tokens": [self.tokens[i] for i in range(self.num_classes)]}


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
