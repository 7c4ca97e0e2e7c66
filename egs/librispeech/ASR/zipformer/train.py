#!/usr/bin/env python3
"""Train the LibriSpeech zipformer transducer (run from egs/librispeech/ASR) with icefall's
defaults for the normal model. See --help for every option.

Full recipe (icefall's: 4 GPUs, fp16)::

    ./zipformer/train.py --world-size 4 --num-epochs 30 --use-fp16 1 --max-duration 1000
    # or: torchrun --nproc-per-node 4 ./zipformer/train.py --num-epochs 30 --use-fp16 1
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({
        **CORPUS, **MODEL,
        "exp_dir": "zipformer/exp",
        "num_epochs": 30,
        "max_duration": 1000,
        "base_lr": 0.045,
        "lr_batches": 7500,
        "lr_epochs": 3.5,
        "ref_duration": 600,
    })
