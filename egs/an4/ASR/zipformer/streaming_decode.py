#!/usr/bin/env python3
"""Chunk-wise streaming decoding of the causal AN4 model (run from egs/an4/ASR). See --help for
every option.

    ./zipformer/streaming_decode.py --epoch 7 --avg 3 --chunk-size 16 \\
        --left-context-frames 128 --decoding-method modified_beam_search
"""

from model_defaults import CORPUS, DECODE, MODEL

from icefall_lite.recipe.streaming_decode import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, **DECODE, "chunk_size": "16", "left_context_frames": "128",
          "num_decode_streams": 130})
