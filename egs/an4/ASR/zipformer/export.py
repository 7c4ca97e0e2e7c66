#!/usr/bin/env python3
"""Export the AN4 model (run from egs/an4/ASR): EXP_DIR/pretrained.pt, and with --jit 1 /
--onnx 1 the TorchScript / ONNX models. See --help for every option.

    ./zipformer/export.py --epoch 30 --avg 10 --jit 1 --onnx 1
"""

from model_defaults import CORPUS, MODEL

from icefall_lite.recipe.export import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": 30, "avg": 10})
