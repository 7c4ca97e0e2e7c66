"""``zipformer/decode.py`` of every recipe: decode the test sets with one method (or several,
comma-separated, from one loaded model) and write icefall's result files (``recogs-``, ``errs-``,
``wer-summary-``) plus the real-time factor, per method under ``<exp-dir>/<method>/``.

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

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.registry import DECODING_METHODS, decode
from icefall_lite.decoding.results import real_time_factor, result_suffix, write_results
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    load_decoding_graph,
    make_model,
    pick_device,
    read_word_table,
)
from icefall_lite.training.checkpoint import load_model_for_decoding
from icefall_lite.utils.config import add_dataclass_arguments, config_from_args
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
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        conflict_handler="resolve",
    )
    add_corpus_arguments(parser, defaults)
    AsrDataModule.add_arguments(parser)
    ZipformerConfig.add_arguments(parser)
    add_checkpoint_arguments(parser)
    group = parser.add_argument_group("decoding")
    group.add_argument("--decoding-method", default="greedy_search", type=decoding_methods,
                       help="the decoding method (icefall's names), or several separated by "
                            f"commas, decoded one after the other: {', '.join(DECODING_METHODS)}")
    add_dataclass_arguments(group, DecodingConfig)
    parser.set_defaults(**defaults)
    return parser


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


def result_prefix(args: argparse.Namespace) -> str:
    """:func:`checkpoint_prefix`, plus for a causal model the attention it was decoded with
    (``_chunk-16_left-128`` for simulated streaming, ``_full-context`` for chunk size -1), so
    that decoding one model both ways does not overwrite the result files."""
    prefix = checkpoint_prefix(args)
    if not args.causal:
        return prefix
    chunk, left = tuple(args.chunk_size)[0], tuple(args.left_context_frames)[0]
    return prefix + (f"_chunk-{chunk}_left-{left}" if chunk > 0 else "_full-context")


def load_decoding_model(args: argparse.Namespace, device: torch.device):
    """The model of ``--exp-dir`` averaged as ``--epoch/--iter/--avg/--use-averaged-model`` say."""
    model = make_model(args)
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
    args = build_parser(defaults, "Decode a trained transducer.").parse_args(argv)
    config = config_from_args(DecodingConfig, args, allow_missing=False)
    device = pick_device()
    model = None
    summary: dict[str, dict] = {}
    for method in args.decoding_method:
        out_dir = args.exp_dir / method
        log_handle = setup_logger(out_dir / f"log-decode-{result_prefix(args)}", 0, 1)
        try:
            if model is None:
                log_env_info(logger)
                logger.info("decoding arguments: %s", vars(args))
                codec = BpeCodec(args.lang_dir)
                model = load_decoding_model(args, device)
                data = AsrDataModule(AsrDataConfig.from_args(args))
            summary[method] = _decode_test_sets(args, method, model, data, config, codec,
                                                out_dir, device)
        finally:
            log_handle.close()
    return summary


def _decode_test_sets(args, method: str, model, data: AsrDataModule, config: DecodingConfig,
                      codec: BpeCodec, out_dir: Path, device: torch.device) -> dict[str, dict]:
    logger.info("decoding with %s", method)
    graph = load_decoding_graph(args.lang_dir, method, args.ngram_lm_scale, codec.vocab_size,
                                device)
    to_words = TextDecoder(DECODING_METHODS[method].output, codec, args.lang_dir)
    key = result_suffix(method, result_settings(method, config), prefix=result_prefix(args))
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
