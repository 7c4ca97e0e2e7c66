"""int8 export: the default quantisation (:data:`DEFAULT_INT8`) is what the written graph holds,
read back from the ONNX files with ``onnx`` and checked against the fp32 weights: every
constant-weight MatMul / Gemm of the fp32 file became an integer MatMul with uint8 weights and
one scale and zero point per output column, whose dequantised weights are the fp32 weights to
within half a step; the quantised encoder still computes the fp32 encoder's output."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from icefall_lite.models import build_model
from icefall_lite.models.export import DEFAULT_INT8, Int8Config, export_onnx, quantize_onnx
from icefall_lite.runtime import OnnxTransducer
from tests.models.model_helpers import small_config


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """fp32 offline files of a tiny model and their default int8 copies."""
    torch.manual_seed(0)
    model = build_model(small_config(causal=True)).eval()
    out = tmp_path_factory.mktemp("int8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes
        fp32 = export_onnx(model, out)
    int8 = {part: quantize_onnx(path, path.with_suffix(".int8.onnx"))
            for part, path in fp32.items()}
    return fp32, int8


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _weighted_matmuls(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """{weight name: weight as (K, N)} of the float MatMul / Gemm nodes with a constant
    weight."""
    inits = _initializers(model)
    out = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            out[node.input[1]] = inits[node.input[1]]
        elif node.op_type == "Gemm" and node.input[1] in inits:
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            w = inits[node.input[1]]
            out[node.input[1]] = w.T if trans_b else w
    return out


@pytest.mark.parametrize("part", ["encoder", "decoder", "joiner"])
def test_default_int8_quantises_every_weight_per_channel_as_uint8(files, part):
    fp32_paths, int8_paths = files
    fp32, int8 = onnx.load(fp32_paths[part]), onnx.load(int8_paths[part])
    weights = _weighted_matmuls(fp32)
    assert weights, f"{part}: no constant-weight MatMul in the fp32 file"
    assert not _weighted_matmuls(int8), "a float MatMul with a constant weight is left"
    inits = _initializers(int8)
    integer = [n for n in int8.graph.node if n.op_type == "MatMulInteger"]
    assert len(integer) == len(weights)
    assert sum(n.op_type == "DynamicQuantizeLinear" for n in int8.graph.node) >= 1
    for node in integer:
        q, zero = inits[node.input[1]], inits[node.input[3]]
        name = node.input[1].removesuffix("_quantized")
        w = weights[name]
        scale = inits[f"{name}_scale"]
        k, n = w.shape
        assert q.dtype == np.uint8 and zero.dtype == np.uint8 and q.shape == (k, n)
        # per channel: one scale and zero point per output column
        assert scale.shape == (n,) and zero.shape == (n,)
        restored = (q.astype(np.float32) - zero.astype(np.float32)) * scale
        assert np.all(np.abs(restored - w) <= 0.5 * scale + 1e-6 * np.abs(w).max())
        # a per-column scale follows its column's range (uint8: 255 steps cover it, 0 included)
        span = np.maximum(w.max(0), 0) - np.minimum(w.min(0), 0)
        np.testing.assert_allclose(scale, span / 255, rtol=1e-3, atol=1e-9)


def test_int8_encoder_computes_the_fp32_encoder_output(files):
    fp32_paths, int8_paths = files
    fp32 = OnnxTransducer(*(fp32_paths[p] for p in ("encoder", "decoder", "joiner")))
    int8 = OnnxTransducer(*(int8_paths[p] for p in ("encoder", "decoder", "joiner")))
    torch.manual_seed(1)
    x, x_lens = torch.randn(2, 60, 80), torch.tensor([60, 45])
    a, a_lens = fp32.forward_encoder(x, x_lens)
    b, b_lens = int8.forward_encoder(x, x_lens)
    assert torch.equal(a_lens, b_lens)
    err = float((b - a).norm() / a.norm())
    assert 0 < err < 0.05, err  # quantised (not a copy), and close


def test_int8_config_and_missing_file_are_clear_errors(tmp_path):
    assert DEFAULT_INT8 == Int8Config(per_channel=True, weight_type="QUInt8")
    with pytest.raises(ValueError, match="weight_type"):
        Int8Config(weight_type="int8")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        quantize_onnx(tmp_path / "missing.onnx", tmp_path / "out.onnx")
