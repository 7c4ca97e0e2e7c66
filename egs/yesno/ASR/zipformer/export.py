#!/usr/bin/env python3
"""Export the yesno model (run from egs/yesno/ASR): EXP_DIR/pretrained.pt, and with --jit 1 /
--onnx 1 the TorchScript / ONNX models. See --help for every option.

    ./zipformer/export.py --epoch 14 --avg 1 --jit 1 --onnx 1
"""

from model_defaults import AVG, CORPUS, MODEL, NUM_EPOCHS

from icefall_lite.recipe.export import main

if __name__ == "__main__":
    main({**CORPUS, **MODEL, "exp_dir": "zipformer/exp", "epoch": NUM_EPOCHS, "avg": AVG})
