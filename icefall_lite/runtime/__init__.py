"""Deployed models behind the eager model's interface: ONNX through onnxruntime
(:class:`OnnxTransducer`, fp32 or int8), TorchScript (:class:`TorchScriptTransducer`), and
the eager :class:`~icefall_lite.models.asr_model.AsrModel` itself.

Each offers ``decoder`` (``blank_id``, ``context_size``, ``vocab_size``; ``decoder(y,
need_pad=False) -> [N, 1, D]``), ``joiner`` (``encoder_proj``, ``decoder_proj``, ``joiner(enc,
dec, project_input=False)``) and ``forward_encoder`` (offline) or ``get_init_states`` +
``streaming_forward_encoder`` (streaming), so every method of :mod:`icefall_lite.decoding` runs
on each, offline (:func:`icefall_lite.decoding.decode`) and chunk by chunk
(:class:`icefall_lite.recipe.streaming_decode.StreamingDecoder`).

Example::

    model = OnnxTransducer("encoder.int8.onnx", "decoder.int8.onnx", "joiner.int8.onnx")
    enc, lens = model.forward_encoder(features, feature_lens)
    hyps = decode("fast_beam_search_nbest", model, enc, lens, graph=graph)
"""

from icefall_lite.runtime.onnx import OnnxTransducer, onnx_file_kind, open_session
from icefall_lite.runtime.states import (
    model_device,
    stack_states,
    state_batch_axes,
    streaming_geometry,
    unstack_states,
)
from icefall_lite.runtime.torchscript import TorchScriptTransducer

__all__ = [
    "OnnxTransducer",
    "TorchScriptTransducer",
    "model_device",
    "onnx_file_kind",
    "open_session",
    "stack_states",
    "state_batch_axes",
    "streaming_geometry",
    "unstack_states",
]
