#!/usr/bin/env python3
"""Export the AN4 model (run from egs/an4/ASR): EXP_DIR/pretrained.pt, and with --jit 1 /
--onnx 1 the TorchScript / ONNX models. See --help for every option.

    ./zipformer/export.py --epoch 7 --avg 3 --jit 1 --onnx 1          # full context
    ./zipformer/export.py --epoch 7 --avg 3 --jit 1 --onnx 1 \\
        --chunk-size 16 --left-context-frames 128                    # + streaming models
"""

from model_defaults import CORPUS, DECODE, FULL_CONTEXT, MODEL

from icefall_lite.recipe.export import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, **FULL_CONTEXT, "exp_dir": DECODE["exp_dir"],
          "epoch": DECODE["epoch"], "avg": DECODE["avg"]})
