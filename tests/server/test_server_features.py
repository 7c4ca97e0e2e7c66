"""The server's incremental front end gives what the whole signal gives: fbank frames equal to
the training extractor's on the whole utterance (bit for bit), and resampled audio equal to
lhotse's resampler on the whole signal, for any split of the input into pieces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lhotse.augmentation.resample import Resample

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.server.features import StreamingFbank, StreamingResampler


def pieces(x: np.ndarray, seed: int, most: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, most, size=len(x)))
    return np.split(x, cuts[cuts < len(x)])


@pytest.mark.parametrize("most", [2, 300, 5000])
def test_incremental_fbank_equals_whole_utterance_fbank(waves, most):
    extractor = make_fbank_extractor(80, sampling_rate=8000)
    for seed, x in enumerate(list(waves.values())[:2]):
        x = x[:16000] if most == 2 else x  # sample-by-sample feeding is slow: 2 s of audio
        fbank = StreamingFbank(8000)
        got = np.concatenate([fbank.accept(p) for p in pieces(x, seed, most)] + [fbank.finish()])
        assert np.array_equal(got, extractor.extract(x, 8000))


def test_short_input_gives_whole_utterance_frames():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 0.1
    fbank = StreamingFbank(16000)
    got = np.concatenate([fbank.accept(x[:500]), fbank.accept(x[500:]), fbank.finish()])
    assert got.shape == (6, 80)
    assert np.array_equal(got, make_fbank_extractor(80, 16000).extract(x, 16000))


@pytest.mark.parametrize("rates", [(8000, 16000), (16000, 8000), (44100, 16000), (48000, 8000)])
def test_streaming_resampler_equals_whole_signal_resampling(waves, rates):
    x = next(iter(waves.values()))
    whole = Resample(*rates)(torch.from_numpy(x)[None])[0].numpy()
    resampler = StreamingResampler(*rates)
    got = np.concatenate([resampler.accept(p) for p in pieces(x, 1, 4000)]
                         + [resampler.finish()])
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1e-6)
