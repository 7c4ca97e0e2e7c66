#!/usr/bin/env python3
"""Transcribe yesno wav files with an exported model (run from egs/yesno/ASR). The features
are 8 kHz fbank, as yesno's own audio; wavs at other rates are resampled to 8 kHz.

    ./zipformer/pretrained.py --checkpoint zipformer/exp/pretrained.pt \\
        --bpe-model data/lang_bpe_15/bpe.model download/waves_yesno/0_0_0_1_0_0_0_1.wav
"""

from model_defaults import MODEL

from icefall_lite.recipe.pretrained import main

if __name__ == "__main__":
    main({**MODEL, "sample_rate": 8000, "lang_dir": "data/lang_bpe_15"})
