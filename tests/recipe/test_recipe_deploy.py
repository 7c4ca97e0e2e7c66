"""Deployment: the files of ``export.py --onnx 1 --onnx-int8 1`` decoded by sherpa-onnx (an
independent C++ runtime: its own fbank, search and state handling) give the words of the
library's decoding of the eager model, offline and chunk by chunk; every method runs on the
ONNX model through the same step functions as on the eager model; bad files are named.

The model is the recipe tests' tiny causal yesno-sized model (chunk 16, left context 64) with a
sharpened joiner, so that its transcripts are long, varied and differ between files (a few
dozen training steps of it take minutes on a shared 2-core machine and still emit one token).
"""

from __future__ import annotations

from importlib import import_module

import kaldialign
import numpy as np
import pytest
import sherpa_onnx
import soundfile as sf
import torch
from lhotse.utils import LOG_EPSILON

from icefall_lite.decoding import DECODING_METHODS, DecodingConfig, decode, stream_search
from icefall_lite.recipe import export, pretrained
from icefall_lite.recipe.common import load_decoding_graph
from icefall_lite.recipe.streaming_decode import StreamingDecoder
from icefall_lite.runtime import OnnxTransducer
from tests.recipe.conftest import TINY_ARGS, WAV_NAMES

RATE = 8000
CHUNK_FRAMES = 32  # chunk 16 at 50 Hz = 32 fbank frames


@pytest.fixture(scope="module")
def deployed(causal_exp, lang_dir):
    """export.py --onnx-int8 1 of the causal model: fp32 + int8, offline + streaming."""
    exp, model = causal_exp
    written = export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)}, [
        "--epoch", "1", "--avg", "1", "--use-averaged-model", "0", "--onnx-int8", "1",
        "--causal", "1", "--chunk-size", "16", "--left-context-frames", "64", *TINY_ARGS])
    return model, written


def _files(written, streaming=False, int8=False):
    tail = ("_streaming" if streaming else "") + ("_int8" if int8 else "")
    return [str(written[f"{part}{tail}"]) for part in ("encoder", "decoder", "joiner")]


def _waves(wav_dir, tail_silence=False):
    """The test wavs; with ``tail_silence`` each is followed by 0.53 s of zeros (as a streaming
    client would send, so the last words pass the look-ahead)."""
    waves = []
    for name in WAV_NAMES:
        samples, rate = sf.read(wav_dir / name, dtype="float32")
        assert rate == RATE
        if tail_silence:
            samples = np.concatenate([samples, np.zeros(int(0.53 * RATE), "float32")])
        waves.append(samples)
    return waves


def _sherpa_words(recognizer, waves, online: bool) -> list[list[str]]:
    out = []
    for samples in waves:
        stream = recognizer.create_stream()
        stream.accept_waveform(RATE, samples)
        if online:
            stream.input_finished()
            for _ in range(10_000):  # bounded: one iteration per chunk
                if not recognizer.is_ready(stream):
                    break
                recognizer.decode_stream(stream)
            out.append(recognizer.get_result(stream).split())
        else:
            recognizer.decode_stream(stream)
            out.append(stream.result.text.split())
    return out


def _library_words(model, lang_dir, waves, method, config, streaming: bool):
    """The library's decoding of the eager model on the training extractor's features:
    ``decode`` (what decode.py runs) or StreamingDecoder (streaming_decode.py) on the whole
    chunks of each wave (sherpa-onnx's rule, ``whole_chunks``)."""
    text = pretrained.TokenText(tokens=lang_dir / "tokens.txt")
    feats, lens = pretrained.compute_features(waves, RATE)
    if not streaming:
        with torch.no_grad():
            enc, enc_lens = model.forward_encoder(feats, lens)
        return [text(h).split() for h in decode(method, model, enc, enc_lens, config)]
    decoder = StreamingDecoder(model, method, config, tail_pad_frames=0, whole_chunks=True)
    items = [(str(i), f[:n], [], 0.0) for i, (f, n) in enumerate(zip(feats, lens.tolist()))]
    results = {s.cut_id: s.result for s in decoder.run(items, len(items))}
    return [text(results[str(i)]).split() for i in range(len(items))]


def _non_trivial(words: list[list[str]]) -> None:
    assert all(words) and len({" ".join(w) for w in words}) == len(words)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
