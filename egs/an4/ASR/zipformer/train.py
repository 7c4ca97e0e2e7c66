#!/usr/bin/env python3
"""Train the Tiny-AN4 zipformer transducer (run from egs/an4/ASR). See --help for every option.

The defaults (model_defaults.py) are the run of RESULTS.md: a causal model, 7 epochs of the
speed-perturbed training set in batches of at most 100 s (630 steps, about 60 minutes with one
thread). The model has no batch-count schedules, so ref_duration only scales the logged counts.
"""

from model_defaults import CORPUS, MODEL, TRAIN

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, **TRAIN})
