"""Log set-up (icefall_lite.utils.logging): file names, rank tags and clean undo."""

from __future__ import annotations

import logging

from icefall_lite.utils.logging import setup_logger, setup_logging


def test_setup_logger_writes_a_tagged_file_per_rank_and_close_detaches_it(tmp_path):
    root = logging.getLogger()
    before = list(root.handlers)
    handle = setup_logger(tmp_path / "log" / "log-train", rank=1, world_size=2)
    try:
        assert handle.path.parent == tmp_path / "log"
        assert handle.path.name.startswith("log-train-") and handle.path.name.endswith("-2-1")
        assert len(root.handlers) == len(before) + 1  # rank 1: a file, no console
        logging.getLogger("some.module").info("hello")
    finally:
        handle.close()
    assert root.handlers == before
    line = handle.path.read_text().strip()
    assert line.endswith("(1/2) hello") and " INFO [test_utils_logging.py:" in line


def test_setup_logger_single_process_name_has_no_rank_suffix(tmp_path):
    handle = setup_logger(tmp_path / "log-decode", rank=0, world_size=1)
    handle.close()
    # log-decode-YYYY-mm-dd-HH-MM-SS
    assert len(handle.path.name.split("-")) == 2 + 6


def test_setup_logging_replaces_handlers_and_sets_the_level():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging(verbose=True)
        assert root.level == logging.DEBUG and len(root.handlers) == 1
        setup_logging()
        assert root.level == logging.INFO and len(root.handlers) == 1
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
