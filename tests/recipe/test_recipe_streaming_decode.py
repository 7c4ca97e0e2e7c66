"""streaming_decode.py: chunk-wise decoding of a causal model gives what simulated streaming
(the whole padded utterance through the chunk-masked encoder, then the offline search) gives."""

from __future__ import annotations

import ast
import copy
import dataclasses
import math

import pytest
import torch
from lhotse import CutSet, LilcomChunkyWriter, Recording, SupervisionSegment

from icefall_lite import k2
from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.beam_search import modified_beam_search
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.fast_beam_search import fast_beam_search_one_best
from icefall_lite.decoding.greedy import greedy_search_batch
from icefall_lite.recipe import streaming_decode
from icefall_lite.recipe.streaming_decode import StreamingDecoder
from tests.recipe.conftest import TINY_ARGS, WAV_NAMES

LOG_EPS = math.log(1e-10)
TAIL = 30


def simulated_streaming(model, feats: torch.Tensor, chunk: int) -> torch.Tensor:
    """Oracle: append TAIL log-eps frames, pad to whole chunks of 2*chunk fbank frames plus
    the 13-frame look-ahead, run the front end over everything, keep chunk * num_chunks frames
    and run the encoder with its chunk mask (eval: chunk_size[0], left_context_frames[0])."""
    model = copy.deepcopy(model)
    model.encoder.chunk_size = [chunk]
    feats = torch.nn.functional.pad(feats, (0, 0, 0, TAIL), value=LOG_EPS)
    num_chunks = math.ceil(feats.size(0) / (2 * chunk))
    total = 2 * chunk * num_chunks + 13
    x = torch.nn.functional.pad(feats, (0, 0, 0, total - feats.size(0)), value=LOG_EPS)
    with torch.no_grad():
        embed, _ = model.encoder_embed(x[None], torch.tensor([total]))
        embed = embed[:, : chunk * num_chunks]
        out, _ = model.encoder(embed.permute(1, 0, 2), torch.tensor([chunk * num_chunks]))
    return out.permute(1, 0, 2)


def offline_search(model, method: str, enc: torch.Tensor, blank_penalty: float = 0.0
                   ) -> list[int]:
    lens = torch.tensor([enc.size(1)])
    if method == "greedy_search":
        return greedy_search_batch(model, enc, lens, blank_penalty=blank_penalty)[0]
    if method == "modified_beam_search":
        return modified_beam_search(model, enc, lens, beam_size=4,
                                    blank_penalty=blank_penalty)[0]
    graph = k2.trivial_graph(model.decoder.vocab_size - 1)
    return fast_beam_search_one_best(model, graph, enc, lens, beam=4.0, max_states=32,
                                     max_contexts=4, blank_penalty=blank_penalty)[0]


@pytest.fixture(scope="module")
def features(wav_dir) -> list[torch.Tensor]:
    extractor = make_fbank_extractor(80, sampling_rate=8000)
    feats = [torch.from_numpy(Recording.from_file(wav_dir / n).to_cut()
                              .compute_features(extractor)) for n in WAV_NAMES]
    # different lengths, so streams finish at different chunks
    return [feats[0], feats[1][:450], feats[2][:333]]


@pytest.mark.parametrize("method,chunk,blank_penalty", [
    ("greedy_search", 16, 0.0), ("greedy_search", 8, 0.0), ("modified_beam_search", 16, 0.0),
    ("fast_beam_search", 16, 0.0), ("greedy_search", 16, 2.0), ("modified_beam_search", 16, 2.0),
    ("fast_beam_search", 16, 2.0)])
def test_chunkwise_decoding_equals_simulated_streaming(method, chunk, blank_penalty, causal_exp,
                                                       features):
    _, model = causal_exp
    model = copy.deepcopy(model)
    model.encoder.chunk_size = [chunk]
    config = DecodingConfig(beam=4.0, max_contexts=4, max_states=32, blank_penalty=blank_penalty)
    decoder = StreamingDecoder(model, method, config, tail_pad_frames=TAIL)
    # 2 streams for 3 utterances: the third joins while the others are mid-way
    utterances = [(f"u{i}", f, [], 0.0) for i, f in enumerate(features)]
    got = {s.cut_id: s.result for s in decoder.run(utterances, num_decode_streams=2)}
    expected = {f"u{i}": offline_search(model, method, simulated_streaming(model, f, chunk),
                                        blank_penalty)
                for i, f in enumerate(features)}
    assert all(expected.values())  # non-trivial oracle
    assert got == expected


