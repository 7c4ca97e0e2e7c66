#!/usr/bin/env python3
"""Decode LibriSpeech test-clean and test-other (run from egs/librispeech/ASR). See --help.

    ./zipformer/decode.py --epoch 30 --avg 9 --decoding-method modified_beam_search
"""

from model_defaults import CORPUS

from icefall_lite.recipe.decode import main

if __name__ == "__main__":
    main({**CORPUS, "exp_dir": "zipformer/exp", "epoch": 30, "avg": 9,
          "max_duration": 600})
