#!/usr/bin/env python3
"""Chunk-wise streaming decoding of a causal LibriSpeech model (trained with --causal 1; run
from egs/librispeech/ASR). See --help for every option.

    ./zipformer/streaming_decode.py --causal 1 --epoch 30 --avg 8 --chunk-size 16 \\
        --left-context-frames 128 --num-decode-streams 2000 --decoding-method greedy_search
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.streaming_decode import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": 30, "avg": 8,
          "num_decode_streams": 2000})
