"""lhotse-based data preparation and loading shared by every recipe.

Modules, in the order a recipe uses them:

- :mod:`~icefall_lite.data.download`: fetch a corpus unless the download directory has it (or
  refuse, when no download is asked for); :mod:`~icefall_lite.data.fetch`: downloads that leave
  nothing partial behind.
- :mod:`~icefall_lite.data.corpora`: corpus → recordings/supervisions (yesno, AN4 and
  LibriSpeech by our own readers, every file through the issue collector).
- :mod:`~icefall_lite.data.validation`: bad-input checks (missing, unreadable or truncated
  audio, wrong sample rate, empty transcript), raising or skipping with a count;
  :mod:`~icefall_lite.data.audio_header`: the sample count a header declares;
  :mod:`~icefall_lite.data.text_lines`: transcript lines decoded one by one (``file:line``).
- :mod:`~icefall_lite.data.prepare_manifests`: the two above, writing validated manifests.
- :mod:`~icefall_lite.data.fbank`: 80-bin fbank (kaldifeat) stored with lilcom, speed perturbation.
- :mod:`~icefall_lite.data.transcripts`: training transcripts for BPE, lexicon and LM.
- :mod:`~icefall_lite.data.datamodule`: DataLoaders for training and decoding.
- :mod:`~icefall_lite.data.summary`: the closing summary of ``prepare.sh``.
- :mod:`~icefall_lite.data.audio`, :mod:`~icefall_lite.data.manifests`: SPHERE reading,
  manifest names (dataclass → argparse: :mod:`icefall_lite.utils.config`).

Example::

    >>> from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
    >>> data = AsrDataModule(AsrDataConfig(manifest_dir="data/fbank", max_duration=100))
"""
