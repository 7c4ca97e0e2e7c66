#!/usr/bin/env python3
"""Cross-validate a TDNN configuration (run from egs/yesno/ASR after prepare.sh): for each seed
and each of the folds, ``train.py --seed S --dev-fold K`` (with the options after ``--``), then
``decode.py --split dev --dev-fold K`` at every ``--epochs`` x ``--avgs``. Prints the dev
errors of each (epoch, avg) and seed summed over the folds (5 folds: 240 words, every training
utterance once), and writes them, fold by fold, to ``EXP_DIR/cv.tsv``. The test set is not
read. One training at a time, one thread (as train.py).

    ./tdnn/cross_validate.py --seeds 42 1 2 --epochs 14 19 --avgs 1 2 3 -- --num-epochs 20
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import decode
import train
from common import NUM_FOLDS


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    p.add_argument("--num-folds", type=int, default=NUM_FOLDS)
    p.add_argument("--epochs", type=int, nargs="+", default=[14],
                   help="checkpoints decoded (each must be below train.py's --num-epochs)")
    p.add_argument("--avgs", type=int, nargs="+", default=[2])
    p.add_argument("--exp-dir", type=Path, default=Path("tdnn/exp_cv"),
                   help="each run's checkpoints go to EXP_DIR/seed-S/fold-K")
    p.add_argument("train_args", nargs="*",
                   help="after --: train.py options (not --seed, --dev-fold, --num-folds, "
                   "--exp-dir); --lang-dir is passed to decode.py too")
    return p


def main(argv: list[str] | None = None) -> dict[tuple[int, int, int], int]:
    """Returns the dev errors summed over the folds by (epoch, avg, seed)."""
    args = get_parser().parse_args(argv)
    # decode with the lang dir the models are trained with (HLG, tokens)
    decode_lang = ["--lang-dir", str(train.get_parser().parse_args(args.train_args).lang_dir)]
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    totals: dict[tuple[int, int, int], int] = {}
    words: dict[int, int] = {}
    with open(args.exp_dir / "cv.tsv", "w", encoding="utf-8") as tsv:
        tsv.write("seed\tfold\tepoch\tavg\terrors\twords\n")
        for seed in args.seeds:
            words[seed] = 0
            for fold in range(args.num_folds):
                exp = args.exp_dir / f"seed-{seed}" / f"fold-{fold}"
                train.main([*args.train_args, "--seed", str(seed), "--dev-fold", str(fold),
                            "--num-folds", str(args.num_folds), "--exp-dir", str(exp)])
                fold_words = 0
                for epoch in args.epochs:
                    for avg in args.avgs:
                        stats = decode.main(["--split", "dev", "--dev-fold", str(fold),
                                             "--num-folds", str(args.num_folds), "--epoch",
                                             str(epoch), "--avg", str(avg), "--exp-dir",
                                             str(exp), *decode_lang])
                        key = (epoch, avg, seed)
                        totals[key] = totals.get(key, 0) + stats.errors
                        fold_words = stats.num_ref_words
                        tsv.write(f"{seed}\t{fold}\t{epoch}\t{avg}\t{stats.errors}\t"
                                  f"{fold_words}\n")
                        tsv.flush()
                words[seed] += fold_words
    print("epoch\tavg\t" + "\t".join(f"seed {s}" for s in args.seeds) + "\tsum")
    for epoch in args.epochs:
        for avg in args.avgs:
            row = [totals[epoch, avg, s] for s in args.seeds]
            print(f"{epoch}\t{avg}\t" + "\t".join(map(str, row))
                  + f"\t{sum(row)} / {sum(words.values())}")
    logging.info(f"fold by fold: {args.exp_dir / 'cv.tsv'}")
    return totals


if __name__ == "__main__":
    main()
