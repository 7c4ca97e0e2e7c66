"""tiny_recipe.py whose file writes can be slowed down so that a test's SIGKILL lands inside one.

``KILL_TARGET=<file name>`` makes the writes of that file (``torch.save`` of a checkpoint, or the
copy to a ``best-*.pt``) stop twice for ``KILL_SLEEP`` seconds: after half of the bytes
(event ``half <name>``) and after all of them, before the file is synced and renamed (event
``full <name>``). Events are appended to ``KILL_EVENTS``; every write also logs ``start``.
"""

import io
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from training_helpers import RECIPE_KWARGS, TINY_DEFAULTS  # noqa: E402

from icefall_lite.training.train import main  # noqa: E402

_save, _copyfileobj = torch.save, shutil.copyfileobj


def _final_name(f) -> str:
    """``.epoch-1.pt.abc123.tmp`` (the atomic writer's temporary file) -> ``epoch-1.pt``."""
    name = Path(getattr(f, "name", "?")).name
    return name[1:].rsplit(".", 2)[0] if name.startswith(".") else name


def _event(what: str, name: str) -> None:
    with open(os.environ["KILL_EVENTS"], "a") as log:
        log.write(f"{what} {name}\n")


def _slow_write(data: bytes, f) -> None:
    name = _final_name(f)
    _event("start", name)
    slow = name == os.environ.get("KILL_TARGET")
    f.write(data[: len(data) // 2])
    f.flush()
    if slow:
        _event("half", name)
        time.sleep(float(os.environ["KILL_SLEEP"]))
    f.write(data[len(data) // 2:])
    f.flush()
    if slow:
        _event("full", name)
        time.sleep(float(os.environ["KILL_SLEEP"]))


def slow_save(obj, f, *args, **kwargs):
    if isinstance(f, (str, os.PathLike)):
        return _save(obj, f, *args, **kwargs)
    buffer = io.BytesIO()
    _save(obj, buffer, *args, **kwargs)
    _slow_write(buffer.getvalue(), f)


def slow_copyfileobj(src, dst, *args, **kwargs):
    _slow_write(src.read(), dst)


if __name__ == "__main__":
    torch.save = slow_save
    shutil.copyfileobj = slow_copyfileobj
    main(TINY_DEFAULTS, **RECIPE_KWARGS)
