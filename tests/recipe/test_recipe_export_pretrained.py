"""export.py and pretrained.py: the exported files hold the averaged model, and pretrained.py
(checkpoint, TorchScript and ONNX) transcribes wavs as the library decoding path does."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import sentencepiece as spm
import soundfile as sf
import torch
from lhotse import Recording
from lhotse.utils import LOG_EPSILON

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.beam_search import modified_beam_search
from icefall_lite.decoding.fast_beam_search import fast_beam_search_one_best
from icefall_lite.decoding.greedy import greedy_search_batch
from icefall_lite.recipe import export, pretrained
from tests.recipe.conftest import TINY_ARGS, WAV_NAMES

YESNO_RATE = 8000


@pytest.fixture(scope="module")
def exported(offline_exp, lang_dir):
    """export.py --epoch 2 --avg 2 --use-averaged-model 0 --jit 1 --onnx 1."""
    exp, _ = offline_exp
    written = export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)}, [
        "--epoch", "2", "--avg", "2", "--use-averaged-model", "0", "--jit", "1", "--onnx", "1",
        *TINY_ARGS,
    ])
    return written


@pytest.fixture(scope="module")
def library_tokens(offline_exp, wav_dir):
    """Oracle: features as the fbank stage makes them (lhotse cuts + the training extractor,
    padded with lhotse's LOG_EPSILON as training batches) through the model averaged here,
    its forward_encoder; returns (model, encoder_out, lengths) for the library's searches."""
    _, models = offline_exp
    averaged = _average_model(models)
    cuts = [Recording.from_file(wav_dir / n).to_cut() for n in WAV_NAMES]
    extractor = make_fbank_extractor(80, sampling_rate=YESNO_RATE)
    feats = [torch.from_numpy(c.compute_features(extractor)) for c in cuts]
    lens = torch.tensor([f.size(0) for f in feats])
    feats = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=LOG_EPSILON)
    with torch.no_grad():
        enc, enc_lens = averaged.forward_encoder(feats, lens)
    return averaged, enc, enc_lens


def _average_model(models):
    import copy

    averaged = copy.deepcopy(models[0])
    states = [m.state_dict() for m in models]
    averaged.load_state_dict({k: (states[0][k] + states[1][k]) / 2
                              if states[0][k].is_floating_point() else states[0][k]
                              for k in states[0]})
    return averaged.eval()


def _text(lang_dir, ids):
    return spm.SentencePieceProcessor(model_file=str(lang_dir / "bpe.model")).decode(ids)


def _run(lang_dir, wav_dir, extra, names=WAV_NAMES):
    return pretrained.main({"sample_rate": YESNO_RATE}, [
        *extra, "--bpe-model", str(lang_dir / "bpe.model"), *[str(wav_dir / n) for n in names]])


def test_export_writes_the_average_of_the_epochs_as_pretrained_pt(exported, offline_exp):
    _, models = offline_exp
    state = torch.load(exported["pretrained"], map_location="cpu")["model"]
    a, b = models[0].state_dict(), models[1].state_dict()
    assert set(state) == set(a)
    for name, value in state.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (a[name] + b[name]) / 2)


def test_export_writes_jit_onnx_and_tokens(exported, offline_exp, lang_dir):
    exp, _ = offline_exp
    assert exported["jit"] == exp / "jit_script.pt"
    for part in ("encoder", "decoder", "joiner"):
        assert exported[part] == exp / f"{part}-epoch-2-avg-2.onnx"
        assert exported[part].stat().st_size > 1000
    assert (exp / "tokens.txt").read_text() == (lang_dir / "tokens.txt").read_text()
    assert not any(k.endswith("_streaming") for k in exported)  # not a causal model


def _model_args(exported) -> dict[str, list[str]]:
    """pretrained.py's model options for the checkpoint, the jit model and the ONNX models."""
    return {
        "checkpoint": ["--checkpoint", str(exported["pretrained"]), *TINY_ARGS],
        "jit": ["--nn-model", str(exported["jit"])],
        "onnx": ["--encoder", str(exported["encoder"]), "--decoder", str(exported["decoder"]),
                 "--joiner", str(exported["joiner"])],
    }


def test_pretrained_checkpoint_jit_and_onnx_give_the_library_greedy_text(
        exported, library_tokens, lang_dir, wav_dir):
    averaged, enc, enc_lens = library_tokens
    expected = [_text(lang_dir, h) for h in greedy_search_batch(averaged, enc, enc_lens)]
    assert all(expected) and len(set(expected)) == len(expected)  # non-trivial oracle
    exp = exported["pretrained"].parent
    runs = _model_args(exported)
    for kind, extra in runs.items():
        result = _run(lang_dir, wav_dir, extra)
        assert list(result.values()) == expected, kind
    # tokens.txt instead of the BPE model gives the same words
    result = pretrained.main({"sample_rate": YESNO_RATE}, [
        "--nn-model", str(exported["jit"]), "--tokens", str(exp / "tokens.txt"),
        *[str(wav_dir / n) for n in WAV_NAMES]])
    assert [t.split() for t in result.values()] == [t.split() for t in expected]


