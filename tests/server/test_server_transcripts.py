"""Served transcripts equal streaming_decode.py's (the recipe's chunk-wise decoder on the whole
utterance's features) for the same model, method and chunk size; two clients at once get their
own transcripts."""

from __future__ import annotations

import asyncio

import pytest

from icefall_lite.recipe.common import BpeCodec
from icefall_lite.server.client import Utterance, transcribe_many
from tests.server.conftest import reference_tokens, running_server, server_args

TIMEOUT = 120.0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search", "fast_beam_search"])
def test_served_transcripts_equal_streaming_decode(method, causal_model, lang_dir, checkpoint,
                                                   waves):
    expected = reference_tokens(causal_model, method, waves)
    assert all(len(t) >= 3 for t in expected.values())  # a non-trivial oracle
    codec = BpeCodec(lang_dir)
    utts = [Utterance(name, w, 8000) for name, w in waves.items()]
    with running_server(server_args(lang_dir, checkpoint, "--endpoint", "0")) as (uri, _):
        # odd chunk sizes (37 ms, int16) and as fast as possible: batching and chunking vary
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
