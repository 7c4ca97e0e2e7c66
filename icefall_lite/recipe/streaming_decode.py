"""``zipformer/streaming_decode.py`` of every recipe: real chunk-wise decoding of a causal model.

Up to ``--num-decode-streams`` utterances are decoded together; each step feeds every active
stream one chunk of ``2 * chunk + 13`` fbank frames (``chunk`` = ``--chunk-size``'s first value,
i.e. ``--decode-chunk-len / 2`` encoder-input frames at 50 Hz; the last 13 are look-ahead of the
front end) through ``model.streaming_forward_encoder`` with the stream's cached states (left
context ``--left-context-frames``), then advances the stream's search over the chunk's encoder
frames:

- ``greedy_search``: one symbol per frame, the decoder context carried over;
- ``beam_search`` / ``modified_beam_search``: the stream's hypothesis list carried over;
- ``fast_beam_search*``: a ``k2.RnntDecodingStream`` per utterance on the method's graph
  (trivial, or LG from ``--lang-dir``); each chunk is searched by a ``k2.RnntDecodingStreams``
  of the active streams that is then ``terminate_and_flush_to_streams``-ed; a finished
  stream's lattice gives its answer (best path, n-best, oracle).

The state and the step of each method are those of offline decoding
(:class:`icefall_lite.decoding.stream_search.StreamSearch`).

Each utterance is padded at the end with ``--tail-pad-frames`` frames of log(1e-10) (the
padding value of training batches) so its last words get through the look-ahead, then to whole
chunks; padded frames are decoded as input, so the result equals simulated streaming (the
whole padded utterance through the chunk-masked encoder) and does not depend on which
utterances share a batch. With ``--on-the-fly-feats 1`` the features are computed from each
cut's audio by the training extractor (as the streaming server does) instead of read from the
stored, lilcom-compressed archive. Results go to ``EXP_DIR/streaming/<method>/`` in
decode.py's files.

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
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from lhotse.utils import LOG_EPSILON

from icefall_lite.data.audio import use_libsndfile_for_sphere
from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.registry import DECODING_METHODS, make_decoding_graph
from icefall_lite.decoding.results import result_suffix
from icefall_lite.decoding.stream_search import StreamSearch
from icefall_lite.recipe.common import (
    BpeCodec,
    add_corpus_arguments,
    add_data_arguments,
    check_lang,
    data_module,
    load_decoding_graph,
    pick_device,
    read_word_table,
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
from icefall_lite.runtime.states import (
    model_device,
    stack_states,
    streaming_geometry,
    unstack_states,
)
from icefall_lite.utils.config import HelpFormatter, add_dataclass_arguments, config_from_args
from icefall_lite.utils.logging import setup_logger

logger = logging.getLogger(__name__)

#: Every method streams: the searches carry their state from chunk to chunk.
STREAMING_METHODS = tuple(DECODING_METHODS)
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
    search_state: Any = None  # the method's state (see StreamSearch)
    ref_ids: list[int] | None = None  # reference token ids (the oracle method only)
    result: list[int] | None = None
    end: int | None = None  # fbank frames after which the stream is done (None: all)

    @property
    def done(self) -> bool:
        return self.processed >= (self.features.size(0) if self.end is None else self.end)


def chunk_features(streams: list[DecodeStream], chunk_frames: int, pad_length: int
                   ) -> torch.Tensor:
    """(N, chunk_frames + pad_length, F): each stream's next chunk and its look-ahead, padded
    with LOG_EPSILON past the end of the utterance."""
    pieces = []
    for s in streams:
        piece = s.features[s.processed : s.processed + chunk_frames + pad_length]
        missing = chunk_frames + pad_length - piece.size(0)
        if missing > 0:
            piece = torch.nn.functional.pad(piece, (0, 0, 0, missing), value=LOG_EPSILON)
        pieces.append(piece)
    return torch.stack(pieces)


# ----------------------------------------------------------------------------------------------
# chunk-wise decoding


class StreamingDecoder:
    """Chunk-wise decoding of many utterances with one streaming model and one method.

    ``model`` is anything with the deployed-model interface of :mod:`icefall_lite.runtime`
    (an eager causal :class:`~icefall_lite.models.asr_model.AsrModel`, or a streaming
    TorchScript / ONNX model loaded by the runtime); ``graph`` is the method's decoding graph
    (built here for ``fast_beam_search``'s trivial graph when not given). The search of each
    chunk is :class:`~icefall_lite.decoding.stream_search.StreamSearch`'s step, the same step
    functions offline decoding runs.
    """

    def __init__(self, model, method: str, config: DecodingConfig,
                 tail_pad_frames: int = 30, graph=None, whole_chunks: bool = False) -> None:
        if method not in STREAMING_METHODS:
            raise ValueError(f"streaming decoding supports {STREAMING_METHODS}, not {method!r}")
        geometry = streaming_geometry(model)
        self.model = model
        self.method = method
        self.config = config
        self.tail_pad_frames = tail_pad_frames
        self.whole_chunks = whole_chunks
        self.device = model_device(model)
        # fbank frames per chunk, and the front end's look-ahead (7 + 2 * ConvNeXt padding)
        self.chunk_frames, self.pad_length = geometry
        if graph is None and DECODING_METHODS[method].graph == "trivial":
            graph = make_decoding_graph(method, model.decoder.vocab_size).to(self.device)
        self.search = StreamSearch(method, model, config, graph)

    def new_stream(self, cut_id: str, features: torch.Tensor, ref: list[str],
                   duration: float = 0.0, ref_ids: list[int] | None = None) -> DecodeStream:
        features = torch.nn.functional.pad(features.float(), (0, 0, 0, self.tail_pad_frames),
                                           value=LOG_EPSILON).to(self.device)
        end = None
        if self.whole_chunks:
            usable = features.size(0) - self.pad_length - 1
            end = self.chunk_frames * max(usable // self.chunk_frames, 0)
        return DecodeStream(cut_id, ref, features, self.model.get_init_states(1, self.device),
                            duration, search_state=self.search.init_state(), ref_ids=ref_ids,
                            end=end)

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
        search_states = [s.search_state for s in streams]
        self.search.step(search_states, self.model.joiner.encoder_proj(encoder_out))
        for s, state in zip(streams, search_states):
            s.search_state = state
        done = [i for i, s in enumerate(streams) if s.done]
        if done:
            refs = [streams[i].ref_ids for i in done] if DECODING_METHODS[
                self.method].needs_ref else None
            hyps = self.search.finish(search_states, [s.frames_decoded for s in streams], done,
                                      refs)
            for i, hyp in zip(done, hyps):
                streams[i].result = hyp

    def run(self, utterances: Iterable[tuple], num_decode_streams: int
            ) -> Iterator[DecodeStream]:
        """Decode (id, features (T, F), ref words, duration[, ref token ids]) items with at most
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


class CutFeatures:
    """A cut's fbank: the stored features, or with ``on_the_fly`` the training extractor
    (:func:`~icefall_lite.data.fbank.make_fbank_extractor`) run on its audio, as the streaming
    server computes them (stored features are lilcom-compressed, so they differ from those in
    the last bits)."""

    def __init__(self, num_mel_bins: int, on_the_fly: bool) -> None:
        self.num_mel_bins = num_mel_bins
        self.on_the_fly = on_the_fly
        self.extractors: dict[int, Any] = {}
        if on_the_fly:
            use_libsndfile_for_sphere()

    def __call__(self, cut) -> torch.Tensor:
        """(T, F) float32 features of ``cut``."""
        if not self.on_the_fly:
            return torch.from_numpy(cut.load_features())
        rate = cut.sampling_rate
        if rate not in self.extractors:
            self.extractors[rate] = make_fbank_extractor(self.num_mel_bins, rate)
        return torch.from_numpy(cut.compute_features(self.extractors[rate]))


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
        method = DECODING_METHODS[args.decoding_method]
        graph = load_decoding_graph(args.lang_dir, args.decoding_method, config.ngram_lm_scale,
                                    codec.vocab_size, device)
        words = read_word_table(args.lang_dir) if method.output == "words" else None
        decoder = StreamingDecoder(model, args.decoding_method, config, args.tail_pad_frames,
                                   graph)
        data = data_module(args, model_config.feature_dim)
        key = result_suffix(args.decoding_method, result_settings(args.decoding_method, config),
                            prefix=prefix)
        summary = {}
        features = CutFeatures(model_config.feature_dim, bool(args.on_the_fly_feats))
        for test_set in args.test_sets.split(","):
            cuts = data.load_cuts(args.corpus, test_set)
            utterances = ((cut.id, features(cut), text.split(),
                           cut.duration, codec.encode([text])[0] if method.needs_ref else None)
                          for cut in cuts
                          for text in [" ".join(s.text for s in cut.supervisions)])
            start = time.perf_counter()
            results = []
            audio_seconds = 0.0
            for s in decoder.run(utterances, args.num_decode_streams):
                hyp = ([words[i] for i in s.result] if words is not None
                       else codec.decode(s.result).split())
                results.append((s.cut_id, s.ref, hyp))
                audio_seconds += s.duration
            elapsed = time.perf_counter() - start
            summary[test_set] = write_test_set_results(
                out_dir, test_set, key, f"streaming {args.decoding_method}", results, elapsed,
                audio_seconds,
                dataclasses.asdict(config) | {"chunk_size": chunk, "left_context_frames": left})
        return summary
    finally:
        handle.close()
