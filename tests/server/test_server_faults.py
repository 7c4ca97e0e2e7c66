"""Faults and limits stay with their connection: a client going away mid-stream, a malformed
message, a sample rate the server will not convert, an idle client and connections over
``--max-connections`` are each handled as documented while the other connections get the
transcripts streaming_decode.py gives (the oracle)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from websockets.asyncio.client import connect

from icefall_lite.server.client import Utterance, transcribe
from icefall_lite.server.server import build_engine, parse_server_args
from tests.server.conftest import (
    make_tiny_model,
    reference_tokens,
    running_server,
    server_args,
    write_pretrained,
)

TIMEOUT = 60.0


async def raw_exchange(uri: str, messages: list) -> tuple[list[dict], int | None, str]:
    """Send ``messages`` (str or bytes) and read until the server closes; returns (the JSON
    messages received, close code, close reason)."""
    received = []
    async with connect(uri, open_timeout=30) as ws:
        try:
            for m in messages:
                await ws.send(m)
        except websockets.ConnectionClosed:  # the server closed first (a rejection on connect)
            pass
        try:
            async for message in ws:  # what the server sent before closing is still delivered
                received.append(json.loads(message))
        except websockets.ConnectionClosed:  # closed with an error code: the test reads it
            pass
    return received, ws.close_code, ws.close_reason


def start(rate: int = 8000) -> str:
    return json.dumps({"type": "start", "sample_rate": rate})


async def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@pytest.mark.slow
def test_faulty_clients_are_closed_with_a_reason_and_others_finish(causal_model, lang_dir,
                                                                   checkpoint, waves):
    names = list(waves)
    expected = reference_tokens(causal_model, "greedy_search", waves)
    args = server_args(lang_dir, checkpoint, "--endpoint", "0", "--allow-resample", "0",
                       "--idle-timeout", "2")
    chunk = waves[names[2]][:4000].tobytes()

    async def scenario(uri, batcher):
        good = [asyncio.create_task(transcribe(uri, Utterance(n, waves[n], 8000), chunk_ms=100,
                                               realtime=False, timeout=TIMEOUT))
                for n in names[:2]]
        gone = await transcribe(uri, Utterance("gone", waves[names[2]], 8000), chunk_ms=100,
                                realtime=True, disconnect_after=5, timeout=TIMEOUT)
        faults = await asyncio.gather(
            raw_exchange(uri, [start(), chunk, "{not json"]),
            raw_exchange(uri, [chunk]),
            raw_exchange(uri, [start(16000)]),
            raw_exchange(uri, [start(), b"\x00\x01\x02"]),
            raw_exchange(uri, [json.dumps({"type": "start", "sample_rate": 8000,
                                           "method": "no_such_search"})]),
            raw_exchange(uri, [start(), chunk]),  # then silent: idle timeout
        )
        results = await asyncio.gather(*good)
        freed = await wait_until(lambda: batcher.num_streams == 0)
        return gone, faults, results, freed

    with running_server(args) as (uri, batcher):
        gone, faults, results, freed = asyncio.run(asyncio.wait_for(scenario(uri, batcher),
                                                                    TIMEOUT))
    for name, r in zip(names, results):
        assert r.error is None and [f["token_ids"] for f in r.finals] == [expected[name]]
    assert gone.finals == [] and freed  # the server dropped the vanished client's stream
    (malformed, binary_first, rate, odd_bytes, method, idle) = faults
    checks = [(malformed, 1008, "malformed JSON"), (binary_first, 1008, "expected a JSON"),
              (rate, 1003, "sample rate 16000 Hz"), (odd_bytes, 1003, "whole number"),
              (method, 1008, "no_such_search"), (idle, 1008, "idle for 2 s")]
    for (received, code, reason), (want_code, want) in zip(faults, [c[1:] for c in checks]):
        assert code == want_code and want in reason
        assert received[-1]["type"] == "error" and want in received[-1]["reason"]


@pytest.mark.slow
def test_connections_over_the_limit_are_rejected(causal_model, lang_dir, checkpoint, waves):
    names = list(waves)[:2]
    expected = reference_tokens(causal_model, "greedy_search", {n: waves[n] for n in names})
    args = server_args(lang_dir, checkpoint, "--endpoint", "0", "--max-connections", "2")

    async def scenario(uri, batcher):
        # two paced streams hold both places while a third client knocks
        open_ = [asyncio.create_task(transcribe(uri, Utterance(n, waves[n], 8000), chunk_ms=100,
                                                realtime=True, timeout=TIMEOUT)) for n in names]
        assert await wait_until(lambda: batcher.num_streams == 2)
        rejected = await raw_exchange(uri, [start()])
        return rejected, await asyncio.gather(*open_)

    with running_server(args) as (uri, batcher):
        (received, code, reason), results = asyncio.run(asyncio.wait_for(
            scenario(uri, batcher), TIMEOUT))
    assert code == 1013 and "server busy" in reason and "limit is 2" in reason
    assert received == [{"type": "error", "reason": received[0]["reason"]}]
    for name, r in zip(names, results):
        assert r.error is None and [f["token_ids"] for f in r.finals] == [expected[name]]


@pytest.mark.slow
def test_other_sample_rates_are_resampled(causal_model, lang_dir, checkpoint, waves):
    """A 16 kHz int16 client of the 8 kHz model gets the transcript of its audio converted to
    8 kHz by lhotse's resampler on the whole signal."""
    import numpy as np
    import torch
    from lhotse.augmentation.resample import Resample

    name = list(waves)[0]
    up = Resample(8000, 16000)(torch.from_numpy(waves[name])[None])[0].numpy()
    up = np.round(up * 32768).clip(-32768, 32767) / 32768  # what int16 carries
    down = Resample(16000, 8000)(torch.from_numpy(up.astype(np.float32))[None])[0].numpy()
    expected = reference_tokens(causal_model, "modified_beam_search", {name: down})[name]
    assert expected
    with running_server(server_args(lang_dir, checkpoint, "--endpoint", "0")) as (uri, _):
        r = asyncio.run(transcribe(uri, Utterance(name, up.astype(np.float32), 16000),
                                   chunk_ms=70, realtime=False, method="modified_beam_search",
                                   sample_format="int16", timeout=TIMEOUT))
    assert r.error is None and [f["token_ids"] for f in r.finals] == [expected]


