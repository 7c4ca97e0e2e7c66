"""Estimate an ARPA n-gram LM with interpolated modified Kneser-Ney.

    lang/make_ngram.py --text transcript_words.txt --order 3 --out data/lm/G_3_gram.arpa

The text has one sentence per line, words only; <s> and </s> are added. With --words, words
outside words.txt are counted as <unk>.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.ngram import estimate_kneser_ney, read_sentences, write_arpa
from icefall_lite.lang.symbol_table import SymbolTable
from icefall_lite.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True, help="training text")
    parser.add_argument("--order", type=int, required=True, help="n-gram order (>= 1)")
    parser.add_argument("--out", type=Path, required=True, help="output ARPA file")
    parser.add_argument("--words", type=Path, default=None,
                        help="optional words.txt: words outside it become <unk>")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    vocabulary = set(SymbolTable.from_file(args.words).symbols) if args.words else None
    sentences = read_sentences(args.text, vocabulary)
    write_arpa(estimate_kneser_ney(sentences, args.order), args.out)


def cli() -> None:
    """The console script: bad input ends with a one-line error and exit status 1."""
    run_tool(main)


if __name__ == "__main__":
    cli()
