#!/usr/bin/env python3
"""Train the yesno zipformer transducer (run from egs/yesno/ASR). See --help for every option.

yesno's training set is 30 utterances (3 minutes), so one pass is only ~8 batches; with
``--repeat-train N`` (default here 10) an "epoch" is N passes, differently shuffled, which keeps
the number of epoch checkpoints small while the model sees hundreds of batches.
"""

from model_defaults import CORPUS, MODEL, TRAIN

from icefall_lite.recipe.train import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, **TRAIN})