def test_models_that_cannot_stream_or_files_that_disagree_are_refused(vocab_size, lang_dir,
                                                                      checkpoint, tmp_path):
    """A non-causal checkpoint, a causal one without a chunk size, a model flag contradicting
    the checkpoint and an incomplete ONNX triple are refused before serving, naming the
    problem."""
    offline = write_pretrained(tmp_path / "offline.pt",
                               make_tiny_model(vocab_size, causal=False, seed=1))
    with pytest.raises(ValueError, match="applies to causal models; .*offline.pt"):
        build_engine(server_args(lang_dir, offline))
    with pytest.raises(ValueError, match="streaming model: .*offline.pt"):
        build_engine(parse_server_args(["--lang-dir", str(lang_dir), "--checkpoint",
                                        str(offline)]))
    with pytest.raises(ValueError, match="streaming model: .*pretrained.pt"):
        build_engine(parse_server_args(["--lang-dir", str(lang_dir), "--checkpoint",
                                        str(checkpoint), "--chunk-size", "-1"]))
    with pytest.raises(ValueError, match="--decoder-dim 32 contradicts"):
        build_engine(server_args(lang_dir, checkpoint, "--decoder-dim", "32"))
    with pytest.raises(ValueError, match="all of --encoder, --decoder and --joiner"):
        build_engine(server_args(lang_dir, None, "--encoder", str(checkpoint)))
