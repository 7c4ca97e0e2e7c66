#!/usr/bin/env python3
"""Train icefall's yesno TDNN with the CTC loss (run from egs/yesno/ASR after prepare.sh):
as icefall, the 30 training utterances with their 0.9 and 1.1 speed copies (90 cuts, prepare.sh
stage 10), 15 epochs of SGD, lr 1e-2, weight decay 1e-6, gradient norm clipped at 5. Unlike
icefall, 3 runs start (seeds ``seed + 1000 k``) and only the one with the lowest training loss
after 5 epochs goes on: a single run falls into a basin that never learns one of the words
about half the time (RESULTS.md). Unlike icefall too, the convolutions are zero-padded and each
utterance's end is masked (``--frames masked``: it sees what it would alone in its batch, not
the batch's padding; chosen by 5-fold cross-validation, ``tdnn/cross_validate.py``). The
training graph of each utterance is its transcript composed with the phone lang dir's L
(optional SIL before the first word and after each, as in decoding with HLG) and the CTC
topology (:class:`icefall_lite.lang.ctc_training_graph.CtcTrainingGraphCompiler`). Saves
tdnn/exp/epoch-N.pt. egs/yesno/ASR/RESULTS.md says how the defaults were chosen and how
reliable they are (not every seed trains).

    ./tdnn/train.py
"""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path

import torch
from common import (
    EXP_DIR,
    FRAMES,
    LANG_DIR,
    NUM_FOLDS,
    PADDED_FRAMES,
    Lexicon,
    data_module,
    load_split,
    log_probs_of,
    output_segments,
    sorted_segments,
)
from model import Tdnn

from icefall_lite import k2
from icefall_lite.lang.ctc_training_graph import CtcTrainingGraphCompiler


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-duration", type=float, default=30.0)
    p.add_argument("--exp-dir", type=Path, default=EXP_DIR)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd: icefall's (weight decay 1e-6); adam: torch's Adam, same decay")
    p.add_argument("--frames", choices=FRAMES, default="masked",
                   help="padded: zero-padded convolutions, one output frame per input frame; "
                   "masked: the same, each utterance's end masked (as if alone in its batch); "
                   "valid: unpadded convolutions, each utterance's own output frames; "
                   "batch: as icefall, unpadded, every supervision spanning the batch's output")
    p.add_argument("--dev-fold", type=int, default=None,
                   help="K: train without the utterances of cross-validation fold K of "
                   "--num-folds (6 of the 30 with 5 folds), the dev split that decode.py "
                   "--split dev --dev-fold K decodes (tuning); default: all 30")
    p.add_argument("--num-folds", type=int, default=NUM_FOLDS)
    p.add_argument("--optional-sil", type=int, default=1,
                   help="1: training graphs through L, with its optional SIL between words; "
                   "0: the CTC graph of the pronunciations alone (blank covers the pauses)")
    p.add_argument("--speed-perturb", type=int, default=1,
                   help="1: train on data/fbank_sp (each utterance at speeds 1, 0.9 and 1.1, "
                   "as icefall's yesno); 0: data/fbank (the 30 utterances once)")
    p.add_argument("--blank-bias", type=float, default=0.0,
                   help="added to the output layer's initial blank bias")
    p.add_argument("--restarts", type=int, default=3,
                   help="train this many runs (seeds seed, seed + 1000, ...) for "
                   "--restart-epochs epochs each and continue the one with the lowest training "
                   "loss (1: a single run)")
    p.add_argument("--restart-epochs", type=int, default=5)
    p.add_argument("--lang-dir", type=Path, default=LANG_DIR,
                   help="phone lang dir: the tokens, and L for the training graphs")
    return p


def new_run(args: argparse.Namespace, num_classes: int, seed: int):
    """A fresh model, its optimiser and a training loader, all from ``seed`` (the
    initialisation and the batches' order)."""
    torch.manual_seed(seed)
    data = data_module(args.max_duration, seed, bool(args.speed_perturb))
    loader = data.train_dataloaders(load_split(data, "train", args.dev_fold, args.num_folds))
    model = Tdnn(23, num_classes, pad=args.frames in PADDED_FRAMES)
    with torch.no_grad():
        model.output_linear.bias[0] += args.blank_bias
    optimizer_class = torch.optim.SGD if args.optimizer == "sgd" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=args.lr, weight_decay=1e-6)
    return model, optimizer, loader


def train_epoch(args: argparse.Namespace, run, epoch: int, compiler: CtcTrainingGraphCompiler,
                lexicon: Lexicon) -> float:
    """One pass over the training cuts; returns the CTC loss per frame."""
    model, optimizer, loader = run
    model.train()
    loader.sampler.set_epoch(epoch)  # a new order each epoch, as icefall's
    tot, frames = 0.0, 0
    for batch in loader:
        log_probs = log_probs_of(model, batch, args.frames)
        segs, order = sorted_segments(output_segments(batch, args.frames, model.context,
                                                      log_probs.shape[1]))
        texts = batch["supervisions"]["text"]
        if args.optional_sil:
            graphs = compiler.compile([texts[i] for i in order])
        else:
            graphs = k2.ctc_graph([lexicon.token_ids(texts[i]) for i in order])
        loss = k2.ctc_loss(graphs, k2.DenseFsaVec(log_probs, segs), output_beam=10,
                           reduction="sum", use_double_scores=True)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0, 2.0)
        optimizer.step()
        tot += loss.item()
        frames += int(segs[:, 2].sum())
    return tot / frames


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # the model and the lattices are tiny: more threads only add synchronisation (8x slower
    # on a loaded 2-core machine)
    torch.set_num_threads(1)
    lexicon = Lexicon(args.lang_dir)
    # a lang dir built with prepare_lang --unk-phone none has no <unk> (icefall's yesno)
    compiler = CtcTrainingGraphCompiler.from_lang_dir(
        args.lang_dir, oov="<unk>" if "<unk>" in lexicon.words else None)
    args.exp_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint(model: Tdnn, epoch: int) -> dict:
        return {"model": copy.deepcopy(model.state_dict()), "epoch": epoch,
                "lang": lexicon.lang_facts(), "frames": args.frames}

    trial_epochs = min(args.restart_epochs, args.num_epochs) if args.restarts > 1 else 0
    best = None  # (loss per frame, restart, run, checkpoints of its trial epochs)
    for restart in range(args.restarts):
        run = new_run(args, lexicon.num_classes, args.seed + 1000 * restart)
        saved, loss = [], float("inf")
        for epoch in range(trial_epochs):
            loss = train_epoch(args, run, epoch, compiler, lexicon)
            logging.info(f"restart {restart}, epoch {epoch}: CTC loss per frame {loss:.4f}")
            saved.append(checkpoint(run[0], epoch))
        if best is None or loss < best[0]:
            best = (loss, restart, run, saved)
    loss, restart, run, saved = best
    if args.restarts > 1:
        logging.info(f"continuing restart {restart} (seed {args.seed + 1000 * restart}): the "
                     f"lowest loss after {trial_epochs} epochs, {loss:.4f} per frame")
    for state in saved:
        torch.save(state, args.exp_dir / f"epoch-{state['epoch']}.pt")
    for epoch in range(trial_epochs, args.num_epochs):
        loss = train_epoch(args, run, epoch, compiler, lexicon)
        logging.info(f"epoch {epoch}: CTC loss per frame {loss:.4f}")
        torch.save(checkpoint(run[0], epoch), args.exp_dir / f"epoch-{epoch}.pt")


if __name__ == "__main__":
    main()
