#!/usr/bin/env python3
"""Decode the AN4 test set (run from egs/an4/ASR). See --help for every option.

    ./zipformer/decode.py --epoch 30 --avg 10 --decoding-method fast_beam_search_nbest_LG
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.decode import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": 30, "avg": 10,
          "max_duration": 200, "num_workers": 0})
