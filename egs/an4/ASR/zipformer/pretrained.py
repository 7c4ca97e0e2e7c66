#!/usr/bin/env python3
"""Transcribe 16 kHz sound files with an exported AN4 model (run from egs/an4/ASR); other rates
are resampled to 16 kHz. See --help for every option.

    ./zipformer/pretrained.py --checkpoint zipformer/exp/pretrained.pt \\
        --bpe-model data/lang_bpe_101/bpe.model --method modified_beam_search a.wav b.sph
    ./zipformer/pretrained.py --nn-model zipformer/exp/jit_script.pt \\
        --bpe-model data/lang_bpe_101/bpe.model --method fast_beam_search_LG \\
        --lang-dir data/lang_bpe_101 a.wav
"""

from model_defaults import BLANK_PENALTY, FULL_CONTEXT, MODEL

from icefall_lite.recipe.pretrained import main

if __name__ == "__main__":
    main({**MODEL, **FULL_CONTEXT, "sample_rate": 16000, "lang_dir": "data/lang_bpe_101",
          "blank_penalty": BLANK_PENALTY})
