"""``zipformer/export.py`` of every recipe: write the averaged model of ``--exp-dir`` as

- ``EXP_DIR/pretrained.pt`` - ``{"model": state_dict}`` plus the model description of the
  checkpoints (``model_config``, ``lang``, ``features``; always, written atomically; for
  ``pretrained.py --checkpoint``, which needs no model flags);
- ``--jit 1``: ``EXP_DIR/jit_script.pt`` (``torch.jit.script``, non-streaming; for
  ``pretrained.py --nn-model``) and, for a causal model with a positive ``--chunk-size`` and
  ``--left-context-frames``, the streaming variant
  ``EXP_DIR/jit_script_chunk_<C>_left_<L>.pt`` (``get_init_states`` + chunk-wise encoder);
- ``--onnx 1``: ``encoder/decoder/joiner-<epoch-E-avg-A>.onnx`` (non-streaming) and, for such a
  causal model, ``...-chunk-<C>-left-<L>.onnx`` (streaming), plus ``tokens.txt`` as sherpa-onnx
  reads it (the pause piece ``<sil>`` written as ``▁``); sherpa-onnx's
  ``OfflineRecognizer.from_transducer`` / ``OnlineRecognizer.from_transducer`` load them as they
  are (docs/deployment.rst);
- ``--onnx-int8 1``: the same and a dynamically quantised ``*.int8.onnx`` copy of each.

The model is rebuilt from the checkpoints; ``--chunk-size``/``--left-context-frames`` choose
the streaming variant of a causal model.

Example (from a recipe directory)::

    ./zipformer/export.py --epoch 30 --avg 10 --jit 1 --onnx 1
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from icefall_lite.lang.files import require_file
from icefall_lite.models.export import (
    export_jit,
    export_onnx,
    quantize_onnx,
    write_sherpa_tokens,
)
from icefall_lite.recipe.common import BpeCodec, add_corpus_arguments, check_lang
from icefall_lite.recipe.decode import (
    add_checkpoint_arguments,
    decoding_model_info,
    load_decoding_model,
    parse_args,
)
from icefall_lite.recipe.model_info import add_model_arguments, model_description
from icefall_lite.training.atomic import atomic_torch_save
from icefall_lite.utils.config import HelpFormatter
from icefall_lite.utils.logging import setup_logger

logger = logging.getLogger(__name__)


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Export the averaged model (pretrained.pt, TorchScript, ONNX).",
        formatter_class=HelpFormatter,
    )
    add_corpus_arguments(parser, defaults, options=("lang_dir",))
    add_model_arguments(parser)
    add_checkpoint_arguments(parser)
    group = parser.add_argument_group("export")
    group.add_argument("--jit", type=int, default=0,
                       help="1: also write jit_script.pt (and the streaming jit model if causal)")
    group.add_argument("--onnx", type=int, default=0,
                       help="1: also write encoder/decoder/joiner ONNX files (sherpa-onnx "
                            "loads them as they are) and tokens.txt")
    group.add_argument("--onnx-int8", type=int, default=0,
                       help="1: also write dynamically quantised (int8) copies of the ONNX "
                            "files (*.int8.onnx; implies --onnx 1): onnxruntime's "
                            "quantize_dynamic, the MatMul weights as uint8 with a scale and "
                            "zero point per output column, activations quantised per call "
                            "(icefall_lite.models.int8.DEFAULT_INT8, chosen on AN4 dev)")
    parser.set_defaults(**defaults)
    return parser


def averaging_name(args: argparse.Namespace) -> str:
    """``epoch-E-avg-A`` (or ``iter-B-avg-A``), the file-name part of exported ONNX models."""
    return (f"iter-{args.iter}" if args.iter > 0 else f"epoch-{args.epoch}") + f"-avg-{args.avg}"


def save_pretrained(model: nn.Module, description: dict[str, Any], path: Path) -> Path:
    """``{"model": state_dict, **description}`` to ``path``, atomically."""
    atomic_torch_save({"model": model.state_dict(), **description}, path)
    logger.info("Saved %s", path)
    return path


def export(args: argparse.Namespace) -> dict[str, Path]:
    """Load the averaged model and write every requested file; returns {what: path}."""
    tokens = require_file(Path(args.lang_dir) / "tokens.txt", "token table")
    info, config = decoding_model_info(args)
    check_lang(info, BpeCodec(args.lang_dir), args.lang_dir)
    model = load_decoding_model(args, "cpu", (info, config))
    exp_dir = Path(args.exp_dir)
    # pretrained.pt describes the model as exported (overrides of a causal model included)
    description = model_description(config, info.lang, info.features)
    written = {"pretrained": save_pretrained(model, description, exp_dir / "pretrained.pt")}
    chunk, left = model.encoder.chunk_size[0], model.encoder.left_context_frames[0]
    # the streaming models need a chunk size and a left context; with --chunk-size -1 a causal
    # model is exported for full-context (non-streaming) decoding only
    streaming = bool(model.encoder.causal) and chunk > 0 and left > 0
    if model.encoder.causal and not streaming:
        logger.info("causal model with --chunk-size %d --left-context-frames %d: full-context "
                    "export only; pass positive values for the streaming models", chunk, left)
    if args.jit:
        written["jit"] = exp_dir / "jit_script.pt"
        export_jit(model, written["jit"], streaming=False)
        if streaming:
            written["jit_streaming"] = exp_dir / f"jit_script_chunk_{chunk}_left_{left}.pt"
            export_jit(model, written["jit_streaming"], streaming=True)
    if args.onnx or args.onnx_int8:
        name = averaging_name(args)
        for part, path in export_onnx(model, exp_dir, suffix=f"-{name}").items():
            written[part] = path
        if streaming:
            paths = export_onnx(model, exp_dir, streaming=True,
                                suffix=f"-{name}-chunk-{chunk}-left-{left}")
            for part, path in paths.items():
                written[f"{part}_streaming"] = path
        if args.onnx_int8:
            for what in [w for w in written if w.split("_")[0] in ("encoder", "decoder",
                                                                   "joiner")]:
                path = written[what]
                written[f"{what}_int8"] = quantize_onnx(path, path.with_suffix(".int8.onnx"))
        # sherpa-onnx's table: the model's tokens, the pause piece rendered as a word break
        written["tokens"] = write_sherpa_tokens(tokens, exp_dir / "tokens.txt",
                                                model.decoder.vocab_size)
    for what, path in written.items():
        logger.info("%s: %s", what, path)
    return written


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, Path]:
    """Export as the command line asks; returns {what: path} of the files written."""
    args = parse_args(build_parser(defaults), argv)
    handle = setup_logger(Path(args.exp_dir) / "log-export", 0, 1)
    try:
        logger.info("export arguments: %s", vars(args))
        return export(args)
    finally:
        handle.close()
