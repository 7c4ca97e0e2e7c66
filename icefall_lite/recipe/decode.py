"""``zipformer/decode.py`` of every recipe: decode the test sets with one method (or several,
comma-separated, from one loaded model) and write icefall's result files (``recogs-``, ``errs-``,
``wer-summary-``) plus the real-time factor, per method under ``<exp-dir>/<method>/``.

The model is rebuilt from the checkpoint (its ``model_config``, see
:mod:`~icefall_lite.recipe.model_info`): no model flags are needed, and one that is given must
match the checkpoint; ``--chunk-size``/``--left-context-frames`` choose the attention of a causal
model (simulated streaming).

Example (from a recipe directory)::

    ./zipformer/decode.py --epoch 30 --avg 10 --decoding-method fast_beam_search_nbest_LG
    ./zipformer/decode.py --epoch 30 --avg 10 --decoding-method greedy_search,modified_beam_search
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from icefall_lite.data.datamodule import AsrDataModule
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.registry import DECODING_METHODS, decode
from icefall_lite.decoding.results import real_time_factor, result_suffix, write_results
from icefall_lite.models.asr_model import AsrModel
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    add_data_arguments,
    build_asr_model,
    check_lang,
    data_module,
    load_decoding_graph,
    pick_device,
    read_word_table,
)
from icefall_lite.recipe.model_info import (
    ModelInfo,
    add_model_arguments,
    model_config_from,
    read_model_info,
)
from icefall_lite.training.checkpoint import (
    load_model_for_decoding,
    newest_decoding_file,
    read_checkpoint,
)
from icefall_lite.utils.config import (
    HelpFormatter,
    add_dataclass_arguments,
    config_from_args,
    given_options,
)
from icefall_lite.utils.env import log_env_info
from icefall_lite.utils.logging import setup_logger

logger = logging.getLogger(__name__)

#: The settings of each method that go into its result file names.
RESULT_KEY_SETTINGS = {
    "greedy_search": (),
    "beam_search": ("beam_size",),
    "modified_beam_search": ("beam_size",),
    "fast_beam_search": ("beam", "max_contexts", "max_states"),
    "fast_beam_search_LG": ("beam", "max_contexts", "max_states", "ngram_lm_scale"),
    "fast_beam_search_nbest": ("beam", "max_contexts", "max_states", "num_paths",
                               "nbest_scale"),
    "fast_beam_search_nbest_LG": ("beam", "max_contexts", "max_states", "num_paths",
                                  "nbest_scale", "ngram_lm_scale"),
    "fast_beam_search_nbest_oracle": ("beam", "max_contexts", "max_states", "num_paths",
                                      "nbest_scale"),
}


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``--epoch/--iter/--avg/--use-averaged-model/--exp-dir``, as icefall's decode.py."""
    group = parser.add_argument_group("checkpoint")
    group.add_argument("--epoch", type=int, default=30,
                       help="decode with epoch-N.pt (and earlier epochs for averaging)")
    group.add_argument("--iter", type=int, default=0,
                       help="if > 0, decode with checkpoint-B.pt files up to this batch instead")
    group.add_argument("--avg", type=int, default=9, help="number of checkpoints to average")
    group.add_argument("--use-averaged-model", type=int, default=1,
                       help="1: use the running model averages stored in the checkpoints")
    group.add_argument("--exp-dir", type=Path, default=Path("zipformer/exp"),
                       help="directory with the checkpoints; results go to EXP_DIR/<method>/")