def test_stream_states_are_restored_per_stream(causal_exp):
    _, model = causal_exp
    states = [model.get_init_states(1) for _ in range(3)]
    for i, st in enumerate(states):
        for s in st:
            s.fill_(i)
    batch = streaming_decode.stack_states(states)
    assert [s.shape for s in batch] == [s.shape for s in model.get_init_states(3)]
    back = streaming_decode.unstack_states(batch)
    for i in range(3):
        assert all(bool((s == i).all()) for s in back[i])


def test_non_causal_model_is_refused(offline_exp):
    _, models = offline_exp
    with pytest.raises(ValueError, match="causal"):
        StreamingDecoder(models[0], "greedy_search", DecodingConfig())


def test_main_writes_result_files_equal_to_simulated_streaming(causal_exp, lang_dir, wav_dir,
                                                               tmp_path):
    exp, model = causal_exp
    recordings = [Recording.from_file(wav_dir / n) for n in WAV_NAMES]
    cuts = CutSet.from_cuts(
        dataclasses.replace(r.to_cut().truncate(duration=d), id=r.id, supervisions=[
            SupervisionSegment(r.id, r.id, 0.0, d, text=" ".join(
                "YES" if c == "1" else "NO" for c in r.id.split("_")))])
        for r, d in zip(recordings, [6.0, 4.5, 5.2]))
    manifest_dir = tmp_path / "fbank"
    manifest_dir.mkdir()
    cuts = cuts.compute_and_store_features(
        make_fbank_extractor(80, sampling_rate=8000), storage_path=manifest_dir / "feats",
        storage_type=LilcomChunkyWriter)
    cuts.to_file(manifest_dir / "yesno_cuts_test.jsonl.gz")
    summary = streaming_decode.main(
        {"lang_dir": str(lang_dir), "exp_dir": str(exp), "corpus": "yesno"},
        ["--manifest-dir", str(manifest_dir), "--epoch", "1", "--avg", "1",
         "--use-averaged-model", "0", "--causal", "1", "--decode-chunk-len", "32",
         "--left-context-frames", "64", "--num-decode-streams", "2", *TINY_ARGS])
    assert summary["test"]["words"] == 8 * 3
    out_dir = exp / "streaming" / "greedy_search"
    (recogs,) = out_dir.glob("recogs-test-*chunk-16_left-64_greedy_search.txt")
    hyps = {}
    for line in recogs.read_text().splitlines():
        utt, field = line.split(":\t")
        if field.startswith("hyp="):
            hyps[utt] = ast.literal_eval(field[4:])
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(lang_dir / "bpe.model"))
    for cut in cuts:
        feats = torch.from_numpy(cut.load_features())
        tokens = greedy_search_batch(model, simulated_streaming(model, feats, 16),
                                     torch.tensor([(feats.size(0) + TAIL + 31) // 32 * 8]))[0]
        assert hyps[cut.id] == sp.decode(tokens).split()
    assert list(out_dir.glob("errs-test-*.txt")) and list(out_dir.glob("summary-test-*.json"))


def test_on_the_fly_features_are_the_servers(wav_dir, tmp_path):
    """``--on-the-fly-feats 1``: the features come from the audio, frame for frame those the
    streaming server computes from the same samples sent in pieces (bench/server_parity.py
    relies on it), not from the lossy archive."""
    import numpy as np

    from icefall_lite.server.features import StreamingFbank

    cut = Recording.from_file(wav_dir / WAV_NAMES[0]).to_cut()
    cut = cut.compute_and_store_features(make_fbank_extractor(80, sampling_rate=8000),
                                         LilcomChunkyWriter(tmp_path / "feats"))
    stored = streaming_decode.CutFeatures(80, on_the_fly=False)(cut)
    live = streaming_decode.CutFeatures(80, on_the_fly=True)(cut)
    audio = cut.load_audio()[0].astype(np.float32)
    fbank = StreamingFbank(8000)
    pieces = [fbank.accept(audio[i : i + 1234]) for i in range(0, len(audio), 1234)]
    served = torch.from_numpy(np.concatenate([*pieces, fbank.finish()]))
    assert live.shape == stored.shape == served.shape
    assert torch.equal(live, served)
    assert not torch.equal(live, stored)  # lilcom's rounding: the archive was not read
    assert torch.allclose(live, stored, atol=0.05)
