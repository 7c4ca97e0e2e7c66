"""Downloads that leave nothing partial behind: fetched into a temporary directory inside the
download directory, renamed into place only once complete, removed on any failure.

Example::

    >>> import pathlib, tempfile
    >>> def produce(tmp):  # stands in for a download: makes the corpus inside ``tmp``
    ...     (tmp / "waves_yesno").mkdir()
    ...     _ = (tmp / "waves_yesno" / "0_0_1.wav").write_bytes(b"")
    ...     return tmp / "waves_yesno"
    >>> dl_dir = pathlib.Path(tempfile.mkdtemp())
    >>> download_into_place(dl_dir, "waves_yesno", produce).relative_to(dl_dir)
    PosixPath('waves_yesno')
    >>> sorted(p.name for p in dl_dir.iterdir())  # nothing partial left beside it
    ['waves_yesno']
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from lhotse.utils import resumable_download, safe_extract

logger = logging.getLogger(__name__)


class DownloadError(OSError):
    """A corpus could not be fetched (no network, a broken or truncated archive)."""


def download_into_place(dl_dir: Path, name: str, produce: Callable[[Path], Path]) -> Path:
    """Make ``dl_dir/name`` with ``produce(tmp)``, which downloads and extracts into the empty
    directory ``tmp`` and returns the corpus directory it made there.

    On success that directory is renamed to ``dl_dir/name`` (replacing an incomplete one) and
    ``tmp`` (archives included) is removed. On failure ``tmp`` is removed, and so is ``dl_dir``
    when this call created it and it is empty; the error is a :class:`DownloadError`.
    """
    created = not dl_dir.exists()
    dl_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=dl_dir))
    final = dl_dir / name
    try:
        produced = Path(produce(tmp))
        if not produced.is_dir():
            raise DownloadError(f"the download produced no directory {produced}")
        if final.exists():
            logger.warning("replacing the incomplete %s", final)
            shutil.rmtree(final)
        os.replace(produced, final)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not any(dl_dir.iterdir()):
            dl_dir.rmdir()
        if isinstance(error, Exception) and not isinstance(error, DownloadError):
            raise DownloadError(
                f"could not download {name} into {dl_dir}: {type(error).__name__}: {error} "
                "(nothing was left behind)"
            ) from error
        raise
    shutil.rmtree(tmp)
    logger.info("downloaded %s", final)
    return final


def fetch_and_extract(url: str, archive_name: str, target_dir: Path) -> None:
    """Download ``url`` to ``target_dir/archive_name`` and extract it there (path-safe)."""
    archive = target_dir / archive_name
    resumable_download(url, filename=archive)
    with tarfile.open(archive) as tar:
        safe_extract(tar, path=target_dir)
