"""Corpus preparation: audio + transcripts in a download directory → lhotse manifests.

Each corpus module defines a :class:`~icefall_lite.data.corpora.base.Corpus`; :data:`CORPORA` maps
its name (also the manifest prefix) to it. lhotse prepares the corpora it knows (yesno,
LibriSpeech); AN4 is prepared by :mod:`icefall_lite.data.corpora.an4`.

Example::

    >>> from icefall_lite.data.corpora import CORPORA
    >>> sorted(CORPORA)
    ['an4', 'librispeech', 'yesno']
"""

from icefall_lite.data.corpora.an4 import AN4
from icefall_lite.data.corpora.base import Corpus
from icefall_lite.data.corpora.librispeech import LIBRISPEECH
from icefall_lite.data.corpora.yesno import YESNO

CORPORA: dict[str, Corpus] = {c.name: c for c in (AN4, LIBRISPEECH, YESNO)}

__all__ = ["CORPORA", "Corpus"]
