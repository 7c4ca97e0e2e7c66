#!/usr/bin/env python3
"""Compose the CTC topology H with LG into HLG and save it as DIR/HLG.pt (k2 Fsa.as_dict
format: labels = token ids incl. blank 0, aux_labels = word ids, attribute ``tokens`` = the
matched token ids), as icefall's compile_hlg.py; prints HLG's numbers of states and arcs.

    lang/compile_hlg.py --lang-dir data/lang_bpe_500

Needs DIR/LG.pt (from compile_lg.py) and DIR/tokens.txt. H is ``ctc_topo(max_token_id)``
(standard; ``--modified`` for the modified topology), where ``max_token_id`` is the largest
token id that is not a disambiguation symbol (``#0, #1, ...``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from icefall_lite import k2
from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable, max_token_id
from icefall_lite.utils.logging import setup_logging


def compile_hlg(lg, max_token: int, modified: bool = False):
    """HLG = H o LG (connected, arc-sorted); ``lg``: token labels, word aux_labels."""
    top = int(lg.labels.max()) if lg.num_arcs else 0
    if top > max_token:
        raise ValueError(f"LG has token id {top} but tokens.txt ends at {max_token}: LG and "
                         "tokens.txt are from different lang dirs")
    H = k2.ctc_topo(max_token, modified=modified, device=lg.device)
    hlg = k2.compose(H, k2.arc_sort(lg), inner_labels="tokens")
    return k2.arc_sort(k2.connect(hlg))


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang-dir", type=Path, required=True, help="the lang directory")
    parser.add_argument("--modified", action="store_true", help="modified CTC topology")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging()
    lg_path = require_file(args.lang_dir / "LG.pt", "LG (run compile_lg.py first)")
    tokens = SymbolTable.from_file(require_file(args.lang_dir / "tokens.txt", "token table"))
    from icefall_lite.fsa import load_fsa  # noqa: PLC0415 - reads k2's and our files alike

    lg = load_fsa(lg_path)
    if k2.backend == "k2":
        lg = k2.Fsa.from_dict(lg.as_dict())
    hlg = compile_hlg(lg, max_token_id(tokens), args.modified)
    out = args.lang_dir / "HLG.pt"
    torch.save(hlg.as_dict(), out)
    logging.info(f"wrote {out}")
    print(f"HLG: {hlg.shape[0]} states, {hlg.num_arcs} arcs")


if __name__ == "__main__":
    run_tool(main)
