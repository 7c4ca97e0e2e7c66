#!/usr/bin/env python3
"""Train the Tiny-AN4 zipformer transducer (run from egs/an4/ASR). See --help for every option.

The defaults (model_defaults.py) are those of RESULTS.md (Run 7 at 8 epochs): a causal model
with a CTC head, 8 epochs of the speed-perturbed training set in batches of at most 60 s (about
1,200 steps, within 60 CPU minutes on 2 threads), the CTC loss alone for the first 300 batches.
"""

from model_defaults import CORPUS, MODEL, TRAIN

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, **TRAIN})
