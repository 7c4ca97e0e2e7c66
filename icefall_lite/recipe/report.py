"""Collect the ``summary-*.json`` files that decode.py writes into one WER/RTF table.

Example::

    python -m icefall_lite.recipe.report --exp-dir zipformer/exp [--max-wer 1.0]

``--max-wer`` makes the command fail when any method's WER is above it (CI uses this).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from icefall_lite.decoding.registry import DECODING_METHODS


def collect(exp_dir: Path) -> list[dict]:
    """Every decode summary under ``exp_dir/<method>/`` and ``exp_dir/streaming/<method>/``
    (streaming rows come after the full-context ones)."""
    paths = sorted(exp_dir.glob("*/summary-*.json")) + sorted(
        exp_dir.glob("streaming/*/summary-*.json"))
    rows = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    order = {name: i for i, name in enumerate(DECODING_METHODS)}
    return sorted(rows, key=lambda r: (r["test_set"], order.get(r["method"], 99), r["method"]))


def format_table(rows: list[dict]) -> str:
    """A Markdown table: test set, method, WER, errors/words, RTF, result key."""
    lines = ["| test set | method | WER (%) | errors / words | RTF | settings |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['test_set']} | {r['method']} | {r['wer']:.2f} | "
                     f"{r['errors']} / {r['words']} | {r['rtf']:.4f} | {r['settings']['key']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exp-dir", type=Path, default=Path("zipformer/exp"))
    parser.add_argument("--max-wer", type=float, default=None,
                        help="exit with status 1 when a WER is above this (percent)")
    args = parser.parse_args(argv)
    rows = collect(args.exp_dir)
    if not rows:
        print(f"no decoding summaries under {args.exp_dir}/*/summary-*.json", file=sys.stderr)
        return 1
    print(format_table(rows))
    if args.max_wer is not None:
        bad = [r for r in rows if r["wer"] > args.max_wer]
        for r in bad:
            print(f"WER {r['wer']:.2f}% of {r['method']} on {r['test_set']} is above "
                  f"--max-wer {args.max_wer}", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
