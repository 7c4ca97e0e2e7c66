"""Dynamic int8 quantisation of exported ONNX files (``export.py --onnx-int8 1``).

:func:`quantize_onnx` writes a copy of an fp32 file whose MatMul weights are stored as 8-bit
integers with a scale and zero point per output column (``per_channel``); at run time
onnxruntime quantises each MatMul's input to uint8 on the fly (``DynamicQuantizeLinear``, one
scale per call) and multiplies in integers (``MatMulInteger``). Metadata is kept, so
sherpa-onnx and :mod:`icefall_lite.runtime` load the copy as they load the float file.

Why these defaults (:data:`DEFAULT_INT8`: per-channel, unsigned weights, MatMul only): on the
AN4 dev set they gave the encoder output closest to fp32 of the settings tried (relative RMS
error 1.08 %, against 1.22 % for icefall's per-tensor signed weights and 1.96 % for per-channel
signed weights; bench/int8_an4.py, docs/deployment.rst). Signed weights getting *worse* with
per-channel scales is most likely the uint8 x int8 kernels of x86 CPUs without VNNI: they add
pairs of products in 16 bits with saturation (as onnxruntime documents), and per-channel scales
use the full int8 range, so more pairs saturate. uint8 x uint8 products are accumulated in 32
bits and do not saturate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_INT8", "Int8Config", "quantize_onnx"]

WEIGHT_TYPES = ("QUInt8", "QInt8")


@dataclass(frozen=True)
class Int8Config:
    """Settings of onnxruntime's ``quantize_dynamic``.

    Attributes:
      per_channel: one scale / zero point per output column of each weight (else one per
        weight matrix).
      weight_type: ``"QUInt8"`` (uint8 weights) or ``"QInt8"`` (int8 weights).
      reduce_range: 7-bit weights (avoids the saturation of signed weights, costs precision).
      op_types: node types whose constant weights are quantised (Gemm nodes are rewritten as
        MatMul first, so ``"MatMul"`` covers the linear layers).
    """

    per_channel: bool = True
    weight_type: str = "QUInt8"
    reduce_range: bool = False
    op_types: tuple[str, ...] = ("MatMul",)

    def __post_init__(self) -> None:
        if self.weight_type not in WEIGHT_TYPES:
            raise ValueError(f"Int8Config.weight_type must be one of {WEIGHT_TYPES}, got "
                             f"{self.weight_type!r}")


#: What ``export.py --onnx-int8 1`` uses (chosen on AN4 dev; see the module docstring).
DEFAULT_INT8 = Int8Config()


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike,
                  config: Int8Config = DEFAULT_INT8) -> Path:
    """A dynamically quantised copy of ``src`` at ``dst`` (see the module docstring); returns
    ``dst``. FileNotFoundError naming ``src`` when it does not exist."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"ONNX file to quantise not found: {src}")
    quantize_dynamic(model_input=str(src), model_output=str(dst),
                     op_types_to_quantize=list(config.op_types),
                     per_channel=config.per_channel, reduce_range=config.reduce_range,
                     weight_type=getattr(QuantType, config.weight_type))
    logging.info("Saved %s (%s)", dst, config)
    return dst
