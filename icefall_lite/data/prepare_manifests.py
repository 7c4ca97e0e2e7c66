"""Corpus in a download directory → validated lhotse manifests.

Command line (the manifest stage of every ``prepare.sh``)::

    python -m icefall_lite.data.prepare_manifests --corpus an4 \\
        --dl-dir /data/download --output-dir data/manifests [--on-error skip]

writes ``<prefix>_recordings_<split>.jsonl.gz`` and ``<prefix>_supervisions_<split>.jsonl.gz``
for every split. Nothing is written under ``--dl-dir``. With ``--on-error raise`` (default) the
first bad input (missing/unreadable audio, wrong sample rate, empty transcript) stops the run
with a message naming the file; with ``skip`` it is logged, dropped and counted.

From Python (with a corpus under ``download/``)::

    from icefall_lite.data.prepare_manifests import prepare_manifests
    paths = prepare_manifests("yesno", "download", "data/manifests")
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.data.corpora import CORPORA
from icefall_lite.data.manifests import ensure_outside, manifest_path
from icefall_lite.data.validation import DataIssues, OnError, validate_manifests
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def prepare_manifests(
    corpus: str,
    dl_dir: str | Path,
    output_dir: str | Path,
    on_error: OnError = "raise",
    decode_audio: bool = True,
) -> dict[str, tuple[Path, Path]]:
    """Prepare, validate and write the manifests of every split of ``corpus``.

    Returns:
        split → (recordings path, supervisions path).
    """
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; known: {sorted(CORPORA)}")
    spec = CORPORA[corpus]
    dl_dir, output_dir = Path(dl_dir), Path(output_dir)
    ensure_outside(output_dir, dl_dir)
    issues = DataIssues(on_error)
    raw = spec.prepare(dl_dir, issues)
    total = issues.num_skipped + sum(len(sups) for _, sups in raw.values())
    validated = {
        split: validate_manifests(
            recordings, supervisions,
            sampling_rate=spec.sampling_rate, issues=issues, decode_audio=decode_audio,
        )
        for split, (recordings, supervisions) in raw.items()
    }
    issues.log_summary(total=total)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, (recordings, supervisions) in validated.items():
        rec_path = manifest_path(output_dir, spec.name, "recordings", split)
        sup_path = manifest_path(output_dir, spec.name, "supervisions", split)
        recordings.to_file(rec_path)
        supervisions.to_file(sup_path)
        hours = sum(s.duration for s in supervisions) / 3600
        logger.info("%s %s: %d utterances, %.3f h -> %s", spec.name, split, len(supervisions),
                    hours, sup_path)
        paths[split] = (rec_path, sup_path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, choices=sorted(CORPORA))
    parser.add_argument("--dl-dir", type=Path, required=True,
                        help="download directory holding the corpus (read only)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where manifests go")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="bad input: stop with an error, or log, skip and count it")
    parser.add_argument("--decode-audio", type=int, choices=[0, 1], default=1,
                        help="1: decode every file to check it is readable and complete")
    args = parser.parse_args(argv)
    setup_logging()
    prepare_manifests(args.corpus, args.dl_dir, args.output_dir, args.on_error,
                      bool(args.decode_audio))


if __name__ == "__main__":
    run_tool(main)
