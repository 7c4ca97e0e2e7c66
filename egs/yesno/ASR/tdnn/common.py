"""Shared by the TDNN scripts: paths, data loaders, the splits, the phone lexicon, sorted
supervisions."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from lhotse import CutSet

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.lang.lexicon import read_lexicon
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol

LANG_DIR = Path("data/lang_phone")
MANIFEST_DIR = Path("data/fbank")
#: prepare.sh stage 10: the same features, the training split with its 0.9 and 1.1 speed copies
SPEED_MANIFEST_DIR = Path("data/fbank_sp")
EXP_DIR = Path("tdnn/exp")


def data_module(max_duration: float = 30.0, seed: int = 42,
                speed_copies: bool = False) -> AsrDataModule:
    """The yesno loaders as icefall's yesno recipe has them: no bucketing (with one bucket per
    cut, the bucketing sampler's batches hold 1-2 of the ~6 s utterances instead of ~5);
    ``seed``: the shuffling's (each epoch's order also depends on the epoch);
    ``speed_copies``: the cuts of ``data/fbank_sp`` (training split 90 cuts), else of
    ``data/fbank`` (30)."""
    manifest_dir = SPEED_MANIFEST_DIR if speed_copies else MANIFEST_DIR
    if speed_copies and not manifest_dir.is_dir():
        raise FileNotFoundError(f"no {manifest_dir}: run prepare.sh stage 10 (the speed-"
                                "perturbed training features)")
    return AsrDataModule(AsrDataConfig(manifest_dir=manifest_dir, max_duration=max_duration,
                                       bucketing_sampler=False, num_workers=0,
                                       enable_spec_aug=False, drop_last=False, shuffle=True,
                                       return_cuts=True, seed=seed))


#: cross-validation over the 30 training utterances: fold ``k`` of ``NUM_FOLDS`` holds out the
#: ``k``-th, ``k + NUM_FOLDS``-th, ... of them by id (6 of the 30), the others train
NUM_FOLDS = 5
SPLITS = ("train", "dev", "test")
#: the suffix lhotse's ``perturb_speed`` gives the ids of a speed copy
_SPEED_SUFFIX = re.compile(r"_sp[0-9.]+$")


def original_id(cut_id: str) -> str:
    """The id of the utterance a (speed-perturbed) cut was made from.

    >>> original_id("0_1_1_0_sp0.9"), original_id("0_1_1_0")
    ('0_1_1_0', '0_1_1_0')
    """
    return _SPEED_SUFFIX.sub("", cut_id)


def load_split(data: AsrDataModule, split: str, dev_fold: int | None = None,
               num_folds: int = NUM_FOLDS) -> CutSet:
    """The cuts of ``split``: ``test`` as it is; ``dev`` the training utterances that fold
    ``dev_fold`` of ``num_folds`` holds out (every ``num_folds``-th by id, from the
    ``dev_fold``-th: 6 of the 30 with 5 folds, for tuning without the test set); ``train`` the
    others, or all 30 with ``dev_fold`` None (with their speed copies, if ``data`` has them)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split == "test":
        return data.load_cuts("yesno", "test")
    cuts = data.load_cuts("yesno", "train").to_eager()
    if dev_fold is None:
        if split == "dev":
            raise ValueError("the dev split needs a fold (dev_fold)")
        return cuts
    if not 0 <= dev_fold < num_folds:
        raise ValueError(f"dev fold {dev_fold} is not one of 0 .. {num_folds - 1}")
    dev_ids = set(sorted({original_id(i) for i in cuts.ids})[dev_fold::num_folds])
    held_out = split == "dev"
    return cuts.filter(lambda c: (original_id(c.id) in dev_ids) == held_out).to_eager()


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


#: which output frames an utterance's supervision covers: ``padded`` one per input frame
#: (zero-padded convolutions; an utterance shorter than its batch sees the batch's padding at
#: its end); ``masked`` (the default) the same, the frames after each utterance's end set to
#: zero before every convolution (each utterance sees what it would alone in its batch);
#: ``valid`` those whose receptive field lies inside the utterance (unpadded convolutions: no
#: frame sees the zero padding or the batch's); ``batch`` icefall's: the whole padded batch
#: output, whatever the utterance's length (unpadded convolutions)
FRAMES = ("padded", "masked", "valid", "batch")


#: the frames of a model with zero-padded convolutions (``Tdnn(pad=True)``)
PADDED_FRAMES = ("padded", "masked")


def log_probs_of(model: torch.nn.Module, batch: dict, frames: str) -> torch.Tensor:
    """The model's log-probs ``[N, T', C]`` for the batch's inputs, with each utterance's end
    masked for ``masked`` frames (its input frames: where its supervision ends)."""
    inputs = batch["inputs"]
    if frames != "masked":
        return model(inputs)
    sup = batch["supervisions"]
    lengths = torch.zeros(inputs.shape[0], dtype=torch.int64)
    lengths[sup["sequence_idx"]] = (sup["start_frame"] + sup["num_frames"]).to(torch.int64)
    return model(inputs, lengths)


def output_segments(batch: dict, frames: str, context: int, num_out_frames: int) -> torch.Tensor:
    """``[S, 3]`` int32 ``(sequence_idx, start_frame, num_frames)`` of the batch's
    supervisions, in their order, on the model's output frames (see ``FRAMES``; ``context``:
    the input frames an unpadded model's output lacks, ``num_out_frames``: its ``T'``)."""
    if frames not in FRAMES:
        raise ValueError(f"unknown frames {frames!r}; expected one of {', '.join(FRAMES)}")
    sup = batch["supervisions"]
    rows = torch.stack([sup["sequence_idx"], sup["start_frame"], sup["num_frames"]],
                       1).to(torch.int32)
    if frames == "valid":
        rows[:, 2] -= context
        if bool((rows[:, 2] <= 0).any()):
            short = [c.id for c, n in zip(sup["cut"], rows[:, 2].tolist()) if n <= 0]
            raise ValueError(f"utterances {short} have no more frames than the TDNN's "
                             f"context ({context})")
    elif frames == "batch":
        rows[:, 1], rows[:, 2] = 0, num_out_frames
    return rows


def sorted_segments(rows: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """Supervision segments sorted by decreasing duration (what ``intersect_dense``
    requires) and the order used (indexes into ``rows``)."""
    order = torch.argsort(rows[:, 2], descending=True, stable=True).tolist()
    return rows[order], order
