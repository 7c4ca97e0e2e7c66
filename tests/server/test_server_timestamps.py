"""Per-token frame times against a hand-written oracle. With one hypothesis (``beam_size`` 1,
fast_beam_search with ``max_states`` 1) every method makes greedy decisions, so each method's
served tokens and times must be those of the frame-by-frame greedy pass written out below: on
each encoder frame of the simulated-streaming encoder output (the whole padded utterance
through the chunk-masked encoder), the joiner's argmax; a token's time is its frame * 40 ms
(fast_beam_search: without the last frame, which k2's lattice spends on its final arcs).
This checks the greedy and beam frame tracking of the engine and
``StreamSearch.best_alignments`` on the lattice's best path."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.greedy import initial_context
from icefall_lite.server.server import build_engine
from tests.recipe.test_recipe_streaming_decode import simulated_streaming
from tests.server.conftest import CHUNK, LEFT, server_args

ONE_HYPOTHESIS = {"greedy_search": {}, "modified_beam_search": {"beam_size": 1},
                  "fast_beam_search": {"max_states": 1, "max_contexts": 1}}


@torch.no_grad()
def greedy_alignment(model, enc: torch.Tensor) -> tuple[list[int], list[int]]:
    """Tokens and their frames of enc ``[1, T, C]``: one argmax per frame, the decoder context
    shifted by each emitted (non-blank) token."""
    blank = model.decoder.blank_id
    context = initial_context(model.decoder.context_size, blank)
    tokens, frames = [], []
    for t in range(enc.size(1)):
        decoder_out = model.decoder(torch.tensor([context]), need_pad=False)[0, 0]
        y = int(model.joiner(enc[0, t], decoder_out).argmax())
        if y != blank:
            tokens.append(y)
            frames.append(t)
            context = context[1:] + [y]
    return tokens, frames


def served(engine, method: str, samples: np.ndarray) -> dict:
    """The final result of one stream fed ``samples`` at once, decoded chunk by chunk."""
    stream = engine.new_stream(method, ONE_HYPOTHESIS[method])
    engine.accept_waveform(stream, samples)
    engine.input_finished(stream)
    for _ in range(10_000):  # bounded: a few hundred chunks at most
        if not engine.is_ready(stream):
            break
        engine.decode([stream])
    assert engine.is_done(stream)
    return engine.result(stream).as_dict()


@pytest.mark.slow
def test_token_times_are_those_of_a_hand_written_greedy_pass(causal_model, lang_dir,
                                                             checkpoint, waves):
    engine = build_engine(server_args(lang_dir, checkpoint, "--endpoint", "0"))
    model = copy.deepcopy(causal_model)
    model.encoder.left_context_frames = [LEFT]
    extractor = make_fbank_extractor(80, sampling_rate=8000)
    for name, samples in list(waves.items())[:2]:
        enc = simulated_streaming(model, torch.from_numpy(extractor.extract(samples, 8000)),
                                  CHUNK)
        tokens, frames = greedy_alignment(model, enc)
        assert len(tokens) >= 3 and len(set(frames)) == len(frames)  # a non-trivial oracle
        times = [round(f * 0.04, 3) for f in frames]
        for method in ONE_HYPOTHESIS:
            result = served(engine, method, samples)
            # k2's lattice over T frames turns the last frame into final arcs: its token is
            # not part of fast_beam_search's answer (real k2 and the built-in alike)
            last = enc.size(1) - 1 if method == "fast_beam_search" else enc.size(1)
            kept = [i for i, f in enumerate(frames) if f < last]
            assert result["token_ids"] == [tokens[i] for i in kept], (name, method)
            assert result["timestamps"] == [times[i] for i in kept], (name, method)
