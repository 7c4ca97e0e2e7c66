#!/usr/bin/env python3
"""Train the yesno zipformer transducer (run from egs/yesno/ASR). See --help for every option."""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({
        **CORPUS, **MODEL,
        "exp_dir": "zipformer/exp",
        "num_epochs": 15,
        "max_duration": 60,
        "num_buckets": 2,
        "base_lr": 0.045,
        "lr_batches": 100,
        "lr_epochs": 10,
        "lr_warmup_batches": 20,
        "warm_step": 40,
        "average_period": 5,
        "save_every_n": 20,
        "keep_last_k": 3,
        "ref_duration": 60,
        "num_workers": 0,
        "log_interval": 10,
        "valid_interval": 50,
    })
