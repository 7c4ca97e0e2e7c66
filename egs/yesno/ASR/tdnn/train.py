#!/usr/bin/env python3
"""Train icefall's yesno TDNN with the CTC loss (run from egs/yesno/ASR after prepare.sh):
SGD, lr 1e-2, weight decay 1e-6, 15 epochs, gradient norm clipped at 5; the training graph
of each utterance is the CTC graph of its phone sequence. Saves tdnn/exp/epoch-N.pt.

    ./tdnn/train.py
"""

from __future__ import annotations

import argparse
import logging

import torch
from common import EXP_DIR, Lexicon, data_module, sorted_supervisions
from model import Tdnn

from icefall_lite import k2


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-duration", type=float, default=30.0)
    return p


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # the model and the lattices are tiny: more threads only add synchronisation (8x slower
    # on a loaded 2-core machine)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    lexicon = Lexicon()
    data = data_module(args.max_duration)
    loader = data.train_dataloaders(data.load_cuts("yesno", "train"))
    model = Tdnn(23, lexicon.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, weight_decay=1e-6)
    EXP_DIR.mkdir(parents=True, exist_ok=True)
    for epoch in range(args.num_epochs):
        model.train()
        tot, frames = 0.0, 0
        for batch in loader:
            log_probs = model(batch["inputs"])
            segs, order = sorted_supervisions(batch)
            texts = batch["supervisions"]["text"]
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
        torch.save({"model": model.state_dict(), "epoch": epoch}, EXP_DIR / f"epoch-{epoch}.pt")


if __name__ == "__main__":
    main()