@pytest.mark.parametrize("blank_penalty", [0.0, 1.5])
def test_sherpa_offline_recognizer_gives_the_library_words(method, blank_penalty, deployed,
                                                           lang_dir, wav_dir):
    model, written = deployed
    encoder, decoder, joiner = _files(written)
    recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
        encoder, decoder, joiner, str(written["tokens"]), sample_rate=RATE, feature_dim=80,
        decoding_method=method, max_active_paths=4, blank_penalty=blank_penalty)
    waves = _waves(wav_dir)
    config = DecodingConfig(beam_size=4, blank_penalty=blank_penalty)
    expected = _library_words(model, lang_dir, waves, method, config, streaming=False)
    _non_trivial(expected)
    assert _sherpa_words(recognizer, waves, online=False) == expected


@pytest.mark.slow
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
def test_sherpa_online_recognizer_gives_the_streaming_words(method, deployed, lang_dir,
                                                            wav_dir):
    model, written = deployed
    encoder, decoder, joiner = _files(written, streaming=True)
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        str(written["tokens"]), encoder, decoder, joiner, num_threads=1, sample_rate=RATE,
        feature_dim=80, decoding_method=method, max_active_paths=4)
    waves = _waves(wav_dir, tail_silence=True)
    expected = _library_words(model, lang_dir, waves, method, DecodingConfig(beam_size=4),
                              streaming=True)
    _non_trivial(expected)
    assert _sherpa_words(recognizer, waves, online=True) == expected


@pytest.mark.slow
def test_int8_models_load_in_sherpa_and_in_the_runtime(deployed, lang_dir, wav_dir):
    model, written = deployed
    for part in ("encoder", "decoder", "joiner"):  # quantised weights: smaller files
        assert written[f"{part}_int8"].stat().st_size < written[part].stat().st_size
    assert written["encoder_streaming_int8"].stat().st_size < written[
        "encoder_streaming"].stat().st_size
    waves = _waves(wav_dir)
    recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
        *_files(written, int8=True), str(written["tokens"]), sample_rate=RATE, feature_dim=80)
    sherpa = _sherpa_words(recognizer, waves, online=False)
    onnx = OnnxTransducer(*_files(written, int8=True))
    text = pretrained.TokenText(tokens=lang_dir / "tokens.txt")
    ours = []
    for samples in waves:  # one utterance per call, as sherpa-onnx runs them
        feats, lens = pretrained.compute_features([samples], RATE)
        enc, enc_lens = onnx.forward_encoder(feats, lens)
        ours += [text(h).split() for h in decode("greedy_search", onnx, enc, enc_lens)]
    _non_trivial(ours)
    # The same int8 files, the same words: int8 activations are quantised with one scale per
    # call, so the engines agree when both run one utterance per call (a batch of several
    # utterances, padded, quantises each with the batch's range and may change some words).
    assert ours == sherpa
    streaming = OnnxTransducer(*_files(written, streaming=True, int8=True))
    assert streaming.streaming and streaming.chunk_frames == CHUNK_FRAMES


def _eager_and_onnx(deployed, lang_dir, wav_dir, lg_lang_dir, method):
    model, written = deployed
    graph_dir = lg_lang_dir if DECODING_METHODS[method].graph == "LG" else lang_dir
    graph = load_decoding_graph(graph_dir, method, 0.01, model.decoder.vocab_size, "cpu")
    feats, lens = pretrained.compute_features(_waves(wav_dir), RATE)
    with torch.no_grad():
        eager_enc, eager_lens = model.forward_encoder(feats, lens)
    onnx = OnnxTransducer(*_files(written))
    onnx_enc, onnx_lens = onnx.forward_encoder(feats, lens)
    return model, onnx, graph, (eager_enc, eager_lens), (onnx_enc, onnx_lens)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(DECODING_METHODS))
