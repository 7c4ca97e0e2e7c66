#!/usr/bin/env python3
"""Chunk-wise streaming decoding of a causal AN4 model (trained with --causal 1; run from
egs/an4/ASR). See --help for every option.

    ./zipformer/streaming_decode.py --causal 1 --epoch 30 --avg 10 --decode-chunk-len 32 \\
        --left-context-frames 128 --decoding-method modified_beam_search
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.streaming_decode import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": 30, "avg": 10,
          "num_decode_streams": 130, "num_workers": 0})
