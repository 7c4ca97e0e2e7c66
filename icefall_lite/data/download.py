"""Fetch a corpus into the download directory unless it is already there.

Command line (stage 0 of every ``prepare.sh``)::

    python -m icefall_lite.data.download --corpus an4 --dl-dir download

When the corpus is present (e.g. lhotse's ``.completed`` marker for yesno), nothing is
downloaded and nothing under ``--dl-dir`` is written.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.data.corpora import CORPORA
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def download(corpus: str, dl_dir: Path) -> Path:
    """Return the corpus directory inside ``dl_dir``, downloading it first if missing."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; known: {sorted(CORPORA)}")
    return CORPORA[corpus].download(Path(dl_dir))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, choices=sorted(CORPORA))
    parser.add_argument("--dl-dir", type=Path, required=True, help="download directory")
    args = parser.parse_args(argv)
    setup_logging()
    corpus_dir = download(args.corpus, args.dl_dir)
    logger.info("%s is in %s", args.corpus, corpus_dir)


if __name__ == "__main__":
    main()
