"""yesno's TDNN-CTC recipe end to end: ``prepare.sh``, ``tdnn/train.py`` (50 epochs, about a
CPU minute; ~2 CPU minutes for the whole test), ``tdnn/decode.py`` (HLG 1-best) in a temporary
copy of the recipe.

Oracle: the recognised words of ``recogs-*.txt`` are scored against the labels in the wav names
(0 = NO, 1 = YES), independently of the toolkit's WER code, and must agree with the WER that
decode.py prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.recipe.test_recipe_yesno_run import _independent_errors, _recipe_copy

pytestmark = pytest.mark.slow

#: At most 10 errors in 240 words: the defaults (seed 42, one thread) measured 7 / 240 twice
#: (egs/yesno/ASR/RESULTS.md; icefall's: 1 deletion). The bound holds for that seed only: seeds
#: 1 and 2 of the same recipe gave 125 and 165 errors (the recipe is a seed lottery).
MAX_ERRORS = 10


def test_tdnn_ctc_recipe_decodes_the_test_set_with_hlg_within_the_bound(tmp_path, corpus_dir):
    yesno = corpus_dir("waves_yesno")
    recipe = _recipe_copy(tmp_path)
    env = dict(os.environ, PYTHON=sys.executable)
    prep = subprocess.run(["bash", str(recipe / "prepare.sh"), "--dl-dir", str(yesno.parent)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert prep.returncode == 0, prep.stdout + prep.stderr[-3000:]
    for script in ("tdnn/train.py", "tdnn/decode.py"):
        run = subprocess.run([sys.executable, script], cwd=recipe, capture_output=True,
                             text=True, env=env, timeout=900)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    wer_line = re.search(r"^WER ([\d.]+)% \((\d+) / (\d+)\)$", run.stdout, re.M)
    assert wer_line, run.stdout
    (recogs,) = (recipe / "tdnn" / "exp" / "1best").glob("recogs-test-*.txt")
    errors, words = _independent_errors(recogs)
    assert (errors, words) == (int(wer_line[2]), int(wer_line[3])) == (errors, 240)
    assert errors <= MAX_ERRORS, wer_line[0]
