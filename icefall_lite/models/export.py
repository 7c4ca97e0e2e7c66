"""Export of a trained :class:`~icefall_lite.models.asr_model.AsrModel`.

- :func:`export_pretrained` - ``{"model": state_dict}`` (``pretrained.pt``);
- :func:`export_jit` - a ``torch.jit.script`` model holding encoder (non-streaming, or streaming
  with ``get_init_states``), decoder and joiner (``jit_script.pt``);
- :func:`export_onnx` - ``encoder.onnx`` (front end + encoder + ``joiner.encoder_proj``),
  ``decoder.onnx`` (decoder + ``joiner.decoder_proj``) and ``joiner.onnx``, non-streaming or
  streaming (fixed chunk, states as flat inputs/outputs), with metadata: the layout, state
  shapes and metadata sherpa-onnx's zipformer2 transducer reads (see docs/deployment.rst);
- :func:`quantize_onnx` - dynamically quantised (int8 weights) copies of ONNX files
  (:mod:`icefall_lite.models.int8`; settings :class:`Int8Config`, default :data:`DEFAULT_INT8`);
- :func:`write_sherpa_tokens` - ``tokens.txt`` as sherpa-onnx renders it;
- running them: :mod:`icefall_lite.runtime`.

Example::

    >>> import tempfile, torch
    >>> from icefall_lite.models import build_model, tiny_config
    >>> model = build_model(tiny_config(vocab_size=20)).eval()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     scripted = export_jit(model, f"{d}/jit_script.pt")
    ...     out, out_lens = scripted.encoder(torch.randn(1, 40, 80), torch.tensor([40]))
    >>> out.shape
    torch.Size([1, 8, 128])
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from icefall_lite.models.asr_model import AsrModel
from icefall_lite.models.decoder import Decoder
from icefall_lite.models.encoder_model import EncoderModel, StreamingEncoderModel
from icefall_lite.models.int8 import DEFAULT_INT8, Int8Config, quantize_onnx
from icefall_lite.models.joiner import Joiner
from icefall_lite.models.zipformer import CPU, NUM_LAYER_STATES

__all__ = [
    "DEFAULT_INT8",
    "SHERPA_EMBED_CHANNELS",
    "EncoderModel",
    "Int8Config",
    "StreamingEncoderModel",
    "StreamingTransducerForExport",
    "TransducerForExport",
    "export_jit",
    "export_onnx",
    "export_pretrained",
    "onnx_state_names",
    "quantize_onnx",
    "write_sherpa_tokens",
]

#: Channels of the front end's cached state that sherpa-onnx allocates for every zipformer2
#: streaming encoder (icefall's ``layer3_channels``); a model with fewer channels is exported
#: with its state zero-padded to this many (see :class:`_OnnxStreamingEncoder`).
SHERPA_EMBED_CHANNELS = 128

LAYER_STATE_NAMES = (
    "cached_key", "cached_nonlin_attn", "cached_val1", "cached_val2", "cached_conv1",
    "cached_conv2",
)


def onnx_state_names(encoder) -> list[str]:
    """Names of the streaming states: ``cached_key_0`` ... per layer, then ``embed_states`` and
    ``processed_lens`` (the order of ``get_init_states``, and of sherpa-onnx's inputs)."""
    num_layers = sum(encoder.num_encoder_layers)
    names = [f"{name}_{i}" for i in range(num_layers) for name in LAYER_STATE_NAMES]
    return [*names, "embed_states", "processed_lens"]


def export_pretrained(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save ``{"model": model.state_dict()}`` to ``path`` (load with ``load_state_dict``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, path)
    logging.info("Saved %s", path)
    return path


class TransducerForExport(nn.Module):
    """Encoder wrapper + decoder + joiner; every part compiled by ``torch.jit.script``.

    ``forward`` runs the encoder; ``run_decoder`` and ``run_joiner`` exist so the decoder and
    joiner are compiled (and callable as ``.decoder(y, need_pad)`` / ``.joiner(e, d, p)`` after
    ``torch.jit.load``).
    """

    def __init__(self, encoder: nn.Module, decoder: Decoder, joiner: Joiner):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.joiner = joiner

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.encoder(x, x_lens)

    @torch.jit.export
    def run_decoder(self, y: Tensor, need_pad: bool = False) -> Tensor:
        return self.decoder(y, need_pad)

    @torch.jit.export
    def run_joiner(self, encoder_out: Tensor, decoder_out: Tensor,
                   project_input: bool = True) -> Tensor:
        return self.joiner(encoder_out, decoder_out, project_input)


class StreamingTransducerForExport(TransducerForExport):
    """As :class:`TransducerForExport` with a streaming encoder (``forward`` takes states)."""

    def forward(  # type: ignore[override]
        self, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        return self.encoder(x, x_lens, states)

    @torch.jit.export
    def get_init_states(
        self, batch_size: int = 1, device: torch.device = CPU
    ) -> list[Tensor]:
        return self.encoder.get_init_states(batch_size, device)


def _eval_copy(model: AsrModel) -> AsrModel:
    model = copy.deepcopy(model).to("cpu")
    model.eval()
    return model


def export_jit(
    model: AsrModel, path: str | os.PathLike, streaming: bool = False
) -> torch.jit.ScriptModule:
    """Script encoder (+ ``streaming_forward``/``get_init_states`` when ``streaming``), decoder
    and joiner of ``model`` into one module, save it to ``path`` and return it.

    The loaded module offers ``.encoder(x, x_lens[, states])``, ``.decoder(y, need_pad)``,
    ``.joiner(encoder_out, decoder_out, project_input)`` (and ``.get_init_states``)."""
    model = _eval_copy(model)
    if streaming:
        if not model.encoder.causal:
            raise ValueError("export_jit: streaming=True needs a causal model (--causal 1)")
        encoder: nn.Module = StreamingEncoderModel(model.encoder_embed, model.encoder)
        wrapper: nn.Module = StreamingTransducerForExport(encoder, model.decoder, model.joiner)
    else:
        encoder = EncoderModel(model.encoder_embed, model.encoder)
        wrapper = TransducerForExport(encoder, model.decoder, model.joiner)
    scripted = torch.jit.script(wrapper)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(path))
    logging.info("Saved %s", path)
    return scripted


class _OnnxEncoder(nn.Module):
    def __init__(self, model: AsrModel):
        super().__init__()
        self.encoder = EncoderModel(model.encoder_embed, model.encoder)
        self.encoder_proj = model.joiner.encoder_proj

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        out, out_lens = self.encoder(x, x_lens)
        return self.encoder_proj(out), out_lens


class _OnnxStreamingEncoder(nn.Module):
    """One chunk with flat states. The front end's cache (``embed_states``) goes in and out
    with :data:`SHERPA_EMBED_CHANNELS` channels, since sherpa-onnx allocates that many whatever
    the model has: the model reads the first ``layer3_channels`` and the rest stay zero."""

    def __init__(self, model: AsrModel):
        super().__init__()
        self.encoder = StreamingEncoderModel(model.encoder_embed, model.encoder)
        self.encoder_proj = model.joiner.encoder_proj
        self.embed_channels = model.encoder_embed.layer3_channels
        if self.embed_channels > SHERPA_EMBED_CHANNELS:
            raise ValueError(f"export_onnx: the front end has {self.embed_channels} channels, "
                             f"sherpa-onnx's streaming zipformer2 supports at most "
                             f"{SHERPA_EMBED_CHANNELS}")

    def forward(self, x: Tensor, *states: Tensor):
        x_lens = torch.full((x.size(0),), x.size(1), dtype=torch.int64, device=x.device)
        states_list = list(states)
        states_list[-2] = states_list[-2][:, : self.embed_channels]
        out, _, new_states = self.encoder(x, x_lens, states_list)
        missing = SHERPA_EMBED_CHANNELS - self.embed_channels
        new_states[-2] = torch.nn.functional.pad(new_states[-2], (0, 0, 0, 0, 0, missing))
        return (self.encoder_proj(out), *new_states)

    def init_states(self, batch_size: int) -> list[Tensor]:
        states = self.encoder.get_init_states(batch_size)
        embed = states[-2]
        states[-2] = embed.new_zeros(embed.size(0), SHERPA_EMBED_CHANNELS, *embed.shape[2:])
        return states


class _OnnxDecoder(nn.Module):
    def __init__(self, model: AsrModel):
        super().__init__()
        self.decoder = model.decoder
        self.decoder_proj = model.joiner.decoder_proj

    def forward(self, y: Tensor) -> Tensor:
        return self.decoder_proj(self.decoder(y, need_pad=False)[:, 0])


class _OnnxJoiner(nn.Module):
    def __init__(self, model: AsrModel):
        super().__init__()
        self.output_linear = model.joiner.output_linear

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.output_linear(torch.tanh(encoder_out + decoder_out))


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx  # noqa: PLC0415 - optional dependency

    onnx_model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = onnx_model.metadata_props.add()
        entry.key = key
        entry.value = str(value)
    onnx.save(onnx_model, str(path))


def _join(values) -> str:
    return ",".join(str(v) for v in values)


def _encoder_metadata(model: AsrModel, streaming: bool) -> dict[str, str]:
    enc = model.encoder
    meta = {
        "model_type": "zipformer2",
        "version": "1",
        "model_author": "icefall_lite",
        "comment": "streaming zipformer2" if streaming else "non-streaming zipformer2",
        "encoder_dims": _join(enc.encoder_dim),
        "num_encoder_layers": _join(enc.num_encoder_layers),
        "downsampling_factor": _join(enc.downsampling_factor),
        "cnn_module_kernels": _join(enc.cnn_module_kernel),
        "num_heads": _join(enc.num_heads),
        "query_head_dims": _join(enc.query_head_dim),
        "value_head_dims": _join(enc.value_head_dim),
        "context_size": str(model.decoder.context_size),
        "vocab_size": str(model.decoder.vocab_size),
        "blank_id": str(model.decoder.blank_id),
        "causal": str(int(enc.causal)),
    }
    if streaming:
        chunk = enc.chunk_size[0]
        meta.update(
            decode_chunk_len=str(2 * chunk),
            T=str(2 * chunk + StreamingEncoderModel(model.encoder_embed, enc).pad_length),
            chunk_size=str(chunk),
            left_context_len=_join(enc.left_context_frames[0] // ds
                                   for ds in enc.downsampling_factor),
        )
    return meta


def export_onnx(
    model: AsrModel,
    out_dir: str | os.PathLike,
    streaming: bool = False,
    suffix: str = "",
    opset_version: int = 13,
) -> dict[str, Path]:
    """Write ``encoder{suffix}.onnx``, ``decoder{suffix}.onnx`` and ``joiner{suffix}.onnx``.

    Non-streaming encoder: inputs ``x`` (N, T, F), ``x_lens`` (N,); outputs ``encoder_out``
    (N, T2, J), ``encoder_out_lens``. Streaming encoder (causal models): input ``x`` (N,
    2*chunk + 13, F) and the states (names: :func:`onnx_state_names`), outputs ``encoder_out`` and
    ``new_<state>``. Decoder: ``y`` (N, context_size) int64 -> ``decoder_out`` (N, J). Joiner:
    ``encoder_out``, ``decoder_out`` (N, J) -> ``logit`` (N, V). Returns the three paths.
    """
    model = _eval_copy(model)
    if streaming and not model.encoder.causal:
        raise ValueError("export_onnx: streaming=True needs a causal model (--causal 1)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}{suffix}.onnx" for name in ("encoder", "decoder", "joiner")}
    feature_dim = model.encoder_embed.in_channels
    batch_size = 1
    export = _legacy_onnx_export(opset_version)

    if streaming:
        enc = _OnnxStreamingEncoder(model)
        chunk_len = 2 * enc.encoder.chunk_size + enc.encoder.pad_length
        x = torch.randn(batch_size, chunk_len, feature_dim)
        states = enc.init_states(batch_size)
        names = onnx_state_names(model.encoder)
        batch_axes = {}
        num_layer_states = len(names) - 2
        for i, name in enumerate(names):
            # key, nonlin-attention and value caches carry the batch on axis 1, the rest on 0
            axis = 1 if i < num_layer_states and i % NUM_LAYER_STATES < 4 else 0
            batch_axes[name] = {axis: "N"}
            batch_axes[f"new_{name}"] = {axis: "N"}
        export(
            enc, (x, *states), str(paths["encoder"]),
            input_names=["x", *names],
            output_names=["encoder_out", *[f"new_{n}" for n in names]],
            dynamic_axes={"x": {0: "N"}, "encoder_out": {0: "N"}, **batch_axes},
        )
    else:
        enc = _OnnxEncoder(model)
        x = torch.randn(batch_size, 100, feature_dim)
        x_lens = torch.tensor([100], dtype=torch.int64)
        export(
            enc, (x, x_lens), str(paths["encoder"]),
            input_names=["x", "x_lens"],
            output_names=["encoder_out", "encoder_out_lens"],
            dynamic_axes={"x": {0: "N", 1: "T"}, "x_lens": {0: "N"},
                          "encoder_out": {0: "N", 1: "T"}, "encoder_out_lens": {0: "N"}},
        )
    _add_metadata(paths["encoder"], _encoder_metadata(model, streaming))

    context_size = model.decoder.context_size
    y = torch.zeros(batch_size, context_size, dtype=torch.int64)
    export(
        _OnnxDecoder(model), (y,), str(paths["decoder"]),
        input_names=["y"], output_names=["decoder_out"],
        dynamic_axes={"y": {0: "N"}, "decoder_out": {0: "N"}},
    )
    _add_metadata(paths["decoder"], {"context_size": str(context_size),
                                     "vocab_size": str(model.decoder.vocab_size),
                                     "blank_id": str(model.decoder.blank_id)})

    joiner_dim = model.joiner.output_linear.in_features
    e = torch.randn(batch_size, joiner_dim)
    export(
        _OnnxJoiner(model), (e, e.clone()), str(paths["joiner"]),
        input_names=["encoder_out", "decoder_out"], output_names=["logit"],
        dynamic_axes={"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}},
    )
    _add_metadata(paths["joiner"], {"joiner_dim": str(joiner_dim)})
    for path in paths.values():
        logging.info("Saved %s", path)
    return paths


def _legacy_onnx_export(opset_version: int) -> Callable:
    """torch.onnx.export with the TorchScript-based exporter (torch 2.x defaults to the dynamo
    exporter, which needs onnxscript) and a fixed opset."""

    def export(module: nn.Module, args: tuple, path: str, **kwargs) -> None:
        extra = {"dynamo": False} if "dynamo" in _export_parameters() else {}
        with torch.no_grad():
            torch.onnx.export(module, args, path, opset_version=opset_version,
                              do_constant_folding=True, **extra, **kwargs)

    return export


def _export_parameters() -> tuple[str, ...]:
    import inspect  # noqa: PLC0415

    return tuple(inspect.signature(torch.onnx.export).parameters)


#: How sherpa-onnx renders a token: a leading ``▁`` becomes a space.
WORD_START = "\u2581"


def write_sherpa_tokens(tokens: str | os.PathLike, dst: str | os.PathLike, vocab_size: int,
                        pause_piece: str = "<sil>") -> Path:
    """``tokens.txt`` (``symbol id`` lines) for sherpa-onnx from a lang dir's table: the
    ``vocab_size`` model tokens (disambiguation symbols ``#k`` dropped), with the pause piece
    written as ``▁`` so that sherpa-onnx renders it as a word break instead of text (a model
    trained with ``<sil>`` between words would otherwise show ``RUBOUT<sil> G``).

    ValueError naming ``tokens`` when its ids are not ``0 .. vocab_size - 1``."""
    tokens = Path(tokens)
    table: dict[int, str] = {}
    for line_no, line in enumerate(tokens.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise ValueError(f"{tokens}:{line_no}: expected 'symbol id', got {line!r}")
        if not fields[0].startswith("#"):
            table[int(fields[1])] = fields[0]
    if sorted(table) != list(range(vocab_size)):
        raise ValueError(f"{tokens} has {len(table)} tokens (ids {min(table, default=0)}.."
                         f"{max(table, default=-1)}), but the model's vocab_size is "
                         f"{vocab_size}")
    dst = Path(dst)
    dst.write_text("".join(f"{WORD_START if table[i] == pause_piece else table[i]} {i}\n"
                           for i in range(vocab_size)), encoding="utf-8")
    return dst
