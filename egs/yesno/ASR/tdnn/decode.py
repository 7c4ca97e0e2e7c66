#!/usr/bin/env python3
"""Decode the yesno test set (or ``--split dev``) with the TDNN and HLG 1-best (icefall's
tdnn/decode.py; run from egs/yesno/ASR): the model is the average of epochs
``epoch - avg + 1 .. epoch``; ``get_lattice`` with search beam 20, output beam 8, 30-10000
active states; result files in tdnn/exp/1best/. Prints the WER. Checks first that
data/lang_phone/tokens.txt is the vocabulary the checkpoint was trained with (its ``lang``
record).

    ./tdnn/decode.py --epoch 14 --avg 2
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from common import (
    EXP_DIR,
    FRAMES,
    LANG_DIR,
    NUM_FOLDS,
    PADDED_FRAMES,
    SPLITS,
    Lexicon,
    data_module,
    load_split,
    log_probs_of,
    output_segments,
)
from model import Tdnn

from icefall_lite.decoding.ctc import check_lang_tokens, get_lattice, one_best_decoding
from icefall_lite.decoding.lattice import get_texts
from icefall_lite.decoding.results import WerStats, write_results
from icefall_lite.fsa import load_fsa
from icefall_lite.lang.files import require_file
from icefall_lite.training.safe_load import load_weights_only


def averaged_model(exp_dir: Path, epoch: int, avg: int,
                   lang_dir: Path = LANG_DIR) -> tuple[Tdnn, str]:
    """The average of ``epoch-{epoch - avg + 1..epoch}.pt`` and the frames it was trained on
    (``common.FRAMES``), after checking that ``lang_dir/tokens.txt`` is the vocabulary the
    newest of them was trained with."""
    checkpoints = [load_weights_only(exp_dir / f"epoch-{e}.pt", "a TDNN checkpoint")
                   for e in range(epoch - avg + 1, epoch + 1)]
    lang = checkpoints[-1].get("lang")
    if lang is None:
        raise ValueError(f"{exp_dir / f'epoch-{epoch}.pt'} has no 'lang' record (written by an "
                         "older train.py): retrain")
    check_lang_tokens(lang_dir / "tokens.txt", lang["tokens"])
    frames = checkpoints[-1].get("frames")
    if frames not in FRAMES:
        raise ValueError(f"{exp_dir / f'epoch-{epoch}.pt'} has no valid 'frames' record "
                         f"(got {frames!r}; written by an older train.py): retrain")
    states = [c["model"] for c in checkpoints]
    model = Tdnn(23, len(lang["tokens"]), pad=frames in PADDED_FRAMES)
    model.load_state_dict({k: sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
                           if v.is_floating_point() else v for k, v in states[-1].items()})
    return model.eval(), frames


def main(argv: list[str] | None = None) -> WerStats:
    """Decodes, prints the WER and returns the statistics."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epoch", type=int, default=14)
    p.add_argument("--avg", type=int, default=2)
    p.add_argument("--exp-dir", type=Path, default=EXP_DIR)
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="dev: the training utterances that train.py --dev-fold K holds out")
    p.add_argument("--dev-fold", type=int, default=0, help="K of --split dev")
    p.add_argument("--num-folds", type=int, default=NUM_FOLDS)
    p.add_argument("--lang-dir", type=Path, default=LANG_DIR,
                   help="the phone lang dir the model was trained with (its HLG.pt decodes)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # the model and the lattices are tiny: more threads only add synchronisation (8x slower
    # on a loaded 2-core machine)
    torch.set_num_threads(1)
    lexicon = Lexicon(args.lang_dir)
    model, frames = averaged_model(args.exp_dir, args.epoch, args.avg, args.lang_dir)
    hlg = load_fsa(require_file(args.lang_dir / "HLG.pt", "HLG.pt (prepare.sh stage 9)"))
    data = data_module()
    results = []
    cuts = load_split(data, args.split, args.dev_fold, args.num_folds)
    for batch in data.test_dataloaders(cuts):
        sup = batch["supervisions"]
        with torch.no_grad():
            log_probs = log_probs_of(model, batch, frames)
        segments = output_segments(batch, frames, model.context, log_probs.shape[1])
        lattice = get_lattice(log_probs, hlg, segments,
                              search_beam=20, output_beam=8, min_active_states=30,
                              max_active_states=10000)
        for cut, text, ids in zip(sup["cut"], sup["text"],
                                  get_texts(one_best_decoding(lattice))):
            results.append((cut.id, text.split(), [lexicon.words[i] for i in ids]))
    key = f"epoch-{args.epoch}_avg-{args.avg}_1best"
    stats = write_results(args.exp_dir / "1best", args.split, key, results)
    print(f"WER {stats.wer:.2f}% ({stats.errors} / {stats.num_ref_words})")
    return stats


if __name__ == "__main__":
    main()