def test_pretrained_blank_penalty_reaches_checkpoint_jit_and_onnx(exported, library_tokens,
                                                                lang_dir, wav_dir):
    averaged, enc, enc_lens = library_tokens
    p = 3.0
    expected = [_text(lang_dir, h)
                for h in greedy_search_batch(averaged, enc, enc_lens, blank_penalty=p)]
    plain = [_text(lang_dir, h) for h in greedy_search_batch(averaged, enc, enc_lens)]
    assert expected != plain  # the penalty changes this model's output
    runs = _model_args(exported)
    for kind, extra in runs.items():
        result = _run(lang_dir, wav_dir, [*extra, "--blank-penalty", str(p)])
        assert list(result.values()) == expected, kind


@pytest.mark.parametrize("method", ["modified_beam_search", "fast_beam_search"])
def test_pretrained_beam_methods_match_the_library(method, exported, library_tokens, lang_dir,
                                                   wav_dir):
    from icefall_lite import k2

    averaged, enc, enc_lens = library_tokens
    if method == "modified_beam_search":
        hyps = modified_beam_search(averaged, enc, enc_lens, beam_size=4)
    else:
        graph = k2.trivial_graph(averaged.decoder.vocab_size - 1)
        hyps = fast_beam_search_one_best(averaged, graph, enc, enc_lens, beam=20.0,
                                         max_states=64, max_contexts=8)
    result = _run(lang_dir, wav_dir, ["--nn-model", str(exported["jit"]), "--method", method])
    assert list(result.values()) == [_text(lang_dir, h) for h in hyps]


def test_pretrained_lg_decoding_matches_the_library(exported, library_tokens, lg_lang_dir,
                                                    lang_dir, wav_dir):
    from icefall_lite import k2
    from icefall_lite.decoding.lattice import scale_graph
    from icefall_lite.recipe.common import read_word_table

    averaged, enc, enc_lens = library_tokens
    LG = k2.Fsa.from_dict(torch.load(lg_lang_dir / "LG.pt", map_location="cpu"))
    # This barely trained model's best LG path is empty for all three wavs; a blank penalty
    # (passed to both sides) makes it emit words, so the comparison below is not vacuous.
    hyps = fast_beam_search_one_best(averaged, scale_graph(LG, 0.01), enc, enc_lens, beam=20.0,
                                     max_states=64, max_contexts=8, blank_penalty=2.0)
    words = read_word_table(lg_lang_dir)
    expected = [" ".join(words[i] for i in h) for h in hyps]
    assert all(expected) and set(" ".join(expected).split()) <= {"YES", "NO"}
    result = _run(lang_dir, wav_dir, ["--nn-model", str(exported["jit"]), "--method",
                                      "fast_beam_search_LG", "--lang-dir", str(lg_lang_dir),
                                      "--blank-penalty", "2.0"])
    assert list(result.values()) == expected


def test_a_wav_at_another_rate_is_resampled_with_a_log_line(exported, lang_dir, wav_dir,
                                                            tmp_path, caplog):
    samples, rate = sf.read(wav_dir / WAV_NAMES[0], dtype="float32")
    assert rate == YESNO_RATE
    path = tmp_path / "at16k.wav"
    sf.write(path, Recording.from_file(wav_dir / WAV_NAMES[0]).resample(16000).load_audio()[0],
             16000)
    with caplog.at_level(logging.WARNING):
        result = _run(lang_dir, tmp_path, ["--nn-model", str(exported["jit"])],
                      names=["at16k.wav"])
    assert "sample rate 16000 Hz, the model expects 8000 Hz: resampling" in caplog.text
    # 8 kHz -> 16 kHz -> 8 kHz is nearly the original signal: about the same fbank
    back = pretrained.read_sound_file(path, YESNO_RATE)
    n = min(len(back), len(samples))
    assert np.abs(back[:n] - samples[:n])[200:-200].max() < 0.05 * np.abs(samples).max()
    assert list(result.values())[0]


