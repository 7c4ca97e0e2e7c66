"""Running exported transducers with onnxruntime, and the greedy search used to check exports.

- :func:`greedy_search` - greedy transducer search over one utterance, given callables for the
  (projected) decoder and joiner, so the eager, TorchScript and ONNX models share one loop;
- :class:`OnnxTransducer` - sessions of the non-streaming files of
  :func:`~icefall_lite.models.export.export_onnx` with ``greedy_search`` over a batch;
- :class:`OnnxStreamingEncoder` - the streaming encoder file: zero states and one chunk per call;
- :func:`onnx_state_names` - the names of the streaming encoder's state inputs.

Example::

    model = OnnxTransducer("exp/encoder.onnx", "exp/decoder.onnx", "exp/joiner.onnx")
    token_ids = model.greedy_search(features, feature_lens)   # list of lists of ints
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from icefall_lite.decoding.greedy import initial_context, penalize_blank
from icefall_lite.models.zipformer import Zipformer2

__all__ = [
    "LAYER_STATE_NAMES",
    "OnnxStreamingEncoder",
    "OnnxTransducer",
    "greedy_search",
    "onnx_state_names",
    "onnx_streaming_state_names",
]

LAYER_STATE_NAMES = (
    "cached_key", "cached_nonlin_attn", "cached_val1", "cached_val2", "cached_conv1",
    "cached_conv2",
)


def greedy_search(
    encoder_out: Tensor,
    run_decoder: Callable[[Tensor], Tensor],
    run_joiner: Callable[[Tensor, Tensor], Tensor],
    blank_id: int,
    context_size: int,
    max_sym_per_frame: int = 1,
    blank_penalty: float = 0.0,
) -> list[int]:
    """Greedy transducer search over one utterance.

    Args:
      encoder_out: (T, J) encoder output already projected by ``joiner.encoder_proj``.
      run_decoder: (1, context_size) int64 ids -> (1, J) projected decoder output.
      run_joiner: (1, J), (1, J) -> (1, V) logits.
      blank_id: blank. max_sym_per_frame: symbols per frame.
      blank_penalty: subtracted from the blank logit (icefall's ``--blank-penalty``).
    The search starts from the eager decoders' context ``[-1, ..., -1, blank]``
    (:func:`~icefall_lite.decoding.greedy.initial_context`), so it gives the same tokens as
    :func:`~icefall_lite.decoding.greedy.greedy_search_batch`.
    Returns the token ids (blank removed).
    """
    hyp = initial_context(context_size, blank_id)
    decoder_out = run_decoder(torch.tensor([hyp[-context_size:]], dtype=torch.int64))
    for t in range(encoder_out.size(0)):
        frame = encoder_out[t : t + 1]
        for _ in range(max_sym_per_frame):
            logits = penalize_blank(run_joiner(frame, decoder_out), blank_id, blank_penalty)
            token = int(logits.argmax(dim=-1)[0])
            if token == blank_id:
                break
            hyp.append(token)
            decoder_out = run_decoder(torch.tensor([hyp[-context_size:]], dtype=torch.int64))
    return hyp[context_size:]


def onnx_state_names(encoder: Zipformer2) -> list[str]:
    """Names of the streaming states: ``cached_key_0`` ... per layer, then ``embed_states`` and
    ``processed_lens`` (the order of ``get_init_states``)."""
    num_layers = sum(encoder.num_encoder_layers)
    return _names_for_layers(num_layers)


def _names_for_layers(num_layers: int) -> list[str]:
    names = [f"{name}_{i}" for i in range(num_layers) for name in LAYER_STATE_NAMES]
    return [*names, "embed_states", "processed_lens"]


def onnx_streaming_state_names(metadata: dict[str, str]) -> list[str]:
    """The state names of a streaming encoder file, from its metadata."""
    return _names_for_layers(sum(int(v) for v in metadata["num_encoder_layers"].split(",")))


def _session(path: str | os.PathLike, num_threads: int):
    import onnxruntime as ort  # noqa: PLC0415 - optional dependency

    options = ort.SessionOptions()
    options.inter_op_num_threads = num_threads
    options.intra_op_num_threads = num_threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxTransducer:
    """onnxruntime sessions of the non-streaming files written by ``export_onnx``.

    Example::

        model = OnnxTransducer("exp/encoder.onnx", "exp/decoder.onnx", "exp/joiner.onnx")
        token_ids = model.greedy_search(features, feature_lens)
    """

    def __init__(self, encoder: str | os.PathLike, decoder: str | os.PathLike,
                 joiner: str | os.PathLike, num_threads: int = 1):
        self.encoder = _session(encoder, num_threads)
        self.decoder = _session(decoder, num_threads)
        self.joiner = _session(joiner, num_threads)
        meta = self.encoder.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        self.context_size = int(meta["context_size"])
        self.blank_id = int(meta["blank_id"])

    def run_encoder(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, T, F), x_lens: (N,) -> projected encoder_out (N, T2, J), lengths."""
        out, out_lens = self.encoder.run(
            None, {"x": x.float().cpu().numpy(), "x_lens": x_lens.long().cpu().numpy()}
        )
        return torch.from_numpy(out), torch.from_numpy(out_lens)

    def run_decoder(self, y: Tensor) -> Tensor:
        """y: (N, context_size) int64 -> (N, J)."""
        (out,) = self.decoder.run(None, {"y": y.long().cpu().numpy()})
        return torch.from_numpy(out)

    def run_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        """(N, J), (N, J) -> logits (N, V)."""
        (out,) = self.joiner.run(None, {"encoder_out": encoder_out.float().cpu().numpy(),
                                        "decoder_out": decoder_out.float().cpu().numpy()})
        return torch.from_numpy(out)

    def greedy_search(self, x: Tensor, x_lens: Tensor,
                      blank_penalty: float = 0.0) -> list[list[int]]:
        """Greedy search of each utterance of the batch; returns token ids per utterance."""
        encoder_out, encoder_out_lens = self.run_encoder(x, x_lens)
        return [
            greedy_search(encoder_out[i, : int(encoder_out_lens[i])], self.run_decoder,
                          self.run_joiner, self.blank_id, self.context_size,
                          blank_penalty=blank_penalty)
            for i in range(encoder_out.size(0))
        ]


class OnnxStreamingEncoder:
    """The streaming encoder file of ``export_onnx(..., streaming=True)``.

    Example::

        encoder = OnnxStreamingEncoder("exp/encoder-streaming.onnx")
        states = encoder.get_init_states(batch_size=1)
        for chunk in chunks:                      # (N, encoder.chunk_length, F) each
            encoder_out, states = encoder(chunk, states)   # projected, (N, chunk / 2, J)
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        self.session = _session(path, num_threads)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.chunk_length = int(self.metadata["T"])
        self.chunk_shift = int(self.metadata["decode_chunk_len"])
        self.state_names = onnx_streaming_state_names(self.metadata)
        self._inputs = {i.name: i for i in self.session.get_inputs()}

    def get_init_states(self, batch_size: int = 1) -> list[np.ndarray]:
        """Zero states (the batch axis is the model's dynamic axis ``N``)."""
        states = []
        for name in self.state_names:
            spec = self._inputs[name]
            shape = [batch_size if not isinstance(d, int) else d for d in spec.shape]
            dtype = np.int64 if "int64" in spec.type else np.float32
            states.append(np.zeros(shape, dtype=dtype))
        return states

    def __call__(self, x: Tensor, states: list[np.ndarray]) -> tuple[Tensor, list[np.ndarray]]:
        """x: (N, chunk_length, F) -> projected encoder_out (N, chunk / 2, J), new states."""
        feeds = {"x": x.float().cpu().numpy(), **dict(zip(self.state_names, states))}
        outputs = self.session.run(None, feeds)
        return torch.from_numpy(outputs[0]), outputs[1:]
