"""``zipformer/pretrained.py`` of every recipe: sound files -> text with an exported model.

The model comes from one of

- ``--checkpoint EXP/pretrained.pt`` (written by export.py; it describes its model and
  features, so no model options are needed; read with ``torch.load(weights_only=True)``);
- ``--nn-model EXP/jit_script.pt`` (``export.py --jit 1``; no model options needed). A
  TorchScript file is a program: ``torch.jit.load`` runs its code, so load only models you
  trust (docs/safety.rst);
- ``--encoder/--decoder/--joiner EXP/*.onnx`` (``export.py --onnx 1`` / ``--onnx-int8 1``; run
  with onnxruntime through :mod:`icefall_lite.runtime`). A streaming encoder
  (``...-chunk-C-left-L.onnx``) or a streaming TorchScript model decodes every file chunk by
  chunk.

Every decoding method runs on every model kind. Files longer than ``--max-duration`` are
decoded chunk by chunk (memory bounded) when the model is causal, else refused.

Tokens are turned into text with ``--bpe-model`` (sentencepiece) or ``--tokens`` (tokens.txt,
``▁`` starts a word). Features are those of training: 80-bin fbank through the same extractor
(:func:`icefall_lite.data.fbank.make_fbank_extractor`, kaldifeat) at ``--sample-rate``, the rate
the recipe's features were computed at (the corpus's own: 8 kHz for yesno, 16 kHz for AN4 and
LibriSpeech). Audio is read by lhotse; a file at another rate is resampled by lhotse, with a
log line. ``*_LG`` methods
read ``LG.pt`` and ``words.txt`` from ``--lang-dir``.

Example (from a recipe directory)::

    ./zipformer/pretrained.py --checkpoint zipformer/exp/pretrained.pt \\
        --bpe-model data/lang_bpe_100/bpe.model --method modified_beam_search a.wav b.wav
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lhotse.utils import LOG_EPSILON

from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.registry import DECODING_METHODS, decode
from icefall_lite.lang.bpe import SIL, sil_id
from icefall_lite.lang.files import require_file
from icefall_lite.models.asr_model import build_model
from icefall_lite.recipe.common import load_decoding_graph, pick_device, read_word_table
from icefall_lite.recipe.model_info import add_model_arguments, model_config_from, read_model_info
from icefall_lite.training.safe_load import load_weights_only
from icefall_lite.utils.config import (
    HelpFormatter,
    add_dataclass_arguments,
    config_from_args,
    given_options,
)

logger = logging.getLogger(__name__)

#: pretrained.py decodes without references, so the oracle method is left out.
METHODS = tuple(name for name, m in DECODING_METHODS.items() if not m.needs_ref)


# ----------------------------------------------------------------------------------------------
# audio and features


def read_sound_file(path: str | Path, sample_rate: int) -> np.ndarray:
    """The first channel of ``path`` as float32 in [-1, 1] at ``sample_rate`` Hz, read (and,
    at another rate, resampled, with a log line) by lhotse.

    Raises FileNotFoundError for a missing file and ValueError for one that is not audio."""
    from lhotse import Recording  # noqa: PLC0415 - slow import

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sound file not found: {path}")
    try:
        recording = Recording.from_file(path)
        if recording.sampling_rate != sample_rate:
            logger.warning("%s: sample rate %d Hz, the model expects %d Hz: resampling", path,
                           recording.sampling_rate, sample_rate)
            recording = recording.resample(sample_rate)
        samples = recording.load_audio()[0]
    except Exception as e:  # lhotse / soundfile / audioread raise many kinds
        raise ValueError(f"cannot read sound file {path}: {e}") from e
    if samples.size == 0:
        raise ValueError(f"sound file {path} has no samples")
    return samples.astype(np.float32)


def compute_features(waves: list[np.ndarray], sample_rate: int,
                     num_mel_bins: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Fbank of each wave with the training extractor; returns (N, T, F) padded with
    and the (N,) lengths."""
    from icefall_lite.data.fbank import make_fbank_extractor  # noqa: PLC0415 - loads lhotse

    extractor = make_fbank_extractor(num_mel_bins, sampling_rate=sample_rate)
    feats = [torch.as_tensor(np.asarray(extractor.extract(w, sample_rate)), dtype=torch.float32)
             for w in waves]
    lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=LOG_EPSILON)
    return batch, lens