def build_parser(defaults: dict[str, Any], description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    add_corpus_arguments(parser, defaults, options=("corpus", "lang_dir", "test_sets"))
    add_data_arguments(parser, decoding=True)
    add_model_arguments(parser)
    add_checkpoint_arguments(parser)
    group = parser.add_argument_group("decoding")
    group.add_argument("--decoding-method", default="greedy_search", type=decoding_methods,
                       help="the decoding method (icefall's names), or several separated by "
                            f"commas, decoded one after the other: {', '.join(DECODING_METHODS)}")
    add_dataclass_arguments(group, DecodingConfig)
    parser.set_defaults(**defaults)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with ``given_options``: the options the command line gave
    (model flags are checked against the checkpoint only when given, not as recipe defaults)."""
    args = parser.parse_args(argv)
    args.given_options = sorted(given_options(parser, argv))
    return args


def result_settings(method: str, config: DecodingConfig) -> dict[str, Any]:
    """The settings that name ``method``'s result files: :data:`RESULT_KEY_SETTINGS`, plus
    ``semiring-tropical`` for n-best LG scored by best alignments, and ``blank_penalty`` when it
    is not 0 (as icefall's ``-blank-penalty-X`` suffix)."""
    settings = {k: getattr(config, k) for k in RESULT_KEY_SETTINGS[method]}
    if method == "fast_beam_search_nbest_LG" and not config.nbest_lg_log_semiring:
        settings["semiring"] = "tropical"
    if config.blank_penalty != 0:
        settings["blank_penalty"] = config.blank_penalty
    return settings


def decoding_methods(value: str) -> list[str]:
    """``--decoding-method``: one method or a comma-separated list of them (each once)."""
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in DECODING_METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown decoding method(s) {', '.join(unknown) or repr(value)}; "
            f"choose from {', '.join(DECODING_METHODS)}")
    if len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"a decoding method is repeated in {value!r}")
    return methods


def checkpoint_prefix(args: argparse.Namespace) -> str:
    if args.iter > 0:
        prefix = f"iter-{args.iter}_avg-{args.avg}"
    else:
        prefix = f"epoch-{args.epoch}_avg-{args.avg}"
    return prefix + ("_use-averaged-model" if args.use_averaged_model else "")


def result_prefix(args: argparse.Namespace, config: ZipformerConfig) -> str:
    """:func:`checkpoint_prefix`, plus for a causal model (``config``: the model decoded) the
    attention it was decoded with (``_chunk-16_left-128`` for simulated streaming,
    ``_full-context`` for chunk size -1), so that decoding one model both ways does not
    overwrite the result files."""
    prefix = checkpoint_prefix(args)
    if not config.causal:
        return prefix
    chunk, left = tuple(config.chunk_size)[0], tuple(config.left_context_frames)[0]
    return prefix + (f"_chunk-{chunk}_left-{left}" if chunk > 0 else "_full-context")


def decoding_model_info(args: argparse.Namespace) -> tuple[ModelInfo, ZipformerConfig]:
    """The description in the newest checkpoint ``--epoch/--iter/--avg`` name, and the config
    to build: the checkpoint's, checked against the model flags the command line gave, with
    ``--chunk-size``/``--left-context-frames`` applied to a causal model."""
    path = newest_decoding_file(args.exp_dir, args.epoch, args.avg,
                                bool(args.use_averaged_model), args.iter)
    info = read_model_info(read_checkpoint(path), path)
    return info, model_config_from(info, args, set(getattr(args, "given_options", ())))


def load_decoding_model(args: argparse.Namespace, device: torch.device | str,
                        described: tuple[ModelInfo, ZipformerConfig] | None = None
                        ) -> AsrModel:
    """The model of ``--exp-dir`` averaged as ``--epoch/--iter/--avg/--use-averaged-model`` say,
    built from the checkpoint's own description (``described``: from
    :func:`decoding_model_info`, read here when not given)."""
    info, config = described or decoding_model_info(args)
    model = build_asr_model(config, info.lang.get("sil_id"))
    return load_model_for_decoding(model, args.exp_dir, args.epoch, args.avg,
                                   bool(args.use_averaged_model), args.iter, device)


class TextDecoder:
    """Turns a method's output ids (tokens or words) into words."""

    def __init__(self, output: str, codec: BpeCodec, lang_dir: Path) -> None:
        self.output = output
        self.codec = codec
        self.word_table = read_word_table(lang_dir) if output == "words" else None

    def __call__(self, ids: list[int]) -> list[str]:
        if self.word_table is None:
            return self.codec.decode(ids).split()
        return [self.word_table[i] for i in ids]


