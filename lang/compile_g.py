#!/usr/bin/env python3
"""Turn G (OpenFst text, e.g. from arpa_to_g.py) into the word acceptor that the rescoring
methods load (nbest-rescoring, whole-lattice-rescoring), as icefall builds G_4_gram.pt: the
input labels are kept, ``#0`` (backoff), ``<s>`` and ``</s>`` become epsilon (0), scores are
minus the OpenFst weights; arc-sorted, saved with ``torch.save(G.as_dict(), OUT)``.

    lang/compile_g.py --g data/lang_bpe_101/G_4_gram.fst.txt \\
        --words data/lang_bpe_101/words.txt --out data/lang_bpe_101/G_4_gram.pt
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from icefall_lite import k2
from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol
from icefall_lite.utils.logging import setup_logging


def epsilon_ids(words: SymbolTable) -> list[int]:
    """Word ids that G's rescoring form maps to epsilon: disambiguation symbols, ``<s>``,
    ``</s>``."""
    return [words[s] for s in words.symbols
            if is_disambig_symbol(s) or s in ("<s>", "</s>")]


def compile_g(text: str, words: SymbolTable):
    """The acceptor on word ids of G's OpenFst text ``text``."""
    arcs = k2.Fsa.from_openfst(text, acceptor=False).as_dict()["arcs"].clone()
    # [num_arcs, 4]: src, dst, label, score bits; a new Fsa without the output labels
    drop = torch.tensor(epsilon_ids(words), dtype=arcs.dtype)
    arcs[torch.isin(arcs[:, 2], drop), 2] = 0
    return k2.arc_sort(k2.Fsa(arcs))


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--g", type=Path, required=True, help="G in OpenFst text form")
    parser.add_argument("--words", type=Path, required=True, help="the lang dir's words.txt")
    parser.add_argument("--out", type=Path, required=True, help="the .pt file to write")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    words = SymbolTable.from_file(require_file(args.words, "word table"))
    text = require_file(args.g, "G (OpenFst text)").read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"G file {args.g} is empty")
    g = compile_g(text, words)
    unknown = sorted(set(g.labels.tolist()) - {-1} - set(words.ids))
    if unknown:
        raise ValueError(f"{args.g} has word ids {unknown[:5]} that {args.words} does not have")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(g.as_dict(), args.out)
    logging.info(f"wrote {args.out}")
    print(f"G: {g.shape[0]} states, {g.num_arcs} arcs")


if __name__ == "__main__":
    run_tool(main)
