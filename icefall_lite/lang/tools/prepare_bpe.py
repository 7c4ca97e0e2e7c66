"""Train a sentencepiece model and write ``tokens.txt`` into a lang directory.

    lang/prepare_bpe.py --lang-dir data/lang_bpe_500 --transcript words.txt --vocab-size 500

Writes DIR/bpe.model and DIR/tokens.txt (<blk> 0, <sos/eos> 1, <unk> 2, then the pieces).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.lang.bpe import train_bpe_model, write_bpe_tokens
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang-dir", type=Path, required=True, help="output lang directory")
    parser.add_argument("--transcript", type=Path, required=True,
                        help="training text: one sentence per line, words only")
    parser.add_argument("--vocab-size", type=int, required=True, help="number of pieces")
    parser.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"],
                        help="sentencepiece model type (icefall uses unigram)")
    parser.add_argument("--character-coverage", type=float, default=1.0,
                        help="sentencepiece character coverage")
    parser.add_argument("--sil-piece", type=int, default=0, choices=[0, 1],
                        help="1: add a <sil> piece (id 3); recipes then encode transcripts with "
                             "<sil> between words and drop it from hypotheses, and L gets an "
                             "optional <sil> between words")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    args.lang_dir.mkdir(parents=True, exist_ok=True)
    model = train_bpe_model(args.transcript, args.lang_dir / "bpe.model", args.vocab_size,
                            model_type=args.model_type,
                            character_coverage=args.character_coverage,
                            sil_piece=bool(args.sil_piece))
    table = write_bpe_tokens(model, args.lang_dir / "tokens.txt")
    logging.info(f"wrote {args.lang_dir / 'tokens.txt'} ({len(table)} tokens)")


def cli() -> None:
    """The console script: bad input ends with a one-line error and exit status 1."""
    run_tool(main)


if __name__ == "__main__":
    cli()