def test_every_method_gives_the_same_ids_on_the_onnx_and_the_eager_model(
        method, deployed, lang_dir, wav_dir, lg_lang_dir):
    model, onnx, graph, eager, ours = _eager_and_onnx(deployed, lang_dir, wav_dir, lg_lang_dir,
                                                      method)
    # the LG methods need a penalty for this barely trained model to emit words at all
    config = DecodingConfig(blank_penalty=2.0 if DECODING_METHODS[method].graph == "LG" else 0)
    refs = [[3, 4, 5]] * 3
    expected = decode(method, model, *eager, config, graph, refs)
    assert all(expected) and len({tuple(h) for h in expected}) > 1
    actual = decode(method, onnx, *ours, config, graph, refs)
    if "nbest" not in method:
        assert actual == expected
        return
    # Sampled n-best answers of this random, flat model are chaotic: a 1e-6 perturbation of the
    # eager encoder output (the size of the ONNX/eager difference) changes them by about a third
    # of their tokens. The ONNX answers must be no further from the eager ones than that.
    torch.manual_seed(0)
    noisy = (eager[0] + 1e-6 * torch.randn_like(eager[0]), eager[1])
    jitter = decode(method, model, *noisy, config, graph, refs)
    edits = [kaldialign.edit_distance(e, a)["total"] for e, a in zip(expected, actual)]
    spread = [kaldialign.edit_distance(e, j)["total"] for e, j in zip(expected, jitter)]
    assert sum(edits) <= 1.5 * sum(spread) + 3, (edits, spread)
    assert sum(edits) < 0.5 * sum(len(e) for e in expected)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search", "fast_beam_search",
                                    "fast_beam_search_LG"])
def test_offline_streaming_and_onnx_run_the_same_step_function(method, deployed, lang_dir,
                                                               wav_dir, lg_lang_dir,
                                                               monkeypatch):
    """The one-implementation rule: offline decoding of the eager model, its chunk-wise
    decoding and the streaming ONNX model's chunk-wise decoding all call the method's one step
    function, and the ONNX model decodes as the eager one in both modes."""
    model, written = deployed
    step_name = {"greedy_search": "greedy_search_step",
                 "modified_beam_search": "modified_beam_search_step"}.get(
                     method, "fast_beam_search_step")
    original = getattr(stream_search, step_name)
    owner = import_module(original.__module__)  # where the offline method looks it up
    assert getattr(owner, step_name) is original
    calls: list[str] = []

    def spy(*args, **kwargs):
        calls.append(type(args[0]).__name__)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, step_name, spy)
    monkeypatch.setattr(stream_search, step_name, spy)
    graph_dir = lg_lang_dir if DECODING_METHODS[method].graph == "LG" else lang_dir
    graph = load_decoding_graph(graph_dir, method, 0.01, model.decoder.vocab_size, "cpu")
    config = DecodingConfig(beam=4.0, max_contexts=4, max_states=32,
                            blank_penalty=2.0 if "LG" in method else 0.0)
    waves = _waves(wav_dir)
    feats, lens = pretrained.compute_features(waves, RATE)
    with torch.no_grad():
        enc, enc_lens = model.forward_encoder(feats, lens)
    decode(method, model, enc, enc_lens, config, graph)
    onnx_streaming = OnnxTransducer(*_files(written, streaming=True), streaming=True)
    streamed = {}
    for name, m in (("eager", model), ("onnx", onnx_streaming)):
        decoder = StreamingDecoder(m, method, config, graph=graph)
        items = [(str(i), feats[i, :n], [], 0.0) for i, n in enumerate(lens.tolist())]
        streamed[name] = {s.cut_id: s.result for s in decoder.run(items, 3)}
    assert calls[0] == "AsrModel" and "OnnxTransducer" in calls
    assert calls.count("AsrModel") > 1  # offline once, streaming once per chunk
    assert streamed["onnx"] == streamed["eager"]
    assert all(streamed["eager"].values())
    assert len({tuple(h) for h in streamed["eager"].values()}) > 1


@pytest.mark.slow
def test_pretrained_decodes_with_onnx_streams_long_files_and_refuses_them_offline(
        deployed, lang_dir, wav_dir):
    model, written = deployed
    names = [str(wav_dir / n) for n in WAV_NAMES]
    tokens = ["--tokens", str(written["tokens"])]

    def run(files, *extra):
        return list(pretrained.main({"sample_rate": RATE}, [
            "--encoder", files[0], "--decoder", files[1], "--joiner", files[2], *tokens,
            *extra, *names]).values())

    offline = run(_files(written), "--method", "modified_beam_search")
    feats, lens = pretrained.compute_features(_waves(wav_dir), RATE)
    with torch.no_grad():
        enc, enc_lens = model.forward_encoder(feats, lens)
    text = pretrained.TokenText(tokens=lang_dir / "tokens.txt")
    expected = [text(h) for h in decode("modified_beam_search", model, enc, enc_lens,
                                        DecodingConfig())]
    assert [t.split() for t in offline] == [t.split() for t in expected]
    # the streaming encoder streams every file: the words of streaming_decode's decoder
    streamed = run(_files(written, streaming=True))
    decoder = StreamingDecoder(model, "greedy_search", DecodingConfig())
    items = [(str(i), feats[i, :n], [], 0.0) for i, n in enumerate(lens.tolist())]
    oracle = {s.cut_id: text(s.result) for s in decoder.run(items, 3)}
    assert [t.split() for t in streamed] == [oracle[str(i)].split() for i in range(3)]
    assert all(streamed)
    # over --max-duration: a non-streaming encoder refuses, naming the file
    with pytest.raises(ValueError, match=r"0_0_0_0_1_1_1_1.wav lasts .* over --max-duration 2 s"
                                         r".*not a streaming model"):
        run(_files(written), "--max-duration", "2")
    assert run(_files(written, streaming=True), "--max-duration", "2") == streamed