# ----------------------------------------------------------------------------------------------
# tokens -> text


class TokenText:
    """Token ids -> text with a sentencepiece model or a ``tokens.txt`` table."""

    def __init__(self, bpe_model: Path | None = None, tokens: Path | None = None) -> None:
        self.sp = None
        self.table: dict[int, str] = {}
        if bpe_model is not None:
            import sentencepiece as spm  # noqa: PLC0415

            path = require_file(bpe_model, "BPE model (--bpe-model)")
            self.sp = spm.SentencePieceProcessor(model_file=str(path))
            self.vocab_size = self.sp.get_piece_size()
        elif tokens is not None:
            path = require_file(tokens, "token table (--tokens)")
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                fields = line.split()
                if len(fields) != 2 or not fields[1].isdigit():
                    raise ValueError(f"{path}:{line_no}: expected 'token id', got {line!r}")
                self.table[int(fields[1])] = fields[0]
            # disambiguation symbols (#0, ...) follow the real tokens in a lang dir's table
            self.vocab_size = 1 + max(i for i, s in self.table.items() if not s.startswith("#"))
        else:
            raise ValueError("give --bpe-model or --tokens to turn token ids into text")
        # the pause token of a model trained with <sil> between words is not text
        if self.sp is not None:
            self.sil = sil_id(self.sp)
        else:
            self.sil = next((i for i, s in self.table.items() if s == SIL), None)

    def __call__(self, ids: list[int]) -> str:
        ids = [i for i in ids if i != self.sil]
        if self.sp is not None:
            return self.sp.decode(ids)
        return " ".join("".join(self.table[i] for i in ids).replace("\u2581", " ").split())


# ----------------------------------------------------------------------------------------------
# models


def load_model(args: argparse.Namespace, vocab_size: int, device: torch.device):
    """The model the arguments name, with the decoding library's interface (an eager
    ``AsrModel``, a :class:`~icefall_lite.runtime.TorchScriptTransducer` or a
    :class:`~icefall_lite.runtime.OnnxTransducer`).

    ``--checkpoint`` is rebuilt from its own description; its features settings replace
    ``args.sample_rate``/``args.feature_dim`` unless the command line gave them (then they must
    agree). ``--nn-model`` is loaded with ``torch.jit.load``, which runs the file's code: only
    for models from a trusted source."""
    if args.encoder is not None:
        from icefall_lite.runtime import OnnxTransducer  # noqa: PLC0415 - loads onnxruntime

        return OnnxTransducer(args.encoder, args.decoder, args.joiner)
    if args.nn_model is not None:
        from icefall_lite.runtime import TorchScriptTransducer  # noqa: PLC0415

        return TorchScriptTransducer(args.nn_model, device)
    path = require_file(args.checkpoint, "checkpoint (--checkpoint)")
    checkpoint = load_weights_only(path, "checkpoint (--checkpoint)")
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"--checkpoint {path} is not a pretrained.pt (no 'model' entry)")
    info = read_model_info(checkpoint, path)
    given = set(getattr(args, "given_options", ()))
    config = model_config_from(info, args, given)
    if config.vocab_size != vocab_size:
        raise ValueError(f"--checkpoint {path} was trained with {config.vocab_size} tokens, the "
                         f"token table (--bpe-model/--tokens) has {vocab_size}")
    use_checkpoint_features(args, info.features, config.feature_dim, given, path)
    model = build_model(config)
    model.ctc_skip_token = info.lang.get("sil_id")
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as e:
        raise ValueError(f"--checkpoint {path}: its weights do not fit the model it "
                         f"describes: {str(e)[:500]}") from e
    model.to(device).eval()
    return model


def model_streams(model) -> bool:
    """Whether ``model`` can decode chunk by chunk (a streaming export, or an eager causal model
    with a positive chunk size and left context)."""
    if hasattr(model, "streaming"):
        return bool(model.streaming)
    enc = model.encoder
    return bool(enc.causal) and enc.chunk_size[0] > 0 and enc.left_context_frames[0] > 0