def test_bad_inputs_give_clear_messages(exported, lang_dir, wav_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint.*not found.*missing.pt"):
        _run(lang_dir, wav_dir, ["--checkpoint", str(tmp_path / "missing.pt"), *TINY_ARGS])
    with pytest.raises(ValueError, match="--decoder-dim 32 contradicts .*pretrained.pt, whose "
                                         "model has --decoder-dim 64"):
        _run(lang_dir, wav_dir, ["--checkpoint", str(exported["pretrained"]), *TINY_ARGS,
                                 "--decoder-dim", "32"])
    no_lg = tmp_path / "lang_without_lg"
    no_lg.mkdir()
    with pytest.raises(FileNotFoundError,
                       match=r"LG.pt \(needed by fast_beam_search_LG.*not found: .*LG.pt"):
        _run(lang_dir, wav_dir, ["--nn-model", str(exported["jit"]), "--method",
                                 "fast_beam_search_LG", "--lang-dir", str(no_lg)])
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"this is not audio" * 10)
    with pytest.raises(ValueError, match="cannot read sound file .*noise.wav"):
        _run(lang_dir, tmp_path, ["--nn-model", str(exported["jit"])], names=["noise.wav"])
    with pytest.raises(FileNotFoundError, match="sound file not found"):
        _run(lang_dir, tmp_path, ["--nn-model", str(exported["jit"])], names=["absent.wav"])
    with pytest.raises(ValueError, match="exactly one of --checkpoint"):
        _run(lang_dir, wav_dir, [])


def test_export_of_a_missing_epoch_names_the_file(offline_exp, lang_dir):
    exp, _ = offline_exp
    with pytest.raises(FileNotFoundError, match="epoch-7.pt"):
        export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)},
                    ["--epoch", "7", "--avg", "1", "--use-averaged-model", "0", *TINY_ARGS])


def test_export_of_a_causal_model_adds_streaming_jit_and_onnx(causal_exp, lang_dir):
    from icefall_lite.runtime import OnnxTransducer

    exp, model = causal_exp
    written = export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)}, [
        "--epoch", "1", "--avg", "1", "--use-averaged-model", "0", "--jit", "1", "--onnx", "1",
        "--causal", "1", "--chunk-size", "16", "--left-context-frames", "64", *TINY_ARGS])
    assert written["jit_streaming"] == exp / "jit_script_chunk_16_left_64.pt"
    assert written["encoder_streaming"] == exp / "encoder-epoch-1-avg-1-chunk-16-left-64.onnx"
    # the exported streaming encoder computes the eager model's chunks (oracle: the model)
    x = torch.randn(1, 2 * 16 + 13, 80)
    x_lens = torch.tensor([x.size(1)])
    with torch.no_grad():
        expected, _, _ = model.streaming_forward_encoder(x, x_lens, model.get_init_states(1))
    scripted = torch.jit.load(str(written["jit_streaming"]))
    out, _, _ = scripted(x, x_lens, scripted.get_init_states(1))
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    onnx_model = OnnxTransducer(written["encoder_streaming"], written["decoder_streaming"],
                                written["joiner_streaming"], streaming=True)
    onnx_out, _, _ = onnx_model.streaming_forward_encoder(x, x_lens,
                                                          onnx_model.get_init_states(1))
    with torch.no_grad():
        projected = model.joiner.encoder_proj(expected)
    torch.testing.assert_close(onnx_out, projected, atol=1e-3, rtol=1e-3)


def test_export_of_a_causal_model_at_full_context_skips_the_streaming_models(causal_exp,
                                                                            lang_dir):
    exp, model = causal_exp
    written = export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)}, [
        "--epoch", "1", "--avg", "1", "--use-averaged-model", "0", "--jit", "1",
        "--causal", "1", "--chunk-size", "-1", "--left-context-frames", "-1", *TINY_ARGS])
    assert "jit_streaming" not in written and written["jit"] == exp / "jit_script.pt"
    # oracle: the eager model with full-context attention (chunk size -1)
    full = copy.deepcopy(model)
    full.encoder.chunk_size = [-1]
    full.encoder.left_context_frames = [-1]
    x, x_lens = torch.randn(1, 150, 80), torch.tensor([150])
    with torch.no_grad():
        expected, _ = full.forward_encoder(x, x_lens)
        chunked, _ = model.forward_encoder(x, x_lens)
        actual, _ = torch.jit.load(str(written["jit"])).encoder(x, x_lens)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert (chunked - expected).abs().max() > 1e-3  # the chunk mask matters for this input


def test_token_text_drops_the_sil_piece_with_a_bpe_model_and_with_tokens_txt(tmp_path):
    # a model trained with <sil> between words (yesno's lang dir) prints only the words
    from icefall_lite.lang.bpe import train_bpe_model, write_bpe_tokens

    (tmp_path / "t.txt").write_text("YES NO NO\nNO YES\nYES YES NO\n" * 5)
    model = train_bpe_model(tmp_path / "t.txt", tmp_path / "bpe.model", 15, model_type="bpe",
                            sil_piece=True)
    write_bpe_tokens(model, tmp_path / "tokens.txt")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    sil = sp.piece_to_id("<sil>")
    assert sp.id_to_piece(sil) == "<sil>"
    ids = [sil, *sp.encode("YES"), sil, *sp.encode("NO"), sil, *sp.encode("NO")]
    assert pretrained.TokenText(bpe_model=model)(ids) == "YES NO NO"
    assert pretrained.TokenText(tokens=tmp_path / "tokens.txt")(ids) == "YES NO NO"
