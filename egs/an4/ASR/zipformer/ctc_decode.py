#!/usr/bin/env python3
"""Decode the AN4 test set (run from egs/an4/ASR) with the CTC head of the trained model, by
icefall's CTC method names: ctc-greedy-search, ctc-decoding (H = ctc_topo, 1-best, tokens),
1best (HLG from prepare.sh stage 9, words); several comma-separated. Result files go to
<exp-dir>/<method>/ like decode.py's.

    ./zipformer/ctc_decode.py --epoch 8 --avg 3 --decoding-method ctc-greedy-search,1best
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from model_defaults import CORPUS, DECODE, FULL_CONTEXT, MODEL

from icefall_lite import k2
from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.decoding.ctc import CTC_METHODS, ctc_decode
from icefall_lite.decoding.results import result_suffix
from icefall_lite.lang.files import require_file
from icefall_lite.recipe.common import BpeCodec, pick_device, read_word_table
from icefall_lite.recipe.decode import (
    build_parser,
    load_decoding_model,
    result_prefix,
    write_test_set_results,
)
from icefall_lite.utils.logging import setup_logger

BEAMS = ("search_beam", "output_beam", "min_active_states", "max_active_states")


def ctc_methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in CTC_METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"unknown CTC method(s) {unknown or value!r}; choose "
                                         f"from {', '.join(CTC_METHODS)}")
    return methods


def get_parser() -> argparse.ArgumentParser:
    parser = build_parser({**CORPUS, **MODEL, **FULL_CONTEXT, **DECODE},
                          "Decode with the CTC head of a trained model.")
    group = parser.add_argument_group("CTC decoding (icefall's defaults)")
    group.add_argument("--decoding-method", type=ctc_methods, default=["ctc-decoding"],
                       help=f"one or more of {', '.join(CTC_METHODS)}, comma-separated")
    group.add_argument("--search-beam", type=float, default=20.0)
    group.add_argument("--output-beam", type=float, default=8.0)
    group.add_argument("--min-active-states", type=int, default=30)
    group.add_argument("--max-active-states", type=int, default=10000)
    return parser


def load_hlg(lang_dir: Path, device: torch.device):
    path = require_file(lang_dir / "HLG.pt", "HLG.pt (made by stage 9 of prepare.sh)")
    from icefall_lite.fsa import load_fsa  # noqa: PLC0415 - reads files of either backend

    hlg = load_fsa(path)
    return (hlg if k2.backend == "builtin" else k2.Fsa.from_dict(hlg.as_dict())).to(device)


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    device = pick_device()
    codec = BpeCodec(args.lang_dir)
    model = load_decoding_model(args, device)
    if model.ctc_output is None:
        raise SystemExit(f"the model in {args.exp_dir} has no CTC head (trained without "
                         "--use-ctc)")
    data = AsrDataModule(AsrDataConfig.from_args(args))
    beams = {k: getattr(args, k) for k in BEAMS}
    for method in args.decoding_method:
        out_dir = args.exp_dir / method
        log = setup_logger(out_dir / f"log-decode-{result_prefix(args)}", 0, 1)
        try:
            graph = load_hlg(args.lang_dir, device) if method == "1best" else None
            words = read_word_table(args.lang_dir) if method == "1best" else None
            key = result_suffix(method, {} if method == "ctc-greedy-search" else beams,
                                prefix=result_prefix(args))
            for test_set in args.test_sets.split(","):
                loader = data.test_dataloaders(data.load_cuts(args.corpus, test_set))
                start = time.perf_counter()
                results, seconds = [], 0.0
                for batch in loader:
                    sup = batch["supervisions"]
                    with torch.no_grad():
                        enc, lens = model.forward_encoder(batch["inputs"].to(device),
                                                          sup["num_frames"].to(device))
                        hyps = ctc_decode(method, model.ctc_output(enc), lens, graph=graph,
                                          **beams)
                    for cut, text, hyp in zip(sup["cut"], sup["text"], hyps):
                        hyp_words = [words[i] for i in hyp] if words else codec.decode(hyp).split()
                        results.append((cut.id, text.split(), hyp_words))
                        seconds += cut.duration
                write_test_set_results(out_dir, test_set, key, method, results,
                                       time.perf_counter() - start, seconds, beams)
        finally:
            log.close()


if __name__ == "__main__":
    main()