def must_stream(model) -> bool:
    """Whether ``model`` can only decode chunk by chunk (a streaming TorchScript / ONNX
    encoder)."""
    return bool(getattr(model, "streaming", False))


def model_name(args: argparse.Namespace) -> str:
    return str(args.encoder or args.nn_model or args.checkpoint)


def use_checkpoint_features(args: argparse.Namespace, features: dict[str, Any],
                             feature_dim: int, given: set[str], path: Path) -> None:
    """Take the checkpoint's sample rate and fbank bins, unless given (then they must agree)."""
    for dest, value in (("sample_rate", features.get("sample_rate")),
                        ("feature_dim", feature_dim)):
        if value is None:
            continue
        if dest in given and getattr(args, dest) != value:
            raise ValueError(f"--{dest.replace('_', '-')} {getattr(args, dest)} contradicts "
                             f"--checkpoint {path}, trained with {value}; leave it out")
        setattr(args, dest, value)


# ----------------------------------------------------------------------------------------------
# command line


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Transcribe sound files with an exported model.",
        formatter_class=HelpFormatter,
    )
    group = parser.add_argument_group("model files (one of)")
    group.add_argument("--checkpoint", type=Path, default=None,
                       help="pretrained.pt written by export.py")
    group.add_argument("--nn-model", type=Path, default=None,
                       help="jit_script.pt written by export.py --jit 1")
    group.add_argument("--encoder", type=Path, default=None, help="encoder ONNX model")
    group.add_argument("--decoder", type=Path, default=None, help="decoder ONNX model")
    group.add_argument("--joiner", type=Path, default=None, help="joiner ONNX model")
    group = parser.add_argument_group("text")
    group.add_argument("--bpe-model", type=Path, default=None, help="sentencepiece model")
    group.add_argument("--tokens", type=Path, default=None,
                       help="tokens.txt (used when --bpe-model is not given)")
    group.add_argument("--lang-dir", type=Path, default=None,
                       help="lang dir with LG.pt and words.txt, for the *_LG methods")
    group = parser.add_argument_group("decoding")
    group.add_argument("--method", default="greedy_search", choices=METHODS,
                       help="decoding method (every model kind)")
    group.add_argument("--max-duration", type=float, default=60.0,
                       help="files longer than this (seconds) are decoded chunk by chunk when "
                            "the model streams, else refused; 0: no bound. Full-context "
                            "attention needs memory growing with the square of a file's length "
                            "(a 10-minute file asked for one 14 GB allocation)")
    group.add_argument("--sample-rate", type=int, default=16000,
                       help="sample rate of the training features (a --checkpoint gives its "
                            "own); other rates are resampled")
    group.add_argument("--feature-dim", type=int, default=80,
                       help="fbank bins of the model (a --checkpoint gives its own)")
    add_dataclass_arguments(group, DecodingConfig)
    add_model_arguments(parser, exclude=("feature_dim",))
    parser.add_argument("sound_files", nargs="+", type=Path,
                        help="sound files (wav, flac, ...) to transcribe")
    parser.set_defaults(**defaults)
    return parser


def check_args(args: argparse.Namespace) -> str:
    """Which model kind the arguments name (``checkpoint``, ``jit``, ``onnx``); ValueError if
    none or several."""
    onnx = [args.encoder, args.decoder, args.joiner]
    kinds = [k for k, given in (("checkpoint", args.checkpoint is not None),
                                ("jit", args.nn_model is not None),
                                ("onnx", any(p is not None for p in onnx))) if given]
    if len(kinds) != 1:
        raise ValueError("give exactly one of --checkpoint, --nn-model, or "
                         f"--encoder/--decoder/--joiner (got {kinds or 'none'})")
    if kinds[0] == "onnx" and any(p is None for p in onnx):
        raise ValueError("ONNX decoding needs all of --encoder, --decoder and --joiner")
    if DECODING_METHODS[args.method].graph == "LG" and args.lang_dir is None:
        raise ValueError(f"--method {args.method} needs --lang-dir (the dir with LG.pt)")
    if args.max_duration < 0:
        raise ValueError(f"--max-duration must be >= 0 (0: no bound), got {args.max_duration}")
    return kinds[0]


