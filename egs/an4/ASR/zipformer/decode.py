#!/usr/bin/env python3
"""Decode the AN4 test set (run from egs/an4/ASR) with the full-context causal model. See --help
for every option; --chunk-size 16 --left-context-frames 128 gives simulated streaming.

    ./zipformer/decode.py --epoch 7 --avg 3 --decoding-method fast_beam_search_nbest_LG
"""

from model_defaults import CORPUS, DECODE, FULL_CONTEXT

from icefall_lite.recipe.decode import main

if __name__ == "__main__":
    main({**CORPUS, **FULL_CONTEXT, **DECODE})
