#!/usr/bin/env python3
"""Train the Tiny-AN4 zipformer transducer (run from egs/an4/ASR). See --help for every option.

Schedules follow ZIPFORMER.md section 14 for about 30-40 batches per epoch: the speed-perturbed
training set (948 x 3 utterances, about 2.1 h) in batches of up to 200 s; Eden knees at 300
batches / 7 epochs, 150 warm-up batches, loss-scale ramp over 300 batches, model average
updated every 10 batches. The model has no batch-count schedules, so ref_duration =
max_duration (the adjusted batch count is the batch count).
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({
        **CORPUS, **MODEL,
        "exp_dir": "zipformer/exp",
        "num_epochs": 30,
        "max_duration": 200,
        "num_buckets": 10,
        "base_lr": 0.045,
        "clipping_scale": 2.0,
        "lr_batches": 300,
        "lr_epochs": 7,
        "lr_warmup_batches": 150,
        "warm_step": 300,
        "average_period": 10,
        "ref_duration": 200,
        "save_every_n": 200,
        "keep_last_k": 5,
        "valid_interval": 200,
        "log_interval": 10,
        "num_workers": 0,
    })
