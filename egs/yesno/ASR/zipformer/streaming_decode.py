#!/usr/bin/env python3
"""Chunk-wise streaming decoding of a causal yesno model (trained with --causal 1; run from
egs/yesno/ASR). See --help for every option.

    ./zipformer/streaming_decode.py --causal 1 --epoch 14 --avg 1 --decode-chunk-len 32
"""

from model_defaults import AVG, CORPUS, MODEL, NUM_EPOCHS

from icefall_lite.recipe.streaming_decode import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": NUM_EPOCHS, "avg": AVG,
          "num_decode_streams": 30, "num_workers": 0})
