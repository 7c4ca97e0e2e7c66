"""Compose L and G into LG and save it as DIR/LG.pt (k2 Fsa.as_dict format: labels = token
ids, aux_labels = word ids, epsilon-free); prints LG's numbers of states and arcs.

    lang/compile_lg.py --lang-dir data/lang_bpe_500 --g data/lang_bpe_500/G_3_gram.fst.txt

Needs DIR/tokens.txt, DIR/words.txt and DIR/lexicon_disambig.txt (from prepare_lang.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.lang_dir import build_lg
from icefall_lite.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang-dir", type=Path, required=True, help="the lang directory")
    parser.add_argument("--g", type=Path, default=None,
                        help="G in OpenFst text form (default: DIR/G_3_gram.fst.txt)")
    parser.add_argument("--sil-prob", type=float, default=0.5,
                        help="optional-silence probability (phone lexicons; as in prepare_lang)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    num_states, num_arcs = build_lg(args.lang_dir, args.g, sil_prob=args.sil_prob)
    logging.info(f"wrote {args.lang_dir / 'LG.pt'}")
    print(f"LG: {num_states} states, {num_arcs} arcs")


def cli() -> None:
    """The console script: bad input ends with a one-line error and exit status 1."""
    run_tool(main)


if __name__ == "__main__":
    cli()
