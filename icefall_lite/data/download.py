"""Fetch a corpus into the download directory unless it is already there.

Command line (stage 0 of every ``prepare.sh``)::

    python -m icefall_lite.data.download --corpus an4 --dl-dir download [--allow-download 0]

When the corpus is present (e.g. lhotse's ``.completed`` marker for yesno), nothing is
downloaded and nothing under ``--dl-dir`` is written. With ``--allow-download 0`` a missing
corpus is an error instead of a download (``prepare.sh`` downloads only with ``--download 1``).
A failed download leaves nothing behind (:mod:`icefall_lite.data.fetch`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from icefall_lite.data.corpora import CORPORA
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def download(corpus: str, dl_dir: Path, allow_download: bool = True) -> Path:
    """Return the corpus directory inside ``dl_dir``, downloading it first if missing.

    Raises:
        FileNotFoundError: the corpus is missing and ``allow_download`` is False.
        icefall_lite.data.fetch.DownloadError: the download failed (nothing was left behind).
    """
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; known: {sorted(CORPORA)}")
    spec, dl_dir = CORPORA[corpus], Path(dl_dir)
    if not allow_download and not spec.is_present(dl_dir):
        where = "does not exist" if not dl_dir.is_dir() else f"holds no {corpus} corpus"
        raise FileNotFoundError(
            f"--dl-dir {dl_dir} {where}: point --dl-dir at the directory holding the corpus, "
            "or ask for the download (prepare.sh --download 1)"
        )
    return spec.download(dl_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, choices=sorted(CORPORA))
    parser.add_argument("--dl-dir", type=Path, required=True, help="download directory")
    parser.add_argument("--allow-download", type=int, choices=[0, 1], default=1,
                        help="0: a missing corpus is an error instead of a download")
    args = parser.parse_args(argv)
    setup_logging()
    corpus_dir = download(args.corpus, args.dl_dir, bool(args.allow_download))
    logger.info("%s is in %s", args.corpus, corpus_dir)


if __name__ == "__main__":
    run_tool(main)
