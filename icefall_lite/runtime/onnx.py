"""Exported ONNX transducers (``export.py --onnx 1``, fp32 or int8) run by onnxruntime behind
the eager model's interface, so every decoding method of :mod:`icefall_lite.decoding` runs on
them, offline and chunk by chunk.

The encoder file already applies ``joiner.encoder_proj`` and the decoder file
``joiner.decoder_proj``, so the projections are identities here. Which kind a file is (offline
encoder, streaming encoder, decoder, joiner) is read from its inputs, and every mismatch (a
decoder given as encoder, a streaming encoder where an offline one is expected, a truncated
file) is a ValueError naming the file.

Example::

    model = OnnxTransducer("exp/encoder.onnx", "exp/decoder.onnx", "exp/joiner.onnx")
    enc, enc_lens = model.forward_encoder(features, feature_lens)
    hyps = decode("modified_beam_search", model, enc, enc_lens)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["OnnxTransducer", "onnx_file_kind", "open_session"]

#: The streaming encoder's per-layer state names (6 per layer, ``_<layer>`` appended).
LAYER_STATE_NAMES = (
    "cached_key", "cached_nonlin_attn", "cached_val1", "cached_val2", "cached_conv1",
    "cached_conv2",
)


def open_session(path: str | os.PathLike, what: str, num_threads: int = 1):
    """An onnxruntime CPU session of ``path``; FileNotFoundError / ValueError naming it."""
    import onnxruntime as ort  # noqa: PLC0415 - optional dependency

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    options = ort.SessionOptions()
    options.inter_op_num_threads = num_threads
    options.intra_op_num_threads = num_threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises InvalidProtobuf, Fail, ... for a bad file
        raise ValueError(f"{what} {path} is not a loadable ONNX model (truncated or not "
                         f"ONNX?): {e}") from e


def onnx_file_kind(session) -> str:
    """``encoder``, ``streaming_encoder``, ``decoder``, ``joiner`` or ``unknown``, from the
    input names ``export_onnx`` gives each file."""
    names = [i.name for i in session.get_inputs()]
    if names == ["y"]:
        return "decoder"
    if names == ["encoder_out", "decoder_out"]:
        return "joiner"
    if names[:2] == ["x", "x_lens"]:
        return "encoder"
    if names[:1] == ["x"] and "embed_states" in names and "processed_lens" in names:
        return "streaming_encoder"
    return "unknown"


def _require_kind(session, path, wanted: tuple[str, ...], what: str) -> str:
    kind = onnx_file_kind(session)
    if kind not in wanted:
        hint = {"streaming_encoder": "a streaming encoder (chunk + states inputs)",
                "encoder": "a non-streaming encoder (x, x_lens inputs)",
                "decoder": "a decoder model", "joiner": "a joiner model"}.get(
                    kind, "not a file written by export.py --onnx 1")
        raise ValueError(f"{what} {path} is {hint}, expected {' or '.join(wanted)}")
    return kind


class OnnxDecoder:
    """The decoder file as the eager decoder: ``decoder(y [N, context_size], need_pad=False)
    -> [N, 1, J]`` (already projected by ``decoder_proj``)."""

    def __init__(self, session, metadata: dict[str, str]) -> None:
        self.session = session
        self.context_size = int(metadata["context_size"])
        self.vocab_size = int(metadata["vocab_size"])
        self.blank_id = int(metadata.get("blank_id", 0))

    def __call__(self, y: Tensor, need_pad: bool = False) -> Tensor:
        if need_pad:
            raise ValueError("the ONNX decoder takes exactly context_size ids per row")
        (out,) = self.session.run(None, {"y": y.long().cpu().numpy()})
        return torch.from_numpy(out).unsqueeze(1)


def _identity(x: Tensor) -> Tensor:
    return x


class OnnxJoiner:
    """The joiner file as the eager joiner with ``project_input=False``: inputs are broadcast
    to one shape ``[..., J]``, output ``[..., V]``; ``encoder_proj``/``decoder_proj`` are
    identities (the encoder and decoder files project)."""

    encoder_proj = staticmethod(_identity)
    decoder_proj = staticmethod(_identity)

    def __init__(self, session) -> None:
        self.session = session

    def __call__(self, encoder_out: Tensor, decoder_out: Tensor,
                 project_input: bool = False) -> Tensor:
        if project_input:
            raise ValueError("the ONNX joiner takes projected inputs (project_input=False)")
        enc, dec = torch.broadcast_tensors(encoder_out, decoder_out)
        shape = enc.shape[:-1]
        (out,) = self.session.run(None, {
            "encoder_out": enc.reshape(-1, enc.shape[-1]).float().cpu().numpy(),
            "decoder_out": dec.reshape(-1, dec.shape[-1]).float().cpu().numpy()})
        return torch.from_numpy(out).reshape(*shape, -1)


class OnnxTransducer:
    """Encoder (offline or streaming), decoder and joiner files with the decoding library's
    model interface.

    Args:
      encoder, decoder, joiner: the files of ``export_onnx`` (fp32 or int8).
      streaming: True / False requires a streaming / non-streaming encoder; None takes what the
        file is (see :attr:`streaming`).
      num_threads: onnxruntime threads per session.
    """

    def __init__(self, encoder: str | os.PathLike, decoder: str | os.PathLike,
                 joiner: str | os.PathLike, streaming: bool | None = None,
                 num_threads: int = 1) -> None:
        self.paths = {"encoder": Path(encoder), "decoder": Path(decoder),
                      "joiner": Path(joiner)}
        self.encoder_session = open_session(encoder, "ONNX encoder", num_threads)
        wanted = {None: ("encoder", "streaming_encoder"), True: ("streaming_encoder",),
                  False: ("encoder",)}[streaming]
        kind = _require_kind(self.encoder_session, encoder, wanted, "ONNX encoder")
        self.streaming = kind == "streaming_encoder"
        decoder_session = open_session(decoder, "ONNX decoder", num_threads)
        _require_kind(decoder_session, decoder, ("decoder",), "ONNX decoder")
        joiner_session = open_session(joiner, "ONNX joiner", num_threads)
        _require_kind(joiner_session, joiner, ("joiner",), "ONNX joiner")
        self.metadata = dict(self.encoder_session.get_modelmeta().custom_metadata_map)
        self.decoder = OnnxDecoder(
            decoder_session, dict(decoder_session.get_modelmeta().custom_metadata_map))
        self.joiner = OnnxJoiner(joiner_session)
        joiner_vocab = joiner_session.get_outputs()[0].shape[-1]
        if isinstance(joiner_vocab, int) and joiner_vocab != self.decoder.vocab_size:
            raise ValueError(f"ONNX joiner {joiner} outputs {joiner_vocab} tokens but decoder "
                             f"{decoder} has vocab_size {self.decoder.vocab_size}: files of "
                             "different models?")
        self.causal = self.metadata.get("causal") == "1"
        if self.streaming:
            self.chunk_frames = int(self.metadata["decode_chunk_len"])
            self.pad_length = int(self.metadata["T"]) - self.chunk_frames
            self._state_inputs = self.encoder_session.get_inputs()[1:]

    def __repr__(self) -> str:
        return f"OnnxTransducer(encoder={self.paths['encoder']})"

    def forward_encoder(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, T, F), x_lens: (N,) -> projected encoder_out (N, T2, J), lengths (N,)."""
        if self.streaming:
            raise ValueError(f"ONNX encoder {self.paths['encoder']} is a streaming encoder: "
                             "decode chunk by chunk (StreamingDecoder), or export the "
                             "non-streaming encoder for offline decoding")
        out, out_lens = self.encoder_session.run(
            None, {"x": x.float().cpu().numpy(), "x_lens": x_lens.long().cpu().numpy()})
        return torch.from_numpy(out), torch.from_numpy(out_lens)

    def require_streaming(self) -> None:
        """ValueError naming the encoder file unless it is a streaming encoder."""
        if not self.streaming:
            raise ValueError(f"ONNX encoder {self.paths['encoder']} is a non-streaming encoder: "
                             "chunk-wise decoding needs the streaming encoder of a causal model "
                             "(encoder-...-chunk-C-left-L.onnx)")

    def get_init_states(self, batch_size: int = 1, device: torch.device | None = None
                        ) -> list[Tensor]:
        """Zero states shaped as the streaming encoder's inputs (batch axes from
        :func:`~icefall_lite.runtime.states.state_batch_axes`)."""
        from icefall_lite.runtime.states import state_batch_axes  # noqa: PLC0415

        self.require_streaming()
        axes = state_batch_axes(len(self._state_inputs))
        states = []
        for spec, axis in zip(self._state_inputs, axes):
            shape = [d if isinstance(d, int) else 1 for d in spec.shape]
            shape[axis] = batch_size
            dtype = torch.int64 if "int64" in spec.type else torch.float32
            states.append(torch.zeros(shape, dtype=dtype))
        return states

    def streaming_forward_encoder(self, x: Tensor, x_lens: Tensor, states: list[Tensor]
                                  ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One chunk x (N, T, F) (T = ``chunk_frames + pad_length``) -> projected encoder_out
        (N, chunk / 2, J), its lengths and the new states (``x_lens`` must be all T: the file
        takes whole chunks)."""
        self.require_streaming()
        if int(x_lens.min()) != x.shape[1]:
            raise ValueError("the streaming ONNX encoder takes whole chunks only")
        feeds = {"x": x.float().cpu().numpy()}
        for spec, state in zip(self._state_inputs, states):
            feeds[spec.name] = np.ascontiguousarray(state.cpu().numpy())
        outputs = self.encoder_session.run(None, feeds)
        out = torch.from_numpy(outputs[0])
        lens = torch.full((out.shape[0],), out.shape[1], dtype=torch.int64)
        return out, lens, [torch.from_numpy(np.ascontiguousarray(s)) for s in outputs[1:]]
