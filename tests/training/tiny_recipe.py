"""A recipe ``train.py`` for the stand-in model (run as a subprocess by the kill/restart test)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_helpers import RECIPE_KWARGS, TINY_DEFAULTS  # noqa: E402

from icefall_lite.training.train import main  # noqa: E402

if __name__ == "__main__":
    main(TINY_DEFAULTS, **RECIPE_KWARGS)