def test_padding_value_is_lhotses():
    # features past the end of an utterance: the value training batches are padded with
    x, _ = pretrained.compute_features([np.zeros(800, "float32"), np.zeros(1600, "float32")],
                                       RATE)
    assert float(x[0, -1, 0]) == pytest.approx(LOG_EPSILON)


@pytest.mark.slow
def test_bad_onnx_files_are_named(deployed, lang_dir, wav_dir, tmp_path):
    _, written = deployed
    encoder, decoder, joiner = _files(written)
    s_encoder, s_decoder, s_joiner = _files(written, streaming=True)
    with pytest.raises(ValueError, match=r"ONNX encoder .*decoder-epoch-1-avg-1.onnx is a "
                                         r"decoder model"):
        OnnxTransducer(decoder, decoder, joiner)
    with pytest.raises(ValueError, match=r"ONNX joiner .*decoder-epoch-1-avg-1.onnx is a "
                                         r"decoder model"):
        OnnxTransducer(encoder, decoder, decoder)
    with pytest.raises(ValueError, match=r"chunk-16-left-64.onnx is a streaming encoder"):
        OnnxTransducer(s_encoder, s_decoder, s_joiner, streaming=False)
    with pytest.raises(ValueError, match=r"avg-1.onnx is a non-streaming encoder"):
        OnnxTransducer(encoder, decoder, joiner, streaming=True)
    with pytest.raises(ValueError, match=r"avg-1.onnx is a non-streaming encoder: chunk-wise"):
        StreamingDecoder(OnnxTransducer(encoder, decoder, joiner), "greedy_search",
                         DecodingConfig())
    with pytest.raises(ValueError, match=r"is a streaming encoder: decode chunk by chunk"):
        OnnxTransducer(s_encoder, s_decoder, s_joiner).forward_encoder(
            torch.zeros(1, 50, 80), torch.tensor([50]))
    truncated = tmp_path / "encoder-truncated.onnx"
    data = open(encoder, "rb").read()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"encoder-truncated.onnx is not a loadable ONNX model"):
        OnnxTransducer(truncated, decoder, joiner)
    short = tmp_path / "tokens-short.txt"
    short.write_text("".join(f"t{i} {i}\n" for i in range(10)))
    with pytest.raises(ValueError, match=r"tokens-short.txt has 10 tokens but the model has "
                                         r"vocab_size 14"):
        pretrained.main({"sample_rate": RATE}, [
            "--encoder", encoder, "--decoder", decoder, "--joiner", joiner, "--tokens",
            str(short), str(wav_dir / WAV_NAMES[0])])


def test_sherpa_tokens_render_the_pause_piece_as_a_word_break(tmp_path):
    from icefall_lite.models.export import write_sherpa_tokens

    src = tmp_path / "tokens.txt"
    src.write_text("<blk> 0\n<sil> 1\n\u2581YES 2\n\u2581NO 3\n#0 4\n")
    dst = write_sherpa_tokens(src, tmp_path / "out.txt", vocab_size=4)
    assert dst.read_text() == "<blk> 0\n\u2581 1\n\u2581YES 2\n\u2581NO 3\n"
    # what sherpa-onnx and pretrained.py print for "YES <sil> NO": the words only
    assert pretrained.TokenText(tokens=dst)([2, 1, 3, 1]) == "YES NO"
    with pytest.raises(ValueError, match=r"tokens.txt has 4 tokens .* vocab_size is 5"):
        write_sherpa_tokens(src, tmp_path / "x.txt", vocab_size=5)
