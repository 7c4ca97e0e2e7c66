#!/usr/bin/env python3
"""Time the lang pipeline (BPE, lexicon + L, modified-KN 3-gram, G, LG) on synthetic corpora.

Each corpus has ``--sentences`` sentences drawn with Zipf frequencies from a vocabulary of random
letter strings; the vocabulary grows over the rows. Run with the main environment:

    OMP_NUM_THREADS=1 .venv/bin/python bench/lang.py --vocab 500 2000 8000 --sentences 20000

Prints, per vocabulary size, the seconds of each step, LG's size, and the total time relative
to the first row.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
from pathlib import Path

from icefall_lite.lang.bpe import train_bpe_model
from icefall_lite.lang.grammar import arpa_to_g
from icefall_lite.lang.lang_dir import build_lg, prepare_lang
from icefall_lite.lang.ngram import estimate_kneser_ney, read_sentences, write_arpa


def make_corpus(path: Path, vocab_size: int, sentences: int, seed: int) -> None:
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    vocab = sorted({"".join(rng.choices(letters, k=rng.randint(2, 9)))
                    for _ in range(vocab_size)})
    weights = [1 / (i + 1) for i in range(len(vocab))]
    with open(path, "w") as f:
        for _ in range(sentences):
            f.write(" ".join(rng.choices(vocab, weights, k=rng.randint(3, 15))) + "\n")


def run(vocab_size: int, sentences: int, bpe_size: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lang = Path(tmp)
        transcript = lang / "transcript.txt"
        make_corpus(transcript, vocab_size, sentences, seed)
        times = {}
        start = time.perf_counter()
        train_bpe_model(transcript, lang / "bpe.model", bpe_size)
        times["bpe"] = time.perf_counter() - start
        start = time.perf_counter()
        info = prepare_lang(lang, transcript, bpe_model=lang / "bpe.model")
        times["lang+L"] = time.perf_counter() - start
        start = time.perf_counter()
        write_arpa(estimate_kneser_ney(read_sentences(transcript), order=3), lang / "lm.arpa")
        times["3-gram"] = time.perf_counter() - start
        start = time.perf_counter()
        arpa_to_g(lang / "lm.arpa", lang / "words.txt", lang / "G_3_gram.fst.txt")
        times["G"] = time.perf_counter() - start
        start = time.perf_counter()
        states, arcs = build_lg(lang)
        times["LG"] = time.perf_counter() - start
        return {"words": info.num_words, "states": states, "arcs": arcs, **times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--bpe-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [run(v, args.sentences, args.bpe_size, args.seed) for v in args.vocab]
    steps = ["bpe", "lang+L", "3-gram", "G", "LG"]
    print(f"{'words':>7} {'LG states':>10} {'LG arcs':>10} "
          + " ".join(f"{s + ' s':>9}" for s in steps) + f" {'total s':>8} {'ratio':>6}")
    base = sum(rows[0][s] for s in steps)
    for r in rows:
        total = sum(r[s] for s in steps)
        print(f"{r['words']:>7} {r['states']:>10} {r['arcs']:>10} "
              + " ".join(f"{r[s]:>9.2f}" for s in steps) + f" {total:>8.2f} {total / base:>6.2f}")


if __name__ == "__main__":
    main()