def check_vocab(text: TokenText, model, source: str) -> None:
    """The token table must have the model's vocabulary size."""
    if text.vocab_size != model.decoder.vocab_size:
        raise ValueError(f"{source} has {text.vocab_size} tokens but the model "
                         f"has vocab_size {model.decoder.vocab_size}: a table of another model?")


def decode_offline(model, method: str, features: torch.Tensor, feature_lens: torch.Tensor,
                   config: DecodingConfig, graph, device: torch.device) -> list[list[int]]:
    with torch.no_grad():
        encoder_out, encoder_out_lens = model.forward_encoder(features.to(device),
                                                              feature_lens.to(device))
        return decode(method, model, encoder_out, encoder_out_lens, config, graph)


def decode_streaming(model, method: str, features: list[torch.Tensor], config: DecodingConfig,
                     graph) -> list[list[int]]:
    """Each utterance chunk by chunk (memory bounded by the chunk and the left context)."""
    from icefall_lite.recipe.streaming_decode import StreamingDecoder  # noqa: PLC0415

    decoder = StreamingDecoder(model, method, config, graph=graph)
    results = {s.cut_id: s.result for s in decoder.run(
        ((str(i), f, [], 0.0) for i, f in enumerate(features)), num_decode_streams=len(features))}
    return [results[str(i)] for i in range(len(features))]


def transcribe(args: argparse.Namespace) -> dict[str, str]:
    """{sound file: text} for ``args.sound_files``: files up to ``--max-duration`` seconds are
    decoded whole (batched), longer ones chunk by chunk when the model streams (a streaming
    TorchScript / ONNX model streams every file)."""
    kind = check_args(args)
    text = TokenText(args.bpe_model, args.tokens if args.bpe_model is None else None)
    text_source = args.bpe_model or args.tokens
    config = config_from_args(DecodingConfig, args, allow_missing=False)
    device = pick_device() if kind == "checkpoint" else torch.device("cpu")
    model = load_model(args, text.vocab_size, device)
    if kind != "checkpoint":
        check_vocab(text, model, str(text_source))
    waves = [read_sound_file(f, args.sample_rate) for f in args.sound_files]
    durations = [len(w) / args.sample_rate for w in waves]
    long_ones = [i for i, d in enumerate(durations) if args.max_duration and d > args.max_duration]
    if long_ones and not model_streams(model):
        first = long_ones[0]
        raise ValueError(
            f"{args.sound_files[first]} lasts {durations[first]:.1f} s, over --max-duration "
            f"{args.max_duration:g} s, and {model_name(args)} is not a streaming model: split the "
            "file, raise --max-duration, or use a causal model's streaming export")
    graph = load_decoding_graph(args.lang_dir, args.method, config.ngram_lm_scale,
                                text.vocab_size, device)
    streamed = list(range(len(waves))) if must_stream(model) else long_ones
    whole = [i for i in range(len(waves)) if i not in streamed]
    hyps: dict[int, list[int]] = {}
    if whole:
        features, feature_lens = compute_features([waves[i] for i in whole], args.sample_rate,
                                                  args.feature_dim)
        hyps.update(zip(whole, decode_offline(model, args.method, features, feature_lens,
                                              config, graph, device)))
    if streamed:
        logger.info("decoding %d file(s) chunk by chunk", len(streamed))
        features = [compute_features([waves[i]], args.sample_rate, args.feature_dim)[0][0]
                    for i in streamed]
        hyps.update(zip(streamed, decode_streaming(model, args.method, features, config, graph)))
    if DECODING_METHODS[args.method].output == "words":
        words = read_word_table(args.lang_dir)
        texts = [" ".join(words[i] for i in hyps[n]) for n in range(len(waves))]
    else:
        texts = [text(hyps[n]) for n in range(len(waves))]
    return {str(f): t for f, t in zip(args.sound_files, texts)}


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, str]:
    """Transcribe the sound files of the command line, log ``file: text`` per file and return
    {file: text}."""
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    args.given_options = sorted(given_options(parser, argv))
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s")
    results = transcribe(args)
    for path, text in results.items():
        logger.info("%s: %s", path, text)
    return results
