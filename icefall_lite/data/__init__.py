"""lhotse-based data preparation and loading shared by every recipe.

Modules, in the order a recipe uses them:

- :mod:`~icefall_lite.data.download`: fetch a corpus unless the download directory has it.
- :mod:`~icefall_lite.data.corpora`: corpus → recordings/supervisions (yesno and LibriSpeech via
  lhotse, AN4 by our own reader).
- :mod:`~icefall_lite.data.validation`: bad-input checks (missing or unreadable audio, wrong
  sample rate, empty transcript), raising or skipping with a count.
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
