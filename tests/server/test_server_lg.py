"""fast_beam_search with an LG graph is served: the words equal the offline
fast_beam_search_one_best on LG over the simulated-streaming encoder output (the whole padded
utterance through the chunk-masked encoder, the oracle of tests/recipe's streaming tests)."""

from __future__ import annotations

import asyncio
import copy

import pytest
import torch

from icefall_lite import k2
from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.fast_beam_search import fast_beam_search_one_best
from icefall_lite.decoding.lattice import scale_graph
from icefall_lite.recipe.common import read_word_table
from icefall_lite.server.client import Utterance, transcribe_many
from tests.recipe.test_recipe_streaming_decode import simulated_streaming
from tests.server.conftest import CHUNK, LEFT, running_server, server_args


@pytest.mark.slow
def test_fast_beam_search_lg_is_served(causal_model, lg_lang_dir, checkpoint, waves):
    model = copy.deepcopy(causal_model)
    model.encoder.left_context_frames = [LEFT]
    LG = k2.Fsa.from_dict(torch.load(lg_lang_dir / "LG.pt", map_location="cpu"))
    graph = scale_graph(LG, 0.01)
    words = read_word_table(lg_lang_dir)
    extractor = make_fbank_extractor(80, sampling_rate=8000)
    expected = {}
    for name, w in waves.items():
        enc = simulated_streaming(model, torch.from_numpy(extractor.extract(w, 8000)), CHUNK)
        ids = fast_beam_search_one_best(model, graph, enc, torch.tensor([enc.size(1)]), beam=4.0,
                                        max_states=32, max_contexts=4)[0]
        expected[name] = " ".join(words[i] for i in ids)
    assert all(expected.values())
    utts = [Utterance(name, w, 8000) for name, w in waves.items()]
    with running_server(server_args(lg_lang_dir, checkpoint, "--endpoint", "0")) as (uri, _):
        results = asyncio.run(transcribe_many(uri, utts, concurrency=3, realtime=False,
                                              method="fast_beam_search_LG", timeout=120))
    assert {u.name: r.text for u, r in zip(utts, results)} == expected
    assert all(set(r.text.split()) <= {"YES", "NO"} for r in results)
