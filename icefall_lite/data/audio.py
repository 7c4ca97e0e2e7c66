"""Audio reading that works without external binaries.

lhotse sends every ``.sph`` file to the ``sph2pipe`` program, which is not installed by pip.
AN4 ships uncompressed NIST SPHERE, which libsndfile (``soundfile``) reads natively, so when
``sph2pipe`` is missing we install a lhotse audio backend without the sph2pipe special case:
SPHERE files then fall through to libsndfile like any WAV file.

Example::

    >>> from icefall_lite.data.audio import use_libsndfile_for_sphere
    >>> use_libsndfile_for_sphere()  # idempotent; call before lhotse reads .sph audio
"""

from __future__ import annotations

import logging
import shutil

from lhotse.audio.backend import (
    CompositeAudioBackend,
    Sph2pipeSubprocessBackend,
    get_current_audio_backend,
    get_default_audio_backend,
    set_current_audio_backend,
)

logger = logging.getLogger(__name__)


class SphereViaLibsndfileBackend(CompositeAudioBackend):
    """lhotse's default backend chain minus the ``sph2pipe`` subprocess backend."""

    def __init__(self) -> None:
        super().__init__(
            [
                b
                for b in get_default_audio_backend().backends
                if not isinstance(b, Sph2pipeSubprocessBackend)
            ]
        )


def use_libsndfile_for_sphere(_worker_id: int | None = None) -> None:
    """Read ``.sph`` audio with libsndfile when ``sph2pipe`` is not on ``PATH``.

    Usable as a DataLoader ``worker_init_fn`` (hence the ignored worker id): workers started
    with ``spawn`` do not inherit lhotse's process-global backend choice.
    """
    if shutil.which("sph2pipe") is not None:
        return
    if isinstance(get_current_audio_backend(), SphereViaLibsndfileBackend):
        return
    logger.debug("sph2pipe not found: reading SPHERE audio through libsndfile")
    set_current_audio_backend(SphereViaLibsndfileBackend())
