"""Served transcripts equal streaming_decode.py's (the recipe's chunk-wise decoder on the whole
utterance's features) for the same model, method and chunk size; two clients at once get their
own transcripts."""

from __future__ import annotations

import asyncio
import copy

import pytest

from icefall_lite.recipe.common import BpeCodec
from icefall_lite.server.client import Utterance, transcribe, transcribe_many
from tests.server.conftest import CHUNK, LEFT, reference_tokens, running_server, server_args

TIMEOUT = 120.0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search", "fast_beam_search"])
def test_served_transcripts_equal_streaming_decode(method, causal_model, lang_dir, checkpoint,
                                                   waves):
    expected = reference_tokens(causal_model, method, waves)
    assert all(len(t) >= 3 for t in expected.values())  # a non-trivial oracle
    codec = BpeCodec(lang_dir)
    utts = [Utterance(name, w, 8000) for name, w in waves.items()]
    with running_server(server_args(lang_dir, checkpoint, "--endpoint", "0",
                                    "--num-workers", "2")) as (uri, _):
        # odd chunk sizes (37 ms, int16) and as fast as possible, two workers: batching and
        # chunking vary
        results = asyncio.run(transcribe_many(uri, utts, concurrency=3, chunk_ms=37,
                                              realtime=False, method=method,
                                              sample_format="float32", timeout=TIMEOUT))
    for utt, r in zip(utts, results):
        assert r.error is None
        (final,) = r.finals
        assert final["last"] and final["token_ids"] == expected[utt.name]
        assert final["text"] == codec.decode(expected[utt.name])
        assert len(final["timestamps"]) == len(final["token_ids"])
        assert final["timestamps"] == sorted(final["timestamps"])
        assert r.partials and r.partials[-1]["text"] == final["text"]


@pytest.mark.slow
def test_torchscript_model_serves_the_same_transcripts(causal_model, lang_dir, checkpoint,
                                                       waves, tmp_path):
    """``--nn-model`` with export.py's streaming TorchScript model of the same weights (chunk 16,
    left context 64 baked in) gives the eager streaming_decode.py tokens."""
    from icefall_lite.models.export import export_jit

    model = copy.deepcopy(causal_model)
    model.encoder.chunk_size = [CHUNK]
    model.encoder.left_context_frames = [LEFT]
    jit_path = tmp_path / f"jit_script_chunk_{CHUNK}_left_{LEFT}.pt"
    export_jit(model, jit_path, streaming=True)
    methods = ["greedy_search", "modified_beam_search"]
    expected = {m: reference_tokens(causal_model, m, waves) for m in methods}
    name, w = next(iter(waves.items()))

    async def both(uri):  # one connection per method, at once
        return await asyncio.gather(*(transcribe(uri, Utterance(name, w, 8000), realtime=False,
                                                 method=m, timeout=TIMEOUT) for m in methods))

    with running_server(server_args(lang_dir, None, "--endpoint", "0", "--nn-model",
                                    str(jit_path))) as (uri, _):
        results = asyncio.run(both(uri))
    for m, r in zip(methods, results):
        assert [f["token_ids"] for f in r.finals] == [expected[m][name]]


@pytest.fixture(scope="module")
def onnx_files(causal_model, tmp_path_factory) -> dict[str, list[str]]:
    """export_onnx's streaming files of the causal model (chunk 16, left context 64), fp32 and
    their int8 copies: {"fp32": [encoder, decoder, joiner], "int8": [...]}."""
    from icefall_lite.models.export import export_onnx, quantize_onnx

    model = copy.deepcopy(causal_model)
    model.encoder.chunk_size = [CHUNK]
    model.encoder.left_context_frames = [LEFT]
    files = export_onnx(model, tmp_path_factory.mktemp("server_onnx"), streaming=True)
    fp32 = [files[part] for part in ("encoder", "decoder", "joiner")]
    int8 = [quantize_onnx(f, f.with_suffix(".int8.onnx")) for f in fp32]
    return {"fp32": [str(f) for f in fp32], "int8": [str(f) for f in int8]}


def onnx_server_args(lang_dir, files: list[str]):
    return server_args(lang_dir, None, "--endpoint", "0", *(
        a for part, f in zip(("encoder", "decoder", "joiner"), files) for a in (f"--{part}", f)))


@pytest.mark.slow
def test_streaming_onnx_export_serves_the_same_transcripts(causal_model, lang_dir, waves,
                                                           onnx_files):
    """``--encoder/--decoder/--joiner`` with export_onnx's streaming files of the same weights
    (chunk 16, left context 64) give the eager model's streaming_decode.py tokens, for each
    method, two connections at once."""
    utts = [Utterance(name, w, 8000) for name, w in list(waves.items())[:2]]
    with running_server(onnx_server_args(lang_dir, onnx_files["fp32"])) as (uri, _):
        for method in ["greedy_search", "modified_beam_search", "fast_beam_search"]:
            expected = reference_tokens(causal_model, method,
                                        {u.name: u.samples for u in utts})
            results = asyncio.run(transcribe_many(uri, utts, concurrency=2, realtime=False,
                                                  method=method, timeout=TIMEOUT))
            for utt, r in zip(utts, results):
                assert r.error is None
                assert [f["token_ids"] for f in r.finals] == [expected[utt.name]], method
                assert len(r.finals[0]["timestamps"]) == len(expected[utt.name])


@pytest.mark.slow
def test_int8_onnx_export_serves_streaming_decodes_transcripts(lang_dir, waves, onnx_files):
    """The int8 copies served give streaming_decode.py's tokens on the same int8 files (int8
    changes the numbers, so the oracle is the recipe's decoder on the quantised model). Dynamic
    int8 quantises each call's activations with one scale for the whole batch, so a row's
    numbers depend on its batch mates: one connection at a time here, one stream at a time in
    the oracle."""
    from icefall_lite.runtime import OnnxTransducer

    int8 = OnnxTransducer(*onnx_files["int8"], streaming=True)
    utts = [Utterance(name, w, 8000) for name, w in list(waves.items())[:2]]
    expected = reference_tokens(int8, "greedy_search", {u.name: u.samples for u in utts},
                                num_streams=1)
    assert all(len(t) >= 3 for t in expected.values())  # a non-trivial oracle
    with running_server(onnx_server_args(lang_dir, onnx_files["int8"])) as (uri, _):
        results = asyncio.run(transcribe_many(uri, utts, concurrency=1, realtime=False,
                                              method="greedy_search", timeout=TIMEOUT))
    assert {u.name: [f["token_ids"] for f in r.finals] for u, r in zip(utts, results)} == {
        name: [tokens] for name, tokens in expected.items()}
