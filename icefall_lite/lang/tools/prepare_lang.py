"""Write a lang directory: words.txt, tokens.txt, lexicon.txt, lexicon_disambig.txt,
L.fst, L_disambig.fst (OpenFst) and L.pt, L_disambig.pt (k2 Fsa.as_dict format).

BPE lexicon (words spelled by sentencepiece pieces):
    lang/prepare_lang.py --lang-dir data/lang_bpe_500 --transcript T --bpe-model DIR/bpe.model
Phone lexicon (CMU-style dictionary, optional silence between words):
    lang/prepare_lang.py --lang-dir data/lang_phone --transcript T --lexicon an4.dic

Words come from the transcript (and the whole dictionary when given); a transcript word missing
from the dictionary is reported (file:line: word) and mapped to <unk>.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.lang_dir import prepare_lang
from icefall_lite.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang-dir", type=Path, required=True, help="output lang directory")
    parser.add_argument("--transcript", type=Path, required=True,
                        help="one sentence per line, words only")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="CMU-style pronunciation dictionary (WORD PH PH ..., WORD(2) ...)")
    parser.add_argument("--bpe-model", type=Path, default=None,
                        help="sentencepiece model: spell words by its pieces (BPE lexicon)")
    parser.add_argument("--sil-prob", type=float, default=0.5,
                        help="probability of optional silence after a word (phone lexicons)")
    parser.add_argument("--unk-phone", default="SPN",
                        help="phone lexicons: the token <unk> is pronounced with ('none': no "
                        "<unk> word and no such token; an out-of-dictionary word is an error)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.lexicon is None and args.bpe_model is None:
        parser.error("give --lexicon (phone lexicon) or --bpe-model (BPE lexicon)")
    setup_logging()
    info = prepare_lang(args.lang_dir, args.transcript, dictionary=args.lexicon,
                        bpe_model=args.bpe_model, sil_prob=args.sil_prob,
                        unk_phone=None if args.unk_phone == "none" else args.unk_phone)
    logging.info(f"{args.lang_dir}: vocabulary {info.num_words} words, {info.num_tokens} tokens, "
                 f"{len(info.oov)} out-of-dictionary word occurrences mapped to <unk>")


def cli() -> None:
    """The console script: bad input ends with a one-line error and exit status 1."""
    run_tool(main)


if __name__ == "__main__":
    cli()