def decode_dataset(method_name: str, model, dataloader, config: DecodingConfig, graph, codec,
                   to_words):
    """Decode every batch with ``method_name``; returns ([(cut id, ref words, hyp words)],
    audio seconds)."""
    method = DECODING_METHODS[method_name]
    device = next(model.parameters()).device
    results = []
    audio_seconds = 0.0
    for batch in dataloader:
        feats = batch["inputs"].to(device)
        supervisions = batch["supervisions"]
        feature_lens = supervisions["num_frames"].to(device)
        cuts = supervisions["cut"]
        texts = supervisions["text"]
        with torch.no_grad():
            encoder_out, encoder_out_lens = model.forward_encoder(feats, feature_lens)
            refs = codec.encode(texts) if method.needs_ref else None
            hyps = decode(method_name, model, encoder_out, encoder_out_lens, config, graph,
                          refs)
        for cut, text, hyp in zip(cuts, texts, hyps):
            results.append((cut.id, text.split(), to_words(hyp)))
            audio_seconds += cut.duration
    return results, audio_seconds


def write_test_set_results(out_dir: Path, test_set: str, key: str, method: str,
                           results: list, elapsed: float, audio_seconds: float,
                           settings: dict[str, Any]) -> dict[str, Any]:
    """Write the result files and ``summary-<set>-<key>.json`` (WER, RTF, settings) of one test
    set, log the WER line, and return the summary."""
    stats = write_results(out_dir, test_set, key, results)
    rtf = real_time_factor(elapsed, audio_seconds)
    summary = {
        "test_set": test_set, "method": method, "wer": round(stats.wer, 2),
        "errors": stats.errors, "words": stats.num_ref_words, "rtf": round(rtf, 4),
        "decode_seconds": round(elapsed, 2), "audio_seconds": round(audio_seconds, 2),
        "settings": settings | {"key": key},
    }
    (out_dir / f"summary-{test_set}-{key}.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    logger.info("%s %s: WER %.2f%% (%d / %d), RTF %.4f (%.1f s for %.1f s of audio)",
                test_set, method, stats.wer, stats.errors, stats.num_ref_words, rtf, elapsed,
                audio_seconds)
    return summary


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, dict]:
    """Decode ``--test-sets`` with each ``--decoding-method``; the model is loaded once.

    Returns {method: {test set: {wer, rtf, ...}}}. Each method logs to its own result folder
    and is timed on its own (encoder included), as if decoded by a separate run."""
    args = parse_args(build_parser(defaults, "Decode a trained transducer."), argv)
    config = config_from_args(DecodingConfig, args, allow_missing=False)
    device = pick_device()
    info, model_config = decoding_model_info(args)
    codec = BpeCodec(args.lang_dir)
    check_lang(info, codec, args.lang_dir)
    model = None
    summary: dict[str, dict] = {}
    for method in args.decoding_method:
        out_dir = args.exp_dir / method
        prefix = result_prefix(args, model_config)
        log_handle = setup_logger(out_dir / f"log-decode-{prefix}", 0, 1)
        try:
            if model is None:
                log_env_info(logger)
                logger.info("decoding arguments: %s", vars(args))
                logger.info("model from %s: %s", info.path, model_config)
                model = load_decoding_model(args, device, (info, model_config))
                data = data_module(args, model_config.feature_dim)
            summary[method] = _decode_test_sets(args, method, model, data, config, codec,
                                                out_dir, device, prefix)
        finally:
            log_handle.close()
    return summary


def _decode_test_sets(args, method: str, model, data: AsrDataModule, config: DecodingConfig,
                      codec: BpeCodec, out_dir: Path, device: torch.device,
                      prefix: str) -> dict[str, dict]:
    logger.info("decoding with %s", method)
    graph = load_decoding_graph(args.lang_dir, method, args.ngram_lm_scale, codec.vocab_size,
                                device)
    to_words = TextDecoder(DECODING_METHODS[method].output, codec, args.lang_dir)
    key = result_suffix(method, result_settings(method, config), prefix=prefix)
    summary = {}
    for test_set in args.test_sets.split(","):
        dataloader = data.test_dataloaders(data.load_cuts(args.corpus, test_set))
        start = time.perf_counter()
        results, audio_seconds = decode_dataset(method, model, dataloader, config, graph, codec,
                                                to_words)
        elapsed = time.perf_counter() - start
        summary[test_set] = write_test_set_results(
            out_dir, test_set, key, method, results, elapsed, audio_seconds,
            dataclasses.asdict(config))
    return summary
