#!/usr/bin/env python3
"""Choose AN4's decoding presets on the dev set (run from egs/an4/ASR after training).

    ./local/tune_on_dev.py --exp-dir zipformer/exp-seed42 [--epoch 8]

Decodes dev only, into ``<exp-dir>-dev-sweep/`` (the checkpoints are linked there, so the run's
own result table stays clean), and prints each sweep's table:

1. ``--avg`` x ``--blank-penalty`` with greedy and modified beam search; the pair with the lowest
   mean dev WER of the two wins (ties: the smaller average, then the smaller penalty);
2. with that pair, ``--ngram-lm-scale`` for the two LG methods and ``--nbest-scale`` for the
   n-best methods, each chosen by its own dev WER.

The test set is not decoded here; model_defaults.py takes the winners and run.sh reports test
once with them (RESULTS.md records each sweep).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

AVGS = (1, 2, 3, 4, 5)
BLANK_PENALTIES = (0.5, 1.0, 1.5)
LM_SCALES = (0.01, 0.1, 0.3)
NBEST_SCALES = (0.5, 1.0)


def decode(sweep_dir: Path, epoch: int, avg: int, methods: list[str], *extra: str,
           done: dict | None = None) -> None:
    """decode.py on dev, unless every method has a summary with the settings ``done``."""
    if done is not None and all(_summaries(sweep_dir, m, epoch, avg, done) for m in methods):
        return
    subprocess.run(
        [sys.executable, "zipformer/decode.py", "--exp-dir", str(sweep_dir), "--epoch",
         str(epoch), "--avg", str(avg), "--test-sets", "dev", "--decoding-method",
         ",".join(methods), *extra], check=True)


def dev_wer(sweep_dir: Path, method: str, epoch: int, avg: int, **settings: float) -> float:
    """The dev WER of the one summary of ``method`` decoded with ``epoch``/``avg`` and the
    decoding ``settings`` given (the summary records every decoding setting)."""
    matches = _summaries(sweep_dir, method, epoch, avg, settings)
    if len(matches) != 1:
        raise SystemExit(f"{sweep_dir / method}: {len(matches)} dev summaries match "
                         f"epoch {epoch} avg {avg} {settings}")
    return matches[0]["wer"]


def _summaries(sweep_dir: Path, method: str, epoch: int, avg: int, settings: dict) -> list:
    prefix = f"epoch-{epoch}_avg-{avg}_"
    matches = []
    for path in (sweep_dir / method).glob("summary-dev-*.json"):
        summary = json.loads(path.read_text())
        got = summary["settings"]
        if got["key"].startswith(prefix) and all(got[k] == v for k, v in settings.items()):
            matches.append(summary)
    return matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp-dir", type=Path, required=True)
    parser.add_argument("--epoch", type=int, default=8)
    args = parser.parse_args()
    sweep = args.exp_dir.with_name(args.exp_dir.name + "-dev-sweep")
    sweep.mkdir(exist_ok=True)
    for ckpt in args.exp_dir.glob("epoch-*.pt"):
        link = sweep / ckpt.name
        if not link.exists():
            link.symlink_to(ckpt.resolve())

    first = ["greedy_search", "modified_beam_search"]
    table = {}
    for avg, bp in itertools.product(AVGS, BLANK_PENALTIES):
        if avg > args.epoch:
            continue
        decode(sweep, args.epoch, avg, first, "--blank-penalty", str(bp),
               done={"blank_penalty": bp})
        table[avg, bp] = [dev_wer(sweep, m, args.epoch, avg, blank_penalty=bp) for m in first]
    print("\n| avg | blank penalty | greedy dev WER | modified beam dev WER | mean |")
    print("|---|---|---|---|---|")
    for (avg, bp), wers in table.items():
        print(f"| {avg} | {bp} | {wers[0]:.2f} | {wers[1]:.2f} | {sum(wers) / 2:.2f} |")
    best_avg, best_bp = min(table, key=lambda k: (sum(table[k]), k[0], k[1]))
    print(f"\nchosen: --avg {best_avg} --blank-penalty {best_bp}")

    chosen = {"epoch": args.epoch, "avg": best_avg, "blank_penalty": best_bp}
    second = (("ngram_lm_scale", ["fast_beam_search_LG", "fast_beam_search_nbest_LG"], LM_SCALES),
              ("nbest_scale", ["fast_beam_search_nbest", "fast_beam_search_nbest_oracle"],
               NBEST_SCALES))
    for option, methods, scales in second:
        flag = "--" + option.replace("_", "-")
        print(f"\n| method | {flag[2:]} | dev WER |\n|---|---|---|")
        for scale in scales:
            decode(sweep, args.epoch, best_avg, methods, "--blank-penalty", str(best_bp), flag,
                   str(scale), done={"blank_penalty": best_bp, option: scale})
        for method in methods:
            for scale in scales:
                wer = dev_wer(sweep, method, **chosen, **{option: scale})
                print(f"| {method} | {scale} | {wer:.2f} |")
    print(f"\nsweep results under {sweep}")


if __name__ == "__main__":
    main()
