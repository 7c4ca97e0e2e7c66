#!/usr/bin/env python3
"""Train icefall's yesno TDNN with the CTC loss (run from egs/yesno/ASR after prepare.sh):
as icefall, the 30 training utterances with their 0.9 and 1.1 speed copies (90 cuts,
prepare.sh stage 10), 15 epochs of SGD, lr 1e-2, weight decay 1e-6, gradient norm clipped at
5, unpadded convolutions; each utterance's loss covers the output frames whose receptive field
lies inside it (``--frames valid``). The training graph of each utterance is its transcript
composed with the phone lang dir's L (optional SIL before the first word and after each, as in
decoding with HLG) and the CTC topology
(:class:`icefall_lite.lang.ctc_training_graph.CtcTrainingGraphCompiler`). Saves
tdnn/exp/epoch-N.pt. See egs/yesno/ASR/RESULTS.md for how the defaults were chosen.

    ./tdnn/train.py
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
    Lexicon,
    data_module,
    load_split,
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
    p.add_argument("--frames", choices=FRAMES, default="valid",
                   help="valid: unpadded convolutions, each utterance's own output frames; "
                   "padded: zero-padded convolutions, one output frame per input frame; "
                   "batch: as icefall, unpadded, every supervision spanning the batch's output")
    p.add_argument("--dev", type=int, default=0,
                   help="1: train on 24 utterances, holding 6 out as the dev split (tuning)")
    p.add_argument("--optional-sil", type=int, default=1,
                   help="1: training graphs through L, with its optional SIL between words; "
                   "0: the CTC graph of the pronunciations alone (blank covers the pauses)")
    p.add_argument("--speed-perturb", type=int, default=1,
                   help="1: train on data/fbank_sp (each utterance at speeds 1, 0.9 and 1.1, "
                   "as icefall's yesno); 0: data/fbank (the 30 utterances once)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # the model and the lattices are tiny: more threads only add synchronisation (8x slower
    # on a loaded 2-core machine)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    lexicon = Lexicon()
    compiler = CtcTrainingGraphCompiler.from_lang_dir(LANG_DIR)
    data = data_module(args.max_duration, args.seed, bool(args.speed_perturb))
    loader = data.train_dataloaders(load_split(data, "train", bool(args.dev)))
    model = Tdnn(23, lexicon.num_classes, pad=args.frames == "padded")
    optimizer_class = torch.optim.SGD if args.optimizer == "sgd" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=args.lr, weight_decay=1e-6)
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(args.num_epochs):
        model.train()
        loader.sampler.set_epoch(epoch)  # a new order each epoch, as icefall's
        tot, frames = 0.0, 0
        for batch in loader:
            log_probs = model(batch["inputs"])
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
        logging.info(f"epoch {epoch}: CTC loss per frame {tot / frames:.4f}")
        torch.save({"model": model.state_dict(), "epoch": epoch, "lang": lexicon.lang_facts(),
                    "frames": args.frames},
                   args.exp_dir / f"epoch-{epoch}.pt")


if __name__ == "__main__":
    main()
