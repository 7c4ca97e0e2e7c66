"""Export: the TorchScript and ONNX models reproduce the eager model's encoder output and greedy
transcripts; pretrained.pt round-trips. One tiny causal model serves every test (ONNX export is
the slow part), exported non-streaming and streaming."""

from __future__ import annotations

import warnings

import pytest
import torch

from icefall_lite.decoding.greedy import greedy_search_batch
from icefall_lite.models import build_model
from icefall_lite.models.export import (
    SHERPA_EMBED_CHANNELS,
    export_jit,
    export_onnx,
    export_pretrained,
    onnx_state_names,
)
from icefall_lite.runtime import OnnxTransducer, TorchScriptTransducer
from tests.models.model_helpers import random_batch, small_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(small_config(causal=True)).eval()
    with torch.no_grad():
        # a sharper joiner so that random inputs give varied, non-blank transcripts
        model.joiner.encoder_proj.weight.mul_(5.0)
        model.joiner.output_linear.weight.mul_(20.0)
        model.joiner.output_linear.bias.zero_()
    out = tmp_path_factory.mktemp("export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes we rely on
        onnx_paths = export_onnx(model, out / "onnx")
        streaming_paths = export_onnx(model, out / "onnx-streaming", streaming=True)
    return model, out, onnx_paths, streaming_paths


def _eager_greedy(model, x, x_lens):
    """The decoding library's batched greedy search on the eager model."""
    encoder_out, encoder_out_lens = model.forward_encoder(x, x_lens)
    return greedy_search_batch(model, encoder_out, encoder_out_lens)


def test_scripted_model_matches_eager_encoder_and_transcripts(exported, tmp_path):
    model, _, _, _ = exported
    export_jit(model, tmp_path / "jit_script.pt")
    scripted = TorchScriptTransducer(tmp_path / "jit_script.pt")
    # the decoding library reads these from the scripted decoder
    assert (scripted.decoder.blank_id, scripted.decoder.context_size,
            scripted.decoder.vocab_size) == (0, 2, 10)
    x, x_lens = random_batch([137, 90])
    with torch.no_grad():
        expected, expected_lens = model.forward_encoder(x, x_lens)
        actual, actual_lens = scripted.forward_encoder(x, x_lens)
        torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
        assert torch.equal(actual_lens, expected_lens)
        eager_hyps = _eager_greedy(model, x, x_lens)
        scripted_hyps = greedy_search_batch(scripted, actual, actual_lens)
    assert scripted_hyps == eager_hyps
    assert len(set(eager_hyps[0] + eager_hyps[1])) > 1


def test_scripted_streaming_model_matches_eager_streaming(exported, tmp_path):
    model, _, _, _ = exported
    scripted = export_jit(model, tmp_path / "jit_streaming.pt", streaming=True)
    x, _ = random_batch([2 * 16 * 3 + 13])
    eager_states = model.get_init_states(1)
    scripted_states = scripted.get_init_states(1, torch.device("cpu"))
    with torch.no_grad():
        for k in range(3):
            piece = x[:, 32 * k : 32 * k + 45]
            lens = torch.tensor([45])
            expected, _, eager_states = model.streaming_forward_encoder(piece, lens, eager_states)
            actual, _, scripted_states = scripted.encoder(piece, lens, scripted_states)
            torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_onnx_models_match_eager_encoder_and_transcripts(exported):
    model, _, paths, _ = exported
    onnx_model = OnnxTransducer(paths["encoder"], paths["decoder"], paths["joiner"])
    assert onnx_model.metadata["model_type"] == "zipformer2"
    assert onnx_model.metadata["encoder_dims"] == "32,32,48,48,32,32"
    x, x_lens = random_batch([137, 90])  # not the length or batch size used for export
    with torch.no_grad():
        expected, expected_lens = model.forward_encoder(x, x_lens)
        expected = model.joiner.encoder_proj(expected)
        eager_hyps = _eager_greedy(model, x, x_lens)
    actual, actual_lens = onnx_model.forward_encoder(x, x_lens)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(actual_lens, expected_lens)
    assert greedy_search_batch(onnx_model, actual, actual_lens) == eager_hyps


def test_streaming_onnx_encoder_matches_eager_streaming(exported):
    model, _, _, paths = exported
    encoder = OnnxTransducer(paths["encoder"], paths["decoder"], paths["joiner"],
                             streaming=True)
    meta = encoder.metadata
    assert meta["decode_chunk_len"] == "32" and meta["T"] == "45"
    assert meta["left_context_len"] == "32,16,8,4,8,16"
    names = [i.name for i in encoder.encoder_session.get_inputs()]
    assert names == ["x", *onnx_state_names(model.encoder)]
    batch_size = 2
    eager_states = model.get_init_states(batch_size)
    onnx_states = encoder.get_init_states(batch_size)
    # sherpa-onnx's layout: the front end's cache always has 128 channels (zero-padded here)
    embed = eager_states[-2]
    assert tuple(onnx_states[-2].shape) == (batch_size, SHERPA_EMBED_CHANNELS, *embed.shape[2:])
    for eager, onnx in zip(eager_states[:-2] + eager_states[-1:],
                           onnx_states[:-2] + onnx_states[-1:]):
        assert eager.shape == onnx.shape and not onnx.any()
    x, _ = random_batch([32 * 4 + 13] * batch_size)
    with torch.no_grad():
        for k in range(4):  # the 32-frame left context (2 chunks) rolls over
            piece = x[:, 32 * k : 32 * k + 45]
            lens = torch.full((batch_size,), 45)
            expected, _, eager_states = model.streaming_forward_encoder(piece, lens, eager_states)
            actual, _, onnx_states = encoder.streaming_forward_encoder(piece, lens, onnx_states)
            torch.testing.assert_close(actual, model.joiner.encoder_proj(expected),
                                       atol=1e-4, rtol=1e-4)


def test_pretrained_state_dict_round_trips(exported, tmp_path):
    model, _, _, _ = exported
    path = export_pretrained(model, tmp_path / "pretrained.pt")
    checkpoint = torch.load(path, map_location="cpu")
    assert list(checkpoint) == ["model"]
    fresh = build_model(small_config(causal=True)).eval()
    fresh.load_state_dict(checkpoint["model"])
    x, x_lens = random_batch([80])
    with torch.no_grad():
        torch.testing.assert_close(fresh.forward_encoder(x, x_lens)[0],
                                   model.forward_encoder(x, x_lens)[0])


def test_streaming_export_needs_a_causal_model(tmp_path):
    model = build_model(small_config(causal=False))
    with pytest.raises(ValueError, match="causal"):
        export_jit(model, tmp_path / "x.pt", streaming=True)
