"""``zipformer/streaming_decode.py`` of every recipe: real chunk-wise decoding of a causal model.

Up to ``--num-decode-streams`` utterances are decoded together; each step feeds every active
stream one chunk of ``2 * chunk + 13`` fbank frames (``chunk`` = ``--chunk-size``'s first value,
i.e. ``--decode-chunk-len / 2`` encoder-input frames at 50 Hz; the last 13 are look-ahead of the
front end) through ``model.streaming_forward_encoder`` with the stream's cached states (left
context ``--left-context-frames``), then advances the stream's search over the chunk's encoder
frames:

- ``greedy_search``: one symbol per frame, the decoder context carried over;
- ``modified_beam_search``: the stream's hypothesis list carried over;
- ``fast_beam_search``: a ``k2.RnntDecodingStream`` per utterance on the trivial graph; each
  chunk is searched by a ``k2.RnntDecodingStreams`` of the active streams that is then
  ``terminate_and_flush_to_streams``-ed; a finished stream's lattice gives its best path.

Each utterance is padded at the end with ``--tail-pad-frames`` frames of log(1e-10) (the
padding value of training batches) so its last words get through the look-ahead, then to whole
chunks; padded frames are decoded as input, so the result equals simulated streaming (the
whole padded utterance through the chunk-masked encoder) and does not depend on which
utterances share a batch. Results go to ``EXP_DIR/streaming/<method>/`` in decode.py's files.

The model is rebuilt from the checkpoint (it must be causal); ``--chunk-size`` (or
``--decode-chunk-len``) and ``--left-context-frames`` choose the attention it streams with.

Example (from a recipe directory)::

    ./zipformer/streaming_decode.py --epoch 30 --avg 10 --chunk-size 16 \\
        --left-context-frames 128 --num-decode-streams 100 --decoding-method greedy_search
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from icefall_lite.decoding.beam_search import Hypothesis, HypothesisList
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.fast_beam_search import advance_frames
from icefall_lite.decoding.greedy import (
    initial_context,
    joiner_log_probs,
    penalize_blank,
    run_decoder,
)
from icefall_lite.decoding.lattice import clear_final_outputs, get_texts, namespace_of
from icefall_lite.decoding.registry import make_decoding_graph
from icefall_lite.decoding.results import result_suffix
from icefall_lite.models.zipformer import NUM_LAYER_STATES
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    add_data_arguments,
    check_lang,
    data_module,
    pick_device,
)
from icefall_lite.recipe.decode import (
    add_checkpoint_arguments,
    decoding_model_info,
    load_decoding_model,
    parse_args,
    result_prefix,
    result_settings,
    write_test_set_results,
)
from icefall_lite.recipe.model_info import add_model_arguments
from icefall_lite.utils.config import HelpFormatter, add_dataclass_arguments, config_from_args
from icefall_lite.utils.logging import setup_logger

logger = logging.getLogger(__name__)

LOG_EPS = math.log(1e-10)
STREAMING_METHODS = ("greedy_search", "modified_beam_search", "fast_beam_search")
#: icefall's streaming defaults for fast_beam_search (smaller than offline decoding's).
STREAMING_DEFAULTS = {"beam": 4.0, "max_contexts": 4, "max_states": 32}


# ----------------------------------------------------------------------------------------------
# streams and their states


@dataclasses.dataclass
class DecodeStream:
    """One utterance being decoded: its (padded) features, encoder states and search state."""

    cut_id: str
    ref: list[str]
    features: torch.Tensor  # (T, F), already padded at the end
    states: list[torch.Tensor]  # batch dimension of size 1
    duration: float
    processed: int = 0  # fbank frames consumed
    frames_decoded: int = 0  # encoder frames searched
    hyp: list[int] = dataclasses.field(default_factory=list)  # greedy: context + tokens
    beam: HypothesisList | None = None  # modified_beam_search
    rnnt_stream: Any = None  # fast_beam_search
    result: list[int] | None = None

    @property
    def done(self) -> bool:
        return self.processed >= self.features.size(0)


def state_batch_axes(num_states: int) -> list[int]:
    """Batch axis of each state of ``AsrModel.get_init_states``: key, non-linear attention and
    value caches carry the batch on axis 1, conv caches, the embed cache and processed_lens on 0."""
    num_layer_states = num_states - 2
    return [1 if i < num_layer_states and i % NUM_LAYER_STATES < 4 else 0
            for i in range(num_states)]


def stack_states(per_stream: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    axes = state_batch_axes(len(per_stream[0]))
    return [torch.cat([s[i] for s in per_stream], dim=axis) for i, axis in enumerate(axes)]


def unstack_states(states: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    axes = state_batch_axes(len(states))
    batch_size = states[0].size(axes[0])
    return [[s.narrow(axis, n, 1) for s, axis in zip(states, axes)] for n in range(batch_size)]


def chunk_features(streams: list[DecodeStream], chunk_frames: int, pad_length: int
                   ) -> torch.Tensor:
    """(N, chunk_frames + pad_length, F): each stream's next chunk and its look-ahead, padded
    with LOG_EPS past the end of the utterance."""
    pieces = []
    for s in streams:
        piece = s.features[s.processed : s.processed + chunk_frames + pad_length]
        missing = chunk_frames + pad_length - piece.size(0)
        if missing > 0:
            piece = torch.nn.functional.pad(piece, (0, 0, 0, missing), value=LOG_EPS)
        pieces.append(piece)
    return torch.stack(pieces)


# ----------------------------------------------------------------------------------------------
# searches that continue across chunks


@torch.no_grad()
def greedy_step(model, encoder_out: torch.Tensor, streams: list[DecodeStream],
                blank_penalty: float = 0.0) -> None:
    """Greedy search over one chunk's encoder frames (N, T, C), continuing each stream's
    hypothesis (same decisions as :func:`~icefall_lite.decoding.greedy.greedy_search_batch`)."""
    blank_id = model.decoder.blank_id
    unk_id = getattr(model, "unk_id", blank_id)
    context_size = model.decoder.context_size
    device = encoder_out.device
    contexts = torch.tensor([s.hyp[-context_size:] for s in streams], dtype=torch.int64,
                            device=device)
    projected = model.joiner.encoder_proj(encoder_out)
    decoder_out = run_decoder(model, contexts)
    for t in range(projected.size(1)):
        logits = model.joiner(projected[:, t].unsqueeze(1).unsqueeze(1),
                              decoder_out.unsqueeze(1), project_input=False)
        y = penalize_blank(logits.reshape(len(streams), -1), blank_id, blank_penalty).argmax(-1)
        emit = (y != blank_id) & (y != unk_id)
        if not bool(emit.any()):
            continue
        who = torch.nonzero(emit).squeeze(1)
        for i, token in zip(who.tolist(), y[emit].tolist()):
            streams[i].hyp.append(token)
        contexts[who] = torch.cat([contexts[who, 1:], y[emit].unsqueeze(1)], dim=1)
        decoder_out[who] = run_decoder(model, contexts[who])


@torch.no_grad()
def modified_beam_search_step(model, encoder_out: torch.Tensor, streams: list[DecodeStream],
                              beam_size: int, temperature: float = 1.0,
                              blank_penalty: float = 0.0) -> None:
    """One chunk of :func:`~icefall_lite.decoding.beam_search.modified_beam_search`, each
    stream's beam carried over."""
    blank_id = model.decoder.blank_id
    unk_id = getattr(model, "unk_id", blank_id)
    context_size = model.decoder.context_size
    device = encoder_out.device
    projected = model.joiner.encoder_proj(encoder_out)
    for t in range(projected.size(1)):
        hyps = [list(s.beam) for s in streams]
        flat = [h for hs in hyps for h in hs]
        counts = torch.tensor([len(hs) for hs in hyps], device=device)
        contexts = torch.tensor([h.ys[-context_size:] for h in flat], dtype=torch.int64,
                                device=device)
        owner = torch.repeat_interleave(torch.arange(len(streams), device=device), counts)
        log_probs = joiner_log_probs(model, projected[owner, t], run_decoder(model, contexts),
                                     temperature, blank_penalty)
        V = log_probs.shape[1]
        scores_of = torch.tensor([h.log_prob for h in flat], dtype=log_probs.dtype, device=device)
        log_probs = log_probs + scores_of[:, None]
        start = 0
        for s, hs in zip(streams, hyps):
            scores = log_probs[start : start + len(hs)].reshape(-1)
            start += len(hs)
            top_scores, top_index = scores.topk(min(beam_size, scores.numel()))
            new_beam = HypothesisList()
            for score, k in zip(top_scores.tolist(), top_index.tolist()):
                hyp, token = hs[k // V], k % V
                ys = hyp.ys if token in (blank_id, unk_id) else hyp.ys + [token]
                new_beam.add(Hypothesis(list(ys), score))
            s.beam = new_beam


@torch.no_grad()
def fast_beam_search_step(model, encoder_out: torch.Tensor, streams: list[DecodeStream],
                          ns, rnnt_config, temperature: float = 1.0,
                          blank_penalty: float = 0.0) -> Any:
    """Advance the streams' ``RnntDecodingStream`` over one chunk, then flush the search state
    back into them; returns the ``RnntDecodingStreams`` (for ``format_output``). ``ns`` is the
    k2 namespace (real or built-in) of the decoding graph."""
    decoding = ns.RnntDecodingStreams([s.rnnt_stream for s in streams], rnnt_config)
    advance_frames(model, decoding, model.joiner.encoder_proj(encoder_out), encoder_out.size(1),
                   temperature, blank_penalty)
    decoding.terminate_and_flush_to_streams()
    return decoding


def fast_beam_search_results(decoding, streams: list[DecodeStream], ns, allow_partial: bool,
                             use_double_scores: bool) -> list[list[int]]:
    """Best path (token ids) of each stream's lattice over the frames decoded so far."""
    lattice = decoding.format_output([s.frames_decoded for s in streams],
                                     allow_partial=allow_partial)
    lattice = clear_final_outputs(lattice)
    return get_texts(ns.shortest_path(lattice, use_double_scores=use_double_scores))


class StreamingDecoder:
    """Chunk-wise decoding of many utterances with one causal model and one method."""

    def __init__(self, model, method: str, config: DecodingConfig,
                 tail_pad_frames: int = 30) -> None:
        if method not in STREAMING_METHODS:
            raise ValueError(f"streaming decoding supports {STREAMING_METHODS}, not {method!r}")
        if not model.encoder.causal:
            raise ValueError("streaming decoding needs a causal model (train with --causal 1)")
        self.model = model
        self.method = method
        self.config = config
        self.tail_pad_frames = tail_pad_frames
        self.device = next(model.parameters()).device
        self.chunk = model.encoder.chunk_size[0]
        # fbank frames per chunk, and the front end's look-ahead (7 + 2 * ConvNeXt padding)
        self.chunk_frames = 2 * self.chunk
        self.pad_length = 7 + 2 * model.encoder_embed.convnext.time_padding
        self.graph = None
        self.ns = None
        self.rnnt_config = None
        if method == "fast_beam_search":
            vocab_size = model.decoder.vocab_size
            self.graph = make_decoding_graph(method, vocab_size).to(self.device)
            self.ns = namespace_of(self.graph)
            self.rnnt_config = self.ns.RnntDecodingConfig(
                vocab_size=vocab_size, decoder_history_len=model.decoder.context_size,
                beam=config.beam, max_states=config.max_states,
                max_contexts=config.max_contexts)

    def new_stream(self, cut_id: str, features: torch.Tensor, ref: list[str],
                   duration: float = 0.0) -> DecodeStream:
        features = torch.nn.functional.pad(features.float(), (0, 0, 0, self.tail_pad_frames),
                                           value=LOG_EPS).to(self.device)
        stream = DecodeStream(cut_id, ref, features,
                              self.model.get_init_states(1, self.device), duration)
        context_size = self.model.decoder.context_size
        stream.hyp = initial_context(context_size, self.model.decoder.blank_id)
        if self.method == "modified_beam_search":
            stream.beam = HypothesisList([Hypothesis(list(stream.hyp), 0.0)])
        elif self.method == "fast_beam_search":
            stream.rnnt_stream = self.ns.RnntDecodingStream(self.graph)
        return stream

    @torch.no_grad()
    def decode_chunk(self, streams: list[DecodeStream]) -> None:
        """Feed every stream its next chunk; finished streams get ``result`` set."""
        x = chunk_features(streams, self.chunk_frames, self.pad_length)
        # The padding is decoded as input (see the module docstring), so every row is full.
        x_lens = torch.full((len(streams),), x.size(1), dtype=torch.int64, device=self.device)
        states = stack_states([s.states for s in streams])
        encoder_out, _, new_states = self.model.streaming_forward_encoder(x, x_lens, states)
        for s, st in zip(streams, unstack_states(new_states)):
            s.states = st
            s.processed += self.chunk_frames
            s.frames_decoded += encoder_out.size(1)
        c = self.config
        if self.method == "greedy_search":
            greedy_step(self.model, encoder_out, streams, c.blank_penalty)
        elif self.method == "modified_beam_search":
            modified_beam_search_step(self.model, encoder_out, streams, c.beam_size,
                                      c.temperature, c.blank_penalty)
        else:
            decoding = fast_beam_search_step(self.model, encoder_out, streams, self.ns,
                                             self.rnnt_config, c.temperature, c.blank_penalty)
            if any(s.done for s in streams):
                hyps = fast_beam_search_results(decoding, streams, self.ns, c.allow_partial,
                                                c.use_double_scores)
                for s, hyp in zip(streams, hyps):
                    if s.done:
                        s.result = hyp
        context_size = self.model.decoder.context_size
        for s in streams:
            if s.done and self.method == "greedy_search":
                s.result = s.hyp[context_size:]
            elif s.done and self.method == "modified_beam_search":
                s.result = s.beam.get_most_probable(length_norm=True).ys[context_size:]

    def run(self, utterances: Iterable[tuple[str, torch.Tensor, list[str], float]],
            num_decode_streams: int) -> Iterator[DecodeStream]:
        """Decode (id, features (T, F), ref words, duration) items with at most
        ``num_decode_streams`` in flight; yields each stream when it is finished."""
        if num_decode_streams < 1:
            raise ValueError(f"--num-decode-streams must be >= 1, got {num_decode_streams}")
        pending = iter(utterances)
        active: list[DecodeStream] = []
        exhausted = False
        while True:
            while not exhausted and len(active) < num_decode_streams:
                item = next(pending, None)
                if item is None:
                    exhausted = True
                else:
                    active.append(self.new_stream(*item))
            if not active:
                return
            self.decode_chunk(active)
            yield from (s for s in active if s.done)
            active = [s for s in active if not s.done]


# ----------------------------------------------------------------------------------------------
# command line


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Chunk-wise streaming decoding of a causal transducer.",
        formatter_class=HelpFormatter,
    )
    add_corpus_arguments(parser, defaults, options=("corpus", "lang_dir", "test_sets"))
    add_data_arguments(parser, decoding=True)
    add_model_arguments(parser)
    add_checkpoint_arguments(parser)
    group = parser.add_argument_group("streaming decoding")
    group.add_argument("--decoding-method", default="greedy_search", choices=STREAMING_METHODS)
    group.add_argument("--num-decode-streams", type=int, default=100,
                       help="utterances decoded in parallel")
    group.add_argument("--decode-chunk-len", type=int, default=0,
                       help="fbank frames per chunk (2 * chunk size); 0: 2 * --chunk-size's "
                            "first value")
    group.add_argument("--tail-pad-frames", type=int, default=30,
                       help="log(1e-10) frames appended to each utterance")
    add_dataclass_arguments(group, DecodingConfig)
    parser.set_defaults(**STREAMING_DEFAULTS)
    parser.set_defaults(**defaults)
    return parser


