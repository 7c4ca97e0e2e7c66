"""LibriSpeech's defaults shared by its zipformer scripts: corpus, lang dir and icefall's
"normal" zipformer (65.5 M parameters with the 500-piece BPE vocabulary; the model options'
own defaults, see icefall_lite.models.config.ZipformerConfig).

prepare.sh writes ``data/fbank/librispeech_cuts_<part>.jsonl.gz`` for every part present
(``train-clean-100``, ``dev-clean``, ``test-clean``, ...) and ``data/lang_bpe_<N>`` (500; on the
four-utterance smoke set sentencepiece allows only 60, so the smoke run passes
``--lang-dir data/lang_bpe_60`` and ``test-clean`` for every split).
"""

CORPUS = {
    "corpus": "librispeech",
    "lang_dir": "data/lang_bpe_500",
    "train_split": "train-clean-100",
    "valid_split": "dev-clean",
    "test_sets": "test-clean,test-other",
    "manifest_dir": "data/fbank",
}

MODEL: dict = {}
