"""Endpointing cuts a stream of two utterances with silence between into two finals.

A tiny random model (seed 6), with blank boosted by 3 (``blank_penalty`` -3), emits tokens only
where the audio has speech energy (checked below on the uncut transcript, so the test cannot
pass vacuously): rule 2 (1.2 s of silence after speech) ends the first segment inside the silence,
rule 1 (2.4 s of silence, nothing recognised) ends an empty one, which sends no final, and the
end of the audio ends the last one."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from icefall_lite.server.client import Utterance, transcribe
from tests.server.conftest import (
    make_tiny_model,
    reference_tokens,
    running_server,
    server_args,
    write_pretrained,
)

SILENCE = 3.0
OPTIONS = {"blank_penalty": -3.0}


def serve_once(lang_dir, checkpoint, audio: np.ndarray, *extra: str):
    with running_server(server_args(lang_dir, checkpoint, *extra)) as (uri, _):
        return asyncio.run(transcribe(uri, Utterance("a", audio, 8000), realtime=False,
                                      options=OPTIONS, timeout=60))


@pytest.fixture(scope="module")
def quiet_model(vocab_size):
    return make_tiny_model(vocab_size, causal=True, seed=6)


@pytest.mark.slow
def test_two_utterances_with_silence_between_give_two_finals(quiet_model, lang_dir, tmp_path,
                                                             waves):
    checkpoint = write_pretrained(tmp_path / "quiet.pt", quiet_model)
    first, second = list(waves.values())[:2]
    gap_start = len(first) / 8000
    gap_end = gap_start + SILENCE
    audio = np.concatenate([first, np.zeros(int(SILENCE * 8000), np.float32), second])
    expected = reference_tokens(quiet_model, "greedy_search", {"a": audio},
                                blank_penalty=OPTIONS["blank_penalty"])["a"]
    uncut = serve_once(lang_dir, checkpoint, audio, "--endpoint", "0")
    (whole,) = uncut.finals
    assert whole["token_ids"] == expected
    # precondition: tokens on both utterances, none in the silence
    times = np.array(whole["timestamps"])
    assert (times < gap_start).any() and (times > gap_end).any()
    assert not ((times >= gap_start) & (times <= gap_end)).any()

    cut = serve_once(lang_dir, checkpoint, audio)
    assert cut.error is None
    assert [f["last"] for f in cut.finals] == [False, True]
    one, two = cut.finals
    # cut where the model hears silence: after the first utterance's last token, before the
    # second's first
    assert times[times < gap_start].max() < two["start"] < times[times > gap_end].min()
    # each segment's search continues from the last tokens: the finals split the uncut tokens
    assert one["token_ids"] + two["token_ids"] == expected
    assert one["timestamps"] + two["timestamps"] == whole["timestamps"]
    assert len(one["token_ids"]) == int((times < gap_start).sum())
