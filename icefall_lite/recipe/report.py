"""Collect the ``summary-*.json`` files that decode.py writes into one WER/RTF table.

Example::

    python -m icefall_lite.recipe.report --exp-dir zipformer/exp [--max-wer 1.0]

``--max-wer`` makes the command fail when any method's WER is above it (CI uses this).

Several runs of one recipe (e.g. training seeds, each in its own exp dir)::

    python -m icefall_lite.recipe.report --exp-dir zipformer/exp-seed42 zipformer/exp-seed52 ...

print each run's table, then one row per test set, method and decoding with every run's WER,
their mean, the range (max - min) and the sample standard deviation. A row that some run lacks
is named and left out of the summary (its mean would be of other runs).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from icefall_lite.decoding.registry import DECODING_METHODS

_CHUNK = re.compile(r"_chunk-(\d+)_left-(-?\d+)")
_STREAMING = "streaming "


def decoding_mode(row: dict) -> tuple[str, int]:
    """How the encoder saw the audio, read off a summary: ``("full context", 0)``, or for a
    causal model decoded in chunks ``("simulated, chunk 16, left 128", 16)`` (decode.py with a
    positive ``--chunk-size``) or ``("chunk-wise, chunk 16, left 128", 16)``
    (streaming_decode.py, whose method names start with "streaming ")."""
    match = _CHUNK.search(row["settings"].get("key", ""))
    if row["method"].startswith(_STREAMING):
        kind = "chunk-wise"
    elif match:
        kind = "simulated"
    else:
        return "full context", 0
    if match is None:
        return kind, 0
    return f"{kind}, chunk {match[1]}, left {match[2]}", int(match[1])


def collect(exp_dir: Path) -> list[dict]:
    """Every decode summary under ``exp_dir/<method>/`` and ``exp_dir/streaming/<method>/``:
    full-context rows first in the registry's method order, then per chunk size and method the
    simulated row beside the chunk-wise one."""
    paths = sorted(exp_dir.glob("*/summary-*.json")) + sorted(
        exp_dir.glob("streaming/*/summary-*.json"))
    rows = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    order = {name: i for i, name in enumerate(DECODING_METHODS)}

    def key(row: dict) -> tuple:
        mode, chunk = decoding_mode(row)
        method = row["method"].removeprefix(_STREAMING)
        return (row["test_set"], mode != "full context", chunk, order.get(method, 99), method,
                row["method"].startswith(_STREAMING))

    return sorted(rows, key=key)


def format_table(rows: list[dict]) -> str:
    """A Markdown table: test set, method, decoding mode, WER, errors/words, RTF, result key."""
    lines = ["| test set | method | decoding | WER (%) | errors / words | RTF | settings |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['test_set']} | {r['method']} | {decoding_mode(r)[0]} | "
                     f"{r['wer']:.2f} | {r['errors']} / {r['words']} | {r['rtf']:.4f} | "
                     f"{r['settings']['key']} |")
    return "\n".join(lines)


def _row_key(row: dict) -> tuple[str, str, str, str]:
    return row["test_set"], row["method"], decoding_mode(row)[0], row["settings"]["key"]


def summarize_runs(runs: list[list[dict]]) -> tuple[list[dict], list[tuple]]:
    """Rows of several runs (each :func:`collect` of one exp dir) → one entry per (test set,
    method, decoding, settings key) that every run has: ``{"test_set", "method", "decoding",
    "settings", "wers", "mean", "range", "std"}`` (``std``: sample standard deviation, 0 for one
    run), in the first run's order; and the keys some run lacks."""
    by_run = [{_row_key(r): r for r in rows} for rows in runs]
    keys = list(dict.fromkeys(k for table in by_run for k in table))
    missing = [k for k in keys if any(k not in table for table in by_run)]
    out = []
    for key in keys:
        if key in missing:
            continue
        wers = [table[key]["wer"] for table in by_run]
        out.append({"test_set": key[0], "method": key[1], "decoding": key[2],
                    "settings": key[3], "wers": wers,
                    "mean": statistics.fmean(wers), "range": max(wers) - min(wers),
                    "std": statistics.stdev(wers) if len(wers) > 1 else 0.0})
    return out, missing


def format_runs_table(summary: list[dict]) -> str:
    """A Markdown table of :func:`summarize_runs`: every run's WER, mean, range, std."""
    lines = ["| test set | method | decoding | WER per run (%) | mean | range | std | settings |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary:
        per_run = ", ".join(f"{w:.2f}" for w in r["wers"])
        lines.append(f"| {r['test_set']} | {r['method']} | {r['decoding']} | {per_run} | "
                     f"{r['mean']:.2f} | {r['range']:.2f} | {r['std']:.2f} | {r['settings']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exp-dir", type=Path, nargs="+", default=[Path("zipformer/exp")],
                        help="one run's exp dir, or several (their mean and spread follow)")
    parser.add_argument("--max-wer", type=float, default=None,
                        help="exit with status 1 when a WER is above this (percent)")
    args = parser.parse_args(argv)
    runs = []
    for exp_dir in args.exp_dir:
        rows = collect(exp_dir)
        if not rows:
            print(f"no decoding summaries under {exp_dir}/*/summary-*.json", file=sys.stderr)
            return 1
        if len(args.exp_dir) > 1:
            print(f"\n{exp_dir}:\n")
        print(format_table(rows))
        runs.append(rows)
    rows = [r for run in runs for r in run]
    if len(runs) > 1:
        summary, missing = summarize_runs(runs)
        print(f"\n{len(runs)} runs:\n")
        print(format_runs_table(summary))
        for key in missing:
            print(f"not in every run (left out of the summary): {' / '.join(key[:2])} "
                  f"({key[3]})",
                  file=sys.stderr)
    if args.max_wer is not None:
        bad = [r for r in rows if r["wer"] > args.max_wer]
        for r in bad:
            print(f"WER {r['wer']:.2f}% of {r['method']} on {r['test_set']} is above "
                  f"--max-wer {args.max_wer}", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
