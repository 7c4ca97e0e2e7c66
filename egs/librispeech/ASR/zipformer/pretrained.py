#!/usr/bin/env python3
"""Transcribe 16 kHz sound files with an exported LibriSpeech model (run from
egs/librispeech/ASR); other rates are resampled to 16 kHz. See --help for every option.

    ./zipformer/pretrained.py --checkpoint zipformer/exp/pretrained.pt \\
        --bpe-model data/lang_bpe_500/bpe.model --method greedy_search 1089-134686-0000.flac
"""

from model_defaults import MODEL

from icefall_lite.recipe.pretrained import main

if __name__ == "__main__":
    main({**MODEL, "sample_rate": 16000, "lang_dir": "data/lang_bpe_500"})
