"""Served transcripts against ``streaming_decode.py``'s on a whole test set: the same model,
method, chunk size and decoding settings, utterance by utterance.

For each method the recipe's own ``zipformer/streaming_decode.py`` decodes the split (a
subprocess in the recipe directory, ``--on-the-fly-feats 1``: its features are computed from
the audio by the training extractor, as the server computes them; the stored features are
lilcom-compressed and differ in the last bits), and its ``recogs-`` file is read back. Then the
server (``python -m icefall_lite.server``, a subprocess on a free localhost port, endpointing
off, its own tail padding: ``--tail-pad-frames`` as streaming_decode.py) serves the same
checkpoints, and with ``--encoder/--decoder/--joiner`` also those streaming ONNX files; every
utterance of the split is sent as fast as possible by ``--concurrency`` real websocket clients in
chunks of ``--chunk-ms``. The table counts the utterances whose served words equal
streaming_decode.py's and lists every one that differs.

Example (from the repository root, after AN4's run.sh)::

    .venv/bin/python bench/server_parity.py --recipe-dir egs/an4/ASR \\
        --exp-dir zipformer/exp-seed42 --epoch 8 --avg 3 --blank-penalty 1.0 \\
        --encoder D/encoder-epoch-8-avg-3-chunk-16-left-128.onnx \\
        --decoder D/decoder-epoch-8-avg-3-chunk-16-left-128.onnx \\
        --joiner D/joiner-epoch-8-avg-3-chunk-16-left-128.onnx
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from server import start_server

from icefall_lite.server.client import load_manifest, transcribe_many, word_error_rate


def streaming_decode_words(recipe: Path, argv: list[str], method: str, split: str,
                           exp_dir: Path) -> tuple[dict[str, list[str]], float]:
    """Run the recipe's streaming_decode.py for ``method`` on ``split``; returns its words per
    cut id (read back from its recogs file) and the run's wall seconds."""
    start = time.time()
    run = subprocess.run([sys.executable, "zipformer/streaming_decode.py", *argv,
                          "--decoding-method", method, "--test-sets", split,
                          "--on-the-fly-feats", "1"], cwd=recipe, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"streaming_decode.py {method} failed:\n{run.stderr[-3000:]}")
    out_dir = exp_dir / "streaming" / method
    summaries = [p for p in out_dir.glob(f"summary-{split}-*.json")
                 if p.stat().st_mtime >= start]
    if len(summaries) != 1:
        raise RuntimeError(f"expected one new summary in {out_dir}, found {summaries}")
    key = json.loads(summaries[0].read_text())["settings"]["key"]
    words: dict[str, list[str]] = {}
    for line in (out_dir / f"recogs-{split}-{key}.txt").read_text().splitlines():
        cut_id, field = line.split(":\t", 1)
        if field.startswith("hyp="):
            words[cut_id] = ast.literal_eval(field[4:])
    return words, time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--recipe-dir", type=Path, default=Path("egs/an4/ASR"))
    parser.add_argument("--exp-dir", default="zipformer/exp",
                        help="the run's exp dir, relative to --recipe-dir")
    parser.add_argument("--split", default="test")
    parser.add_argument("--lang-dir", default="data/lang_bpe_101",
                        help="relative to --recipe-dir")
    parser.add_argument("--epoch", type=int, default=8)
    parser.add_argument("--avg", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--left-context-frames", type=int, default=128)
    parser.add_argument("--blank-penalty", type=float, default=1.0)
    parser.add_argument("--ngram-lm-scale", type=float, default=0.1)
    parser.add_argument("--methods", default="greedy_search,modified_beam_search,"
                                             "fast_beam_search,fast_beam_search_LG")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--num-workers", type=int, default=2)
    for part in ("encoder", "decoder", "joiner"):
        parser.add_argument(f"--{part}", type=Path, default=None,
                            help=f"streaming ONNX {part} of the same checkpoints (export.py "
                                 "--onnx 1), served as well")
    args = parser.parse_args()
    recipe = args.recipe_dir.resolve()
    exp_dir = recipe / args.exp_dir
    lang_dir = recipe / args.lang_dir
    common = ["--exp-dir", str(exp_dir), "--epoch", str(args.epoch), "--avg", str(args.avg),
              "--lang-dir", str(lang_dir), "--chunk-size", str(args.chunk_size),
              "--left-context-frames", str(args.left_context_frames),
              "--blank-penalty", str(args.blank_penalty),
              "--ngram-lm-scale", str(args.ngram_lm_scale)]
    utts = load_manifest(recipe / "data" / "fbank" / f"an4_cuts_{args.split}.jsonl.gz")
    methods = args.methods.split(",")
    print(f"load average at start: {os.getloadavg()}; {len(utts)} {args.split} utterances; "
          f"chunk {args.chunk_size}, left context {args.left_context_frames}; "
          f"{args.concurrency} clients, {args.chunk_ms:g} ms chunks, as fast as possible")
    expected = {}
    for method in methods:
        expected[method], seconds = streaming_decode_words(recipe, common, method, args.split,
                                                           exp_dir)
        print(f"streaming_decode.py {method}: {seconds:.0f} s", flush=True)
    kinds = [("eager fp32", [])]
    onnx = [args.encoder, args.decoder, args.joiner]
    if all(onnx):
        kinds.append(("onnx " + ("int8" if ".int8." in args.encoder.name else "fp32"),
                      [a for part, f in zip(("encoder", "decoder", "joiner"), onnx)
                       for a in (f"--{part}", str(f.resolve()))]))
    print("\n| model | method | utterances | same words | differing | WER % "
          "streaming_decode.py | WER % served |\n|---|---|---|---|---|---|---|")
    differing_lines = []
    for kind, options in kinds:
        server_argv = [*common, "--num-workers", str(args.num_workers), "--endpoint", "0",
                       "--max-connections", str(args.concurrency + 5), *options]
        proc, uri = start_server(server_argv, Path("bench_server.log"))
        try:
            for method in methods:
                results = asyncio.run(transcribe_many(
                    uri, utts, args.concurrency, chunk_ms=args.chunk_ms, realtime=False,
                    method=method, timeout=600))
                failed = [u.name for u, r in zip(utts, results) if r.error is not None]
                if failed:
                    raise RuntimeError(f"{kind} {method}: {len(failed)} failed, e.g. {failed[0]}")
                served = {u.name: r.text.split() for u, r in zip(utts, results)}
                ref = expected[method]
                diff = [u.name for u in utts if served[u.name] != ref[u.name]]
                for name in diff:
                    differing_lines.append(f"- {kind} {method} {name}: streaming_decode.py "
                                           f"{' '.join(ref[name])!r}, served "
                                           f"{' '.join(served[name])!r}")
                wer_ref = word_error_rate([(u.ref, ref[u.name]) for u in utts])[0]
                wer_served = word_error_rate([(u.ref, served[u.name]) for u in utts])[0]
                print(f"| {kind} | {method} | {len(utts)} | {len(utts) - len(diff)} | "
                      f"{len(diff)} | {wer_ref:.2f} | {wer_served:.2f} |", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("\n" + ("\n".join(differing_lines) if differing_lines else "no utterance differs"))


if __name__ == "__main__":
    main()
