"""Collect the ``summary-*.json`` files that decode.py writes into one WER/RTF table.

Example::

    python -m icefall_lite.recipe.report --exp-dir zipformer/exp [--max-wer 1.0]

``--max-wer`` makes the command fail when any method's WER is above it (CI uses this).
"""

from __future__ import annotations

import argparse
import json
import re
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
