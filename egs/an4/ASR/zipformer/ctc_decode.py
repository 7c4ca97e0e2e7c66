#!/usr/bin/env python3
"""Decode the AN4 test sets (run from egs/an4/ASR) with the CTC head of the trained model, by
icefall's CTC method names, several comma-separated (the model is loaded once):

- ctc-greedy-search, ctc-decoding (H = ctc_topo, 1-best; tokens), 1best (HLG of prepare.sh
  stage 9; words);
- nbest (--num-paths sampled from the HLG lattice, --nbest-scale), nbest-oracle (the sampled
  word sequence closest to the reference);
- nbest-rescoring, whole-lattice-rescoring: rescored with the 4-gram G of prepare.sh stage 10
  (--rescoring-lm, default <lang-dir>/G_4_gram.pt), one result per LM scale of --lm-scales.

Each method writes to <exp-dir>/<method>/, per result key (icefall's: no_rescore,
lm_scale_0.5, ...) the recogs-, errs- and wer-summary- files and summary-<set>-<key>.json (read by
``python -m icefall_lite.recipe.report``), and per test set one wer-summary-<set>-<checkpoint>.txt
listing every key of the method, best first, as icefall's save_results does.

    ./zipformer/ctc_decode.py --epoch 8 --avg 3 --decoding-method ctc-greedy-search,1best
    ./zipformer/ctc_decode.py --epoch 8 --avg 3 --decoding-method whole-lattice-rescoring \\
        --lm-scales 0.3,0.5,0.7
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from model_defaults import CORPUS, DECODE, FULL_CONTEXT

from icefall_lite import k2
from icefall_lite.decoding.ctc import (
    CTC_METHODS,
    LATTICE_METHODS,
    check_lang_tokens,
    ctc_decode_keyed,
    prepare_G,
)
from icefall_lite.decoding.rescore import DEFAULT_LM_SCALE
from icefall_lite.fsa import load_fsa
from icefall_lite.lang.files import require_file
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    add_data_arguments,
    data_module,
    pick_device,
    read_word_table,
)
from icefall_lite.recipe.decode import (
    add_checkpoint_arguments,
    decoding_model_info,
    load_decoding_model,
    result_prefix,
    write_test_set_results,
)
from icefall_lite.recipe.model_info import add_model_arguments
from icefall_lite.utils.config import HelpFormatter
from icefall_lite.utils.logging import setup_logger

ALL_METHODS = CTC_METHODS + LATTICE_METHODS
BEAMS = ("search_beam", "output_beam", "min_active_states", "max_active_states")
TOKEN_METHODS = ("ctc-greedy-search", "ctc-decoding")  # the others give word ids
RESCORING = ("nbest-rescoring", "whole-lattice-rescoring")


def ctc_methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"unknown CTC method(s) {unknown or value!r}; choose "
                                         f"from {', '.join(ALL_METHODS)}")
    if len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"a decoding method is repeated in {value!r}")
    return methods


def lm_scales(value: str) -> list[float]:
    try:
        scales = [float(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lm-scales {value!r}: not a comma-separated list "
                                         "of numbers") from None
    if not scales or any(not s > 0 for s in scales):
        raise argparse.ArgumentTypeError(f"--lm-scales {value!r}: give positive scales")
    return scales


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    defaults = {**CORPUS, **FULL_CONTEXT, **DECODE}
    add_corpus_arguments(parser, defaults, options=("corpus", "lang_dir", "test_sets"))
    add_data_arguments(parser, decoding=True)
    add_model_arguments(parser)
    add_checkpoint_arguments(parser)
    group = parser.add_argument_group("CTC decoding (icefall's defaults)")
    group.add_argument("--decoding-method", type=ctc_methods, default=["ctc-decoding"],
                       help=f"one or more of {', '.join(ALL_METHODS)}, comma-separated")
    group.add_argument("--search-beam", type=float, default=20.0)
    group.add_argument("--output-beam", type=float, default=8.0)
    group.add_argument("--min-active-states", type=int, default=30)
    group.add_argument("--max-active-states", type=int, default=10000)
    group.add_argument("--num-paths", type=int, default=100,
                       help="paths sampled from the lattice (nbest, nbest-rescoring, "
                            "nbest-oracle)")
    group.add_argument("--nbest-scale", type=float, default=1.0,
                       help="lattice scores are scaled by this before sampling (smaller = "
                            "more diverse paths)")
    group.add_argument("--lm-scales", type=lm_scales, default=list(DEFAULT_LM_SCALE),
                       help="LM scales of the rescoring methods, comma-separated (one result "
                            "each, key lm_scale_<s>)")
    group.add_argument("--rescoring-lm", type=Path, default=None,
                       help="the rescoring G (a word acceptor, k2 Fsa.as_dict; default "
                            "<lang-dir>/G_4_gram.pt from prepare.sh stage 10)")
    parser.set_defaults(**defaults)
    return parser


def load_graph(path: Path, what: str, device: torch.device):
    """An Fsa saved with ``as_dict`` (either backend) on the active backend."""
    fsa = load_fsa(require_file(path, what))
    return (fsa if k2.backend == "builtin" else k2.Fsa.from_dict(fsa.as_dict())).to(device)


def method_options(args: argparse.Namespace, method: str, device: torch.device,
                   lang: dict, graphs: dict) -> dict:
    """``ctc_decode_keyed``'s keyword arguments for ``method``: beams, graphs, sweep. ``lang``:
    the checkpoint's vocabulary record, which ``--lang-dir``'s tokens.txt must match when its
    HLG is loaded. ``graphs`` keeps the HLG between methods, so it is loaded and checked once
    (``ctc_decode_keyed`` clones a graph before it adds attributes to it)."""
    opts: dict = {k: getattr(args, k) for k in BEAMS}
    if method == "ctc-greedy-search":
        return {}
    if method != "ctc-decoding":
        if "HLG" not in graphs:
            check_lang_tokens(require_file(args.lang_dir / "tokens.txt",
                                           "tokens.txt of the HLG"),
                              lang.get("tokens"), lang.get("vocab_size"))
            graphs["HLG"] = load_graph(args.lang_dir / "HLG.pt", "HLG.pt (prepare.sh stage 9)",
                                       device)
        opts["graph"] = graphs["HLG"]
    if method in ("nbest", "nbest-rescoring", "nbest-oracle"):
        opts.update(num_paths=args.num_paths, nbest_scale=args.nbest_scale)
    if method in RESCORING:
        path = args.rescoring_lm or args.lang_dir / "G_4_gram.pt"
        opts["G"] = prepare_G(load_graph(path, "the rescoring G (prepare.sh stage 10)", device),
                              method)
        opts["lm_scale_list"] = args.lm_scales
    return opts


def result_key(prefix: str, method: str, key: str) -> str:
    """The file-name key: checkpoint, method and icefall's key (when it is not the method)."""
    return f"{prefix}_{method}" + ("" if key == method else f"_{key}")


