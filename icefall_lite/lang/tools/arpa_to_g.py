"""Convert an ARPA LM into G (OpenFst text) with kaldilm, '#0' on the backoff arcs.

    lang/arpa_to_g.py --arpa data/lm/G_3_gram.arpa --words data/lang_bpe_500/words.txt \
        --out data/lang_bpe_500/G_3_gram.fst.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.grammar import arpa_to_g
from icefall_lite.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arpa", type=Path, required=True, help="input ARPA LM")
    parser.add_argument("--words", type=Path, required=True, help="words.txt of the lang dir")
    parser.add_argument("--out", type=Path, required=True, help="output G in OpenFst text form")
    parser.add_argument("--max-order", type=int, default=-1,
                        help="use n-grams up to this order (-1: all)")
    parser.add_argument("--disambig-symbol", default="#0",
                        help="input label of the backoff arcs")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    arpa_to_g(args.arpa, args.words, args.out, max_order=args.max_order,
              disambig_symbol=args.disambig_symbol)


def cli() -> None:
    """The console script: bad input ends with a one-line error and exit status 1."""
    run_tool(main)


if __name__ == "__main__":
    cli()
