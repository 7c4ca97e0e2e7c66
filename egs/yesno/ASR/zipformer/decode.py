#!/usr/bin/env python3
"""Decode the yesno test set (run from egs/yesno/ASR). See --help for every option."""

from model_defaults import CORPUS, DECODE

from icefall_lite.recipe.decode import main

if __name__ == "__main__":
    main({**CORPUS, **DECODE})
