"""Training transcripts as plain text, one utterance per line: the input of BPE, lexicon and LM.

Command line (the transcript stage of every ``prepare.sh``)::

    python -m icefall_lite.data.transcripts --manifest-dir data/manifests --prefix an4 \\
        --splits train --output data/local/transcript_words.txt

From Python (after AN4's manifest stage; returns the number of lines written, 948 for AN4)::

    from icefall_lite.data.transcripts import write_transcripts
    write_transcripts("data/manifests", "an4", ["train"], "transcript.txt")
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from lhotse import load_manifest_lazy

from icefall_lite.data.manifests import list_splits, manifest_path
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def write_transcripts(
    manifest_dir: str | Path,
    prefix: str,
    splits: Sequence[str],
    output: str | Path,
    fallback_to_all: bool = False,
) -> int:
    """Write the transcripts of ``splits`` to ``output``; return the number of lines.

    Splits without a supervision manifest are left out. When none of them exists,
    ``fallback_to_all`` uses every split found instead (e.g. a smoke test on test data only);
    otherwise that is an error.
    """
    manifest_dir, output = Path(manifest_dir), Path(output)
    found = [s for s in splits if manifest_path(manifest_dir, prefix, "supervisions", s).is_file()]
    if not found:
        available = list_splits(manifest_dir, prefix, "supervisions")
        if not (fallback_to_all and available):
            raise FileNotFoundError(
                f"none of the splits {list(splits)} has a {prefix} supervision manifest in "
                f"{manifest_dir} (found: {available})"
            )
        logger.warning("no training split of %s in %s: using the transcripts of %s instead",
                       prefix, manifest_dir, available)
        found = available
    output.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with output.open("w") as out:
        for split in found:
            path = manifest_path(manifest_dir, prefix, "supervisions", split)
            for sup in load_manifest_lazy(path):
                out.write(" ".join(sup.text.split()) + "\n")
                count += 1
    logger.info("wrote %d transcripts of %s %s to %s", count, prefix, found, output)
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="corpus name, e.g. an4")
    parser.add_argument("--splits", nargs="+", required=True, help="training splits")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--fallback-to-all", type=int, choices=[0, 1], default=0,
                        help="1: when no training split exists, use every split (smoke tests)")
    args = parser.parse_args(argv)
    setup_logging()
    write_transcripts(args.manifest_dir, args.prefix, args.splits, args.output,
                      bool(args.fallback_to_all))


if __name__ == "__main__":
    run_tool(main)