def apply_chunk_len(args: argparse.Namespace) -> None:
    """``--decode-chunk-len N`` sets the model's chunk size to N / 2 (50 Hz frames), as a
    ``--chunk-size`` given on the command line would."""
    if args.decode_chunk_len:
        if args.decode_chunk_len <= 0 or args.decode_chunk_len % 2:
            raise ValueError(f"--decode-chunk-len must be a positive even number, got "
                             f"{args.decode_chunk_len}")
        args.chunk_size = (args.decode_chunk_len // 2, *tuple(args.chunk_size or ())[1:])
        args.given_options = sorted({*getattr(args, "given_options", ()), "chunk_size"})


def main(defaults: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, dict]:
    """Decode ``--test-sets`` chunk by chunk; returns {test set: {wer, rtf, ...}}."""
    args = parse_args(build_parser(defaults), argv)
    apply_chunk_len(args)
    info, model_config = decoding_model_info(args)
    if not model_config.causal:
        raise ValueError(f"streaming_decode.py needs a causal model; {info.path} holds a "
                         f"non-causal one (train with --causal 1)")
    chunk, left = model_config.chunk_size[0], model_config.left_context_frames[0]
    if chunk <= 0 or left <= 0:
        raise ValueError(f"streaming needs a positive chunk size and left context, got "
                         f"--chunk-size {chunk} --left-context-frames {left}")
    codec = BpeCodec(args.lang_dir)
    check_lang(info, codec, args.lang_dir)
    out_dir = Path(args.exp_dir) / "streaming" / args.decoding_method
    prefix = result_prefix(args, model_config)  # <checkpoint>_chunk-<chunk>_left-<left>
    handle = setup_logger(out_dir / f"log-decode-{prefix}", 0, 1)
    try:
        logger.info("streaming decoding arguments: %s", vars(args))
        device = pick_device()
        config = config_from_args(DecodingConfig, args, allow_missing=False)
        model = load_decoding_model(args, device, (info, model_config))
        decoder = StreamingDecoder(model, args.decoding_method, config, args.tail_pad_frames)
        data = data_module(args, model_config.feature_dim)
        key = result_suffix(args.decoding_method, result_settings(args.decoding_method, config),
                            prefix=prefix)
        summary = {}
        for test_set in args.test_sets.split(","):
            cuts = data.load_cuts(args.corpus, test_set)
            utterances = ((cut.id, torch.from_numpy(cut.load_features()),
                           " ".join(s.text for s in cut.supervisions).split(), cut.duration)
                          for cut in cuts)
            start = time.perf_counter()
            results = []
            audio_seconds = 0.0
            for s in decoder.run(utterances, args.num_decode_streams):
                results.append((s.cut_id, s.ref, codec.decode(s.result).split()))
                audio_seconds += s.duration
            elapsed = time.perf_counter() - start
            summary[test_set] = write_test_set_results(
                out_dir, test_set, key, f"streaming {args.decoding_method}", results, elapsed,
                audio_seconds,
                dataclasses.asdict(config) | {"chunk_size": chunk, "left_context_frames": left})
        return summary
    finally:
        handle.close()
