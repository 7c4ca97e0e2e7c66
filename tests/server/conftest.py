"""Fixtures of the server tests: a tiny causal transducer on yesno-sized BPE, the yesno wavs,
and a real server (the ``python -m icefall_lite.server`` code) on a free localhost port in a
background thread, talked to by real websocket clients."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.models.asr_model import AsrModel
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.model_info import model_description
from icefall_lite.recipe.streaming_decode import StreamingDecoder
from icefall_lite.server.batcher import Batcher
from icefall_lite.server.server import parse_server_args, serve_forever
from tests.recipe.conftest import (  # noqa: F401 - fixtures shared with the recipe tests
    TINY,
    WAV_NAMES,
    lang_dir,
    lg_lang_dir,
    make_tiny_model,
    vocab_size,
)

CHUNK, LEFT = 16, 64
START_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The oracles run on one thread like the server's worker: on a busy 2-core machine more
    threads only contend (a 100x slow-down was seen)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def causal_model(vocab_size):  # noqa: F811 - the imported fixture
    return make_tiny_model(vocab_size, causal=True, seed=3)


def write_pretrained(path: Path, model: AsrModel) -> Path:
    """A self-describing pretrained.pt of ``model`` (a tiny model of :func:`make_tiny_model`)
    on 8 kHz 80-bin fbank, as export.py writes it."""
    config = ZipformerConfig(vocab_size=model.decoder.vocab_size, causal=model.encoder.causal,
                             **TINY)
    description = model_description(
        config, {"vocab_size": config.vocab_size, "blank_id": 0, "sil_id": None},
        {"type": "fbank", "sample_rate": 8000, "num_mel_bins": 80})
    torch.save({"model": model.state_dict(), **description}, path)
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, causal_model) -> Path:
    return write_pretrained(tmp_path_factory.mktemp("server_model") / "pretrained.pt",
                            causal_model)


@pytest.fixture(scope="session")
def waves(yesno_dir) -> dict[str, np.ndarray]:
    """The yesno wavs (8 kHz) as float32 samples."""
    return {name: sf.read(str(yesno_dir / name), dtype="float32")[0] for name in WAV_NAMES}


def server_args(lang: Path, checkpoint: Path | None, *extra: str) -> argparse.Namespace:
    """The server's command line: the model of ``checkpoint`` (rebuilt from its description,
    chunk 16 and left context 64), or with ``checkpoint`` None the model files in ``extra``."""
    model = ([] if checkpoint is None else
             ["--checkpoint", str(checkpoint), "--chunk-size", str(CHUNK),
              "--left-context-frames", str(LEFT)])
    return parse_server_args(["--lang-dir", str(lang), *model, "--sample-rate", "8000",
                              "--port", "0", "--max-wait-ms", "5", *extra])


@contextlib.contextmanager
def running_server(args: argparse.Namespace) -> Iterator[tuple[str, Batcher]]:
    """Serve ``args`` on 127.0.0.1 (a free port) in a thread; yields the ws:// URI and the
    server's batcher (to look at its streams)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bound: list[tuple[int, Batcher]] = []
    started = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve_forever(
                args, stop, lambda port, batcher: (bound.append((port, batcher)), started.set())))
        except BaseException as e:  # reported by the fixture
            errors.append(e)
            started.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert started.wait(START_TIMEOUT), "server did not start"
    if errors:
        raise errors[0]
    try:
        yield f"ws://127.0.0.1:{bound[0][0]}", bound[0][1]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


def reference_tokens(model, method: str, waves: dict[str, np.ndarray], sample_rate: int = 8000,
                     blank_penalty: float = 0.0, num_streams: int = 2) -> dict[str, list[int]]:
    """streaming_decode.py's decoder on the training extractor's features of each whole wav
    (the oracle of the served transcripts), ``num_streams`` at once; ``model``: the eager causal
    model (streamed with chunk 16 and left context 64) or a streaming runtime model."""
    if not hasattr(model, "streaming"):  # eager: the serving chunk and left context
        model = copy.deepcopy(model)
        model.encoder.chunk_size = [CHUNK]
        model.encoder.left_context_frames = [LEFT]
    config = DecodingConfig(beam=4.0, max_contexts=4, max_states=32,
                            blank_penalty=blank_penalty)
    extractor = make_fbank_extractor(80, sampling_rate=sample_rate)
    utts = [(name, torch.from_numpy(extractor.extract(w, sample_rate)), [], 0.0)
            for name, w in waves.items()]
    return {s.cut_id: s.result
            for s in StreamingDecoder(model, method, config, 30).run(utts, num_streams)}
