"""Choosing the int8 quantisation on AN4 dev: the fp32 ONNX files of a ``bench/deploy_an4.py``
work dir quantised with several :class:`~icefall_lite.models.int8.Int8Config` settings, each
decoded by icefall_lite with every method (offline, and streaming at each exported chunk size)
and by sherpa-onnx (greedy / modified beam search); per row the errors of fp32 and of each
setting, and how many utterances' words differ from fp32's. Also the encoder's relative RMS
output error against fp32 (offline, the whole split) and the file sizes.

Run after ``bench/deploy_an4.py`` has exported (its ``--work-dir``; nothing there is written)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/int8_an4.py --deploy-dir /tmp/deploy_an4 \\
        --split dev --out-dir /tmp/int8_an4 --settings icefall,per-channel-u8

Decoding follows ``bench/deploy_an4.py`` (same batching, streams, configs, 0.5 s tail).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_an4 as bench  # noqa: E402

from icefall_lite.decoding import DECODING_METHODS, DecodingConfig  # noqa: E402
from icefall_lite.models.int8 import Int8Config, quantize_onnx  # noqa: E402
from icefall_lite.recipe import pretrained  # noqa: E402
from icefall_lite.recipe.common import BpeCodec, load_decoding_graph  # noqa: E402
from icefall_lite.runtime import OnnxTransducer  # noqa: E402

#: The settings compared (names for --settings).
SETTINGS = {
    "icefall": Int8Config(per_channel=False, weight_type="QInt8"),
    "per-channel": Int8Config(per_channel=True, weight_type="QInt8"),
    "reduce-range": Int8Config(per_channel=False, weight_type="QInt8", reduce_range=True),
    "per-channel-rr": Int8Config(per_channel=True, weight_type="QInt8", reduce_range=True),
    "u8": Int8Config(per_channel=False, weight_type="QUInt8"),
    "per-channel-u8": Int8Config(per_channel=True, weight_type="QUInt8"),
}
PARTS = ("encoder", "decoder", "joiner")


def fp32_files(deploy: Path, chunk: int | None) -> list[Path]:
    """encoder, decoder, joiner fp32 files of ``deploy/full`` or ``deploy/chunk-C``."""
    d = deploy / ("full" if chunk is None else f"chunk-{chunk}")
    out = []
    for part in PARTS:
        found = sorted(p for p in d.glob(f"{part}-epoch-*.onnx")
                       if not p.name.endswith(".int8.onnx")
                       and ("-chunk-" in p.name) == (chunk is not None))
        if len(found) != 1:
            raise FileNotFoundError(f"{d}: expected one fp32 {part} file, found {found}")
        out.append(found[0])
    return out


def encoder_error(fp32: OnnxTransducer, int8: OnnxTransducer, feats: list[torch.Tensor],
                  batch: int = 16) -> float:
    """Relative RMS difference of the offline encoders' outputs over ``feats`` (batches as
    ``deploy_an4.library_offline``)."""
    num = den = 0.0
    order = sorted(range(len(feats)), key=lambda i: feats[i].size(0))
    for b in range(0, len(order), batch):
        idx = order[b : b + batch]
        x = torch.nn.utils.rnn.pad_sequence([feats[i] for i in idx], batch_first=True,
                                            padding_value=bench.LOG_EPSILON)
        lens = torch.tensor([feats[i].size(0) for i in idx])
        a, a_lens = fp32.forward_encoder(x, lens)
        q, _ = int8.forward_encoder(x, lens)
        for j, n in enumerate(a_lens.tolist()):
            num += float(((q[j, :n] - a[j, :n]) ** 2).sum())
            den += float((a[j, :n] ** 2).sum())
    return (num / den) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe-dir", type=Path, default=Path("egs/an4/ASR"))
    parser.add_argument("--deploy-dir", type=Path, default=Path("/tmp/deploy_an4"))
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/int8_an4"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--chunks", default="16,32")
    parser.add_argument("--methods", default=",".join(DECODING_METHODS))
    parser.add_argument("--blank-penalty", type=float, default=1.0)
    parser.add_argument("--ngram-lm-scale", type=float, default=0.01)
    parser.add_argument("--no-fp32", action="store_true",
                        help="decode the int8 settings only (no fp32 column, no 'differ' "
                             "counts; the fp32 errors of a deploy_an4.py report are the same)")
    parser.add_argument("--num-paths", default="200",
                        help="comma-separated num_paths of the n-best methods, one row each "
                             "(how much the sampled paths move their WER)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    deploy, out_dir = args.deploy_dir.resolve(), args.out_dir.resolve()
    recipe = args.recipe_dir.resolve()
    os.chdir(recipe)
    defaults = bench.recipe_defaults(recipe)
    lang_dir = recipe / defaults.CORPUS["lang_dir"]
    codec = BpeCodec(lang_dir)
    bp, lm = args.blank_penalty, args.ngram_lm_scale
    configs = {"offline": DecodingConfig(blank_penalty=bp, ngram_lm_scale=lm),
               "streaming": DecodingConfig(blank_penalty=bp, ngram_lm_scale=lm, beam=4.0,
                                           max_contexts=4, max_states=32)}
    utts = bench.load_test_set(recipe, 0, args.split)
    feats = [pretrained.compute_features([u["audio"]], u["rate"])[0][0] for u in utts]
    tail = [pretrained.compute_features([np.concatenate(
        [u["audio"], np.zeros(int(bench.TAIL_SILENCE * u["rate"]), np.float32)])],
        u["rate"])[0][0] for u in utts]
    methods = args.methods.split(",")
    paths = [int(n) for n in args.num_paths.split(",")]
    contexts = [None] + [int(c) for c in args.chunks.split(",")]
    settings = ({} if args.no_fp32 else {"fp32": None}) | {
        s: SETTINGS[s] for s in args.settings.split(",")}
    report: dict = {"split": args.split, "words": sum(len(u["ref"]) for u in utts),
                    "settings": {s: repr(c) for s, c in settings.items()}, "rows": {},
                    "encoder_error": {}, "sizes": {}}
    words = bench.Words(deploy / "full/tokens.txt", lang_dir)
    hyps_of: dict[str, dict] = {}
    for chunk in contexts:
        src = fp32_files(deploy, chunk)
        for name, config in settings.items():
            if config is None:
                files = src
            else:
                (out_dir / name).mkdir(parents=True, exist_ok=True)
                files = [quantize_onnx(f, out_dir / name / f.name.replace(".onnx", ".int8.onnx"),
                                       config) for f in src]
            report["sizes"][f"{name} {chunk or 'full'}"] = [f.stat().st_size for f in files]
            model = OnnxTransducer(*files, streaming=chunk is not None)
            if chunk is None and config is not None and not args.no_fp32:
                report["encoder_error"][name] = encoder_error(
                    OnnxTransducer(*src), model, feats)
            for method, num_paths in [(m, n) for m in methods
                                      for n in (paths if "nbest" in m else [None])]:
                row = f"{'offline' if chunk is None else f'chunk {chunk}'} {method}"
                cfg = configs["offline" if chunk is None else "streaming"]
                if num_paths is not None and paths != [cfg.num_paths]:
                    row += f" num_paths {num_paths}"
                    cfg = dataclasses.replace(cfg, num_paths=num_paths)
                graph = load_decoding_graph(lang_dir, method, cfg.ngram_lm_scale,
                                            codec.vocab_size, "cpu")
                engines = [("icefall_lite", None)] + (
                    [("sherpa", str(deploy / "full/tokens.txt"))]
                    if method in bench.SHERPA_METHODS else [])
                for engine, tokens in engines:
                    if engine == "sherpa":
                        hyps, _ = bench.sherpa_decode([str(f) for f in files], tokens, utts,
                                                      method, chunk is not None, bp)
                    elif chunk is None:
                        hyps, _ = bench.library_offline(model, utts, feats, method, cfg, graph,
                                                        words, codec)
                    else:
                        hyps, _ = bench.library_streaming(model, utts, tail, method, cfg, graph,
                                                          words, codec)
                    key = f"{row} {engine}"
                    hyps_of.setdefault(key, {})[name] = hyps
                    ref = hyps_of[key].get("fp32", hyps)
                    cell = {"errors": bench.wer(utts, hyps)[1],
                            "differ": sum(hyps[u["id"]] != ref[u["id"]] for u in utts)}
                    report["rows"].setdefault(key, {})[name] = cell
                    print(key, name, json.dumps(cell), flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"report-{args.split}.json").write_text(json.dumps(report, indent=1))
    if not args.no_fp32:
        print_table(report, list(settings))


def print_table(report: dict, names: list[str]) -> None:
    """Markdown: per row fp32 errors, then per setting errors (delta, utterances differing)."""
    print(f"{report['split']}: {report['words']} words; 0.3 % = "
          f"{0.003 * report['words']:.1f} errors")
    print("| row | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for key, cells in report["rows"].items():
        base = cells["fp32"]["errors"]
        parts = [str(base)] + [f"{cells[n]['errors']} ({cells[n]['errors'] - base:+d}, "
                               f"{cells[n]['differ']} utts)" for n in names[1:]]
        print(f"| {key} | " + " | ".join(parts) + " |")
    print("encoder error:", json.dumps(report["encoder_error"]))


if __name__ == "__main__":
    sys.exit(main())