def result_label(method: str, key: str, num_keys: int) -> str:
    """The method name of a summary: the key is added for a sweep (one row per LM scale)."""
    return method if num_keys == 1 else f"{method} {key}"


def decode_test_set(model, loader, method: str, opts: dict, codec: BpeCodec, words,
                    device: torch.device) -> tuple[dict[str, list], float, float]:
    """{result key: [(cut id, ref words, hyp words)]}, decoding seconds, audio seconds."""
    results: dict[str, list] = {}
    start, seconds = time.perf_counter(), 0.0
    for batch in loader:
        sup = batch["supervisions"]
        with torch.no_grad():
            enc, lens = model.forward_encoder(batch["inputs"].to(device),
                                              sup["num_frames"].to(device))
            # the lang tools' words.txt spells the OOV word <unk> (icefall's default: <UNK>)
            extra = ({"ref_texts": list(sup["text"]), "word_table": words,
                      "oov": "<unk>" if "<unk>" in words else "<UNK>"}
                     if method == "nbest-oracle" else {})
            keyed = ctc_decode_keyed(method, model.ctc_output(enc), lens, **opts, **extra)
        for key, hyps in keyed.items():
            for cut, text, hyp in zip(sup["cut"], sup["text"], hyps):
                hyp_words = (codec.decode(hyp).split() if method in TOKEN_METHODS
                             else [words[i] for i in hyp])
                results.setdefault(key, []).append((cut.id, text.split(), hyp_words))
        seconds += sum(cut.duration for cut in sup["cut"])
    return results, time.perf_counter() - start, seconds


def write_sweep_summary(out_dir: Path, test_set: str, prefix: str,
                        summaries: list[dict]) -> Path:
    """icefall's ``wer-summary-<set>-<suffix>.txt``: every key of the method, best first."""
    path = out_dir / f"wer-summary-{test_set}-{prefix}.txt"
    rows = sorted(summaries, key=lambda s: s["wer"])
    path.write_text("settings\tWER\n" + "".join(f"{s['settings']['key']}\t{s['wer']:.2f}\n"
                                                for s in rows), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, list[dict]]]:
    """Decode every ``--test-sets`` split with each method; returns {method: {test set:
    [summary per result key]}}."""
    args = get_parser().parse_args(argv)
    device = pick_device()
    codec = BpeCodec(args.lang_dir)
    info, config = decoding_model_info(args)
    model = load_decoding_model(args, device, (info, config))
    if model.ctc_output is None:
        raise SystemExit(f"the model in {args.exp_dir} has no CTC head (trained without "
                         "--use-ctc)")
    data = data_module(args, config.feature_dim)
    words = read_word_table(args.lang_dir)
    lang = {"vocab_size": config.vocab_size, **info.lang}
    prefix = result_prefix(args, config)
    out: dict[str, dict[str, list[dict]]] = {}
    graphs: dict = {}
    for method in args.decoding_method:
        out_dir = args.exp_dir / method
        log = setup_logger(out_dir / f"log-decode-{prefix}", 0, 1)
        try:
            opts = method_options(args, method, device, lang, graphs)
            settings = {k: v for k, v in vars(args).items()
                        if k in BEAMS + ("num_paths", "nbest_scale")}
            for test_set in args.test_sets.split(","):
                loader = data.test_dataloaders(data.load_cuts(args.corpus, test_set))
                results, elapsed, seconds = decode_test_set(model, loader, method, opts, codec,
                                                            words, device)
                summaries = [
                    write_test_set_results(out_dir, test_set, result_key(prefix, method, key),
                                           result_label(method, key, len(results)), res,
                                           elapsed, seconds, settings)
                    for key, res in results.items()]
                write_sweep_summary(out_dir, test_set, prefix, summaries)
                out.setdefault(method, {})[test_set] = summaries
        finally:
            log.close()
    return out


if __name__ == "__main__":
    main()
