"""The server's one adapter to the model and the searches: make streams, feed samples, decode a
batch of ready streams, partial / final results, endpoints.

Everything model- and search-specific lives here; the rest of :mod:`icefall_lite.server` sees
:class:`Engine` and :class:`Stream` only. The model is any streaming model of
:mod:`icefall_lite.runtime` (an eager causal ``AsrModel``, a streaming TorchScript export or the
streaming ONNX export, fp32 or int8), and the search of every method is
:class:`~icefall_lite.decoding.stream_search.StreamSearch`'s step, the one implementation that
offline decoding and :mod:`icefall_lite.recipe.streaming_decode` run. A stream is fed chunks of
``chunk_frames + pad_length`` fbank frames as streaming_decode.py feeds them, and at the end of
its audio ``tail_pad_frames`` frames of log(1e-10) and padding to a whole chunk, so a served
transcript equals streaming_decode.py's.

Per-token frame times: greedy_search's step reports the frame of each token it adds (one step
per chunk); modified_beam_search steps one encoder frame at a time (the same decisions as a
whole-chunk step: its step is frame-synchronous), so a token's frame is the step that added it;
fast_beam_search reads them off the best path of the lattice
(:meth:`~icefall_lite.decoding.stream_search.StreamSearch.best_alignments`).

Endpointing (icefall / sherpa rules, :class:`EndpointConfig`) cuts a stream into segments: the
search restarts (the encoder keeps its states) and the segment's result is final.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from lhotse.utils import LOG_EPSILON

from icefall_lite.decoding.beam_search import Hypothesis, HypothesisList
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.greedy import initial_context
from icefall_lite.decoding.registry import make_decoding_graph
from icefall_lite.decoding.stream_search import StreamSearch
from icefall_lite.recipe.streaming_decode import DecodeStream, chunk_features
from icefall_lite.runtime.states import (
    model_device,
    stack_states,
    streaming_geometry,
    unstack_states,
)
from icefall_lite.server.features import StreamingFbank

#: Methods the server offers; ``fast_beam_search_LG`` needs an LG graph (``--lang-dir``).
SERVER_METHODS = ("greedy_search", "modified_beam_search", "fast_beam_search",
                  "fast_beam_search_LG")
#: DecodingConfig fields a client may set in its start message.
CLIENT_OPTIONS = ("beam", "max_contexts", "max_states", "beam_size", "temperature",
                  "blank_penalty", "ngram_lm_scale")


@dataclasses.dataclass
class EndpointConfig:
    """sherpa / icefall endpoint rules, in seconds of decoded audio of the current segment.

    Args:
      rule1_min_trailing_silence: endpoint after this much silence even if nothing was recognised.
      rule2_min_trailing_silence: endpoint after this much silence following recognised speech.
      rule3_min_utterance_length: endpoint when the segment is this long, whatever it holds.
    Silence is encoder frames since the last emitted token other than blank and ``<sil>``.
    """

    rule1_min_trailing_silence: float = 2.4
    rule2_min_trailing_silence: float = 1.2
    rule3_min_utterance_length: float = 20.0


@dataclasses.dataclass
class Result:
    """A segment's recognition: text, token pieces, token ids, and each token's time in seconds
    from the stream's start (its encoder frame times the frame shift)."""

    text: str
    tokens: list[str]
    token_ids: list[int]
    timestamps: list[float]
    start: float  # segment start, seconds from the stream's start

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Stream:
    """One connection's recognition state (owned by one worker thread at a time). The search
    state is ``decode.search_state``; ``decode.features`` holds the fbank frames not yet
    decoded (``decode.processed`` stays 0: decoded chunks are dropped)."""

    method: str
    config: DecodingConfig
    search: StreamSearch
    decode: DecodeStream
    fbank: StreamingFbank
    group: tuple = ()  # streams of one group (method and options) share their search steps
    finished: bool = False  # no more audio will come
    segment: int = 0
    segment_start: int = 0  # encoder frames of the stream before this segment
    context: list[int] = dataclasses.field(default_factory=list)  # the segment's start context
    token_frames: list[int] = dataclasses.field(default_factory=list)  # greedy
    beam_frames: dict[tuple[int, ...], list[int]] = dataclasses.field(default_factory=dict)
    alignment: tuple[list[int], list[int], list[int]] = ([], [], [])  # fast beam: best path

    @property
    def frames(self) -> int:
        """Encoder frames decoded in the current segment."""
        return self.decode.frames_decoded


class Engine:
    """A streaming transducer (the runtime interface: ``get_init_states``,
    ``streaming_forward_encoder``, ``decoder``, ``joiner``) serving streams chunk by chunk.

    Args:
      model: an eager causal ``AsrModel`` in eval mode with ``encoder.chunk_size[0]`` and
        ``left_context_frames[0]`` set to the serving chunk and left context, or a streaming
        :class:`~icefall_lite.runtime.TorchScriptTransducer` /
        :class:`~icefall_lite.runtime.OnnxTransducer` (the chunk it was exported with).
      token_text: ``ids -> text`` (the BPE codec's decode) and ``pieces``: id -> piece table.
      sample_rate: the features' sample rate.
      config: default decoding options (a client may override :data:`CLIENT_OPTIONS`).
      LG, words: optional LG graph and word table (``fast_beam_search_LG``).
      sil_id: the ``<sil>`` pause piece, counted as silence by the endpoint rules.
    """

    def __init__(self, model, token_text, pieces: list[str], sample_rate: int,
                 config: DecodingConfig, endpoint: EndpointConfig | None = None, LG=None,
                 words=None, sil_id: int | None = None, num_mel_bins: int = 80,
                 tail_pad_frames: int = 30) -> None:
        self.chunk_frames, self.pad_length = streaming_geometry(model)
        self.chunk = self.chunk_frames // 2  # 50 Hz encoder-input frames per chunk
        self.model = model
        self.token_text = token_text
        self.pieces = pieces
        self.sample_rate = sample_rate
        self.config = config
        self.endpoint = endpoint
        self.words = words
        self.num_mel_bins = num_mel_bins
        self.tail_pad_frames = tail_pad_frames
        self.device = model_device(model)
        self.blank_id = model.decoder.blank_id
        self.context_size = model.decoder.context_size
        self.silence_ids = {self.blank_id} | ({sil_id} if sil_id is not None else set())
        self.frame_shift = 0.04  # seconds per encoder frame: 10 ms fbank, subsampled by 4
        vocab_size = model.decoder.vocab_size
        self.graphs = {"fast_beam_search": make_decoding_graph("fast_beam_search", vocab_size)}
        if LG is not None:
            self.graphs["fast_beam_search_LG"] = make_decoding_graph(
                "fast_beam_search_LG", vocab_size, LG, config.ngram_lm_scale)
        self.graphs = {k: g.to(self.device) for k, g in self.graphs.items()}

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in SERVER_METHODS if m in self.graphs or "fast" not in m)

    # -- streams -------------------------------------------------------------------------------

    def stream_config(self, method: str, options: dict[str, Any]) -> DecodingConfig:
        """The decoding config of a stream; ValueError for an unknown method or option."""
        if method not in self.methods:
            raise ValueError(f"unknown or unavailable method {method!r}; this server offers "
                             f"{', '.join(self.methods)}")
        unknown = set(options) - set(CLIENT_OPTIONS)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; allowed: {CLIENT_OPTIONS}")
        if "ngram_lm_scale" in options and options["ngram_lm_scale"] != self.config.ngram_lm_scale:
            raise ValueError("ngram_lm_scale is fixed by the server (the LG graph is scaled once)")
        try:
            return DecodingConfig(**{**dataclasses.asdict(self.config), **options})
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad options {options}: {e}") from e

    def new_stream(self, method: str, options: dict[str, Any] | None = None) -> Stream:
        config = self.stream_config(method, dict(options or {}))
        search = StreamSearch(method, self.model, config, self.graphs.get(method))
        decode = DecodeStream("", [], torch.zeros(0, self.num_mel_bins, device=self.device),
                              self.model.get_init_states(1, self.device), 0.0)
        stream = Stream(method, config, search, decode,
                        StreamingFbank(self.sample_rate, self.num_mel_bins),
                        (method, dataclasses.astuple(config)))
        self._start_search(stream, initial_context(self.context_size, self.blank_id))
        return stream

    def _start_search(self, stream: Stream, context: list[int]) -> None:
        """A fresh search of the segment from the decoder context ``context`` (greedy and beam
        search; fast_beam_search starts from its graph's start state)."""
        d = stream.decode
        d.frames_decoded = 0
        stream.context = list(context)
        stream.token_frames = []
        stream.beam_frames = {tuple(context): []}
        stream.alignment = ([], [], [])
        if stream.method == "greedy_search":
            d.search_state = list(context)
        elif stream.method == "modified_beam_search":
            d.search_state = HypothesisList([Hypothesis(list(context), 0.0)])
        else:
            d.search_state = stream.search.init_state()

    def _append(self, stream: Stream, frames: np.ndarray) -> None:
        if frames.shape[0]:
            new = torch.from_numpy(frames).to(self.device)
            stream.decode.features = torch.cat([stream.decode.features, new])

    def accept_waveform(self, stream: Stream, samples: np.ndarray) -> None:
        """float32 samples in [-1, 1] at ``sample_rate``."""
        self._append(stream, stream.fbank.accept(samples))

    def input_finished(self, stream: Stream) -> None:
        """No more audio: the last frames, then the tail padding."""
        self._append(stream, stream.fbank.finish())
        tail = np.full((self.tail_pad_frames, self.num_mel_bins), LOG_EPSILON, np.float32)
        self._append(stream, tail)
        stream.finished = True

    def ready_after(self, stream: Stream, more_samples: int) -> bool:
        """Whether ``more_samples`` more samples would give the stream a chunk to decode (its
        features need not be computed before then)."""
        new = stream.fbank.complete_frames(more_samples) - stream.fbank.num_frames
        return stream.decode.features.size(0) + new >= self.chunk_frames + self.pad_length

    def is_ready(self, stream: Stream) -> bool:
        """A chunk can be decoded: a whole chunk and its look-ahead, or the rest after the end."""
        d = stream.decode
        if stream.finished:
            return not d.done
        return d.features.size(0) >= self.chunk_frames + self.pad_length

    def is_done(self, stream: Stream) -> bool:
        return stream.finished and stream.decode.done

    # -- decoding ------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(self, streams: list[Stream]) -> None:
        """Decode one chunk of every (ready) stream: the encoder on the whole batch, then each
        (method, options) group's search on its streams."""
        ds = [s.decode for s in streams]
        x = chunk_features(ds, self.chunk_frames, self.pad_length)
        x_lens = torch.full((len(ds),), x.size(1), dtype=torch.int64, device=self.device)
        encoder_out, _, new_states = self.model.streaming_forward_encoder(
            x, x_lens, stack_states([d.states for d in ds]))
        for d, st in zip(ds, unstack_states(new_states)):
            d.states = [t.clone() for t in st]  # not views: the batch's tensors can go
            d.features = d.features[self.chunk_frames :]  # a long stream's buffer stays short
        projected = self.model.joiner.encoder_proj(encoder_out)
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(streams):
            groups.setdefault(s.group, []).append(i)
        for indices in groups.values():
            self._search([streams[i] for i in indices], projected[indices])

    def _search(self, streams: list[Stream], projected: torch.Tensor) -> None:
        """Advance the searches of ``streams`` (one method and config) over ``projected``
        (``[N, T, J]``) with the first stream's :class:`StreamSearch` (they are alike)."""
        search = streams[0].search
        states = [s.decode.search_state for s in streams]
        if search.is_lattice_method:
            search.step(states, projected)
            for s in streams:
                s.decode.frames_decoded += projected.size(1)
            alignments = search.best_alignments(states, [s.frames for s in streams])
            for s, state, alignment in zip(streams, states, alignments):
                s.decode.search_state, s.alignment = state, alignment
            return
        if search.method == "greedy_search":  # the chunk in one step, which times its tokens
            frames: list[list[int]] = [[] for _ in streams]
            search.step(states, projected, token_frames=frames)
            for s, state, f in zip(streams, states, frames):
                s.decode.search_state = state
                s.token_frames.extend(s.frames + t for t in f)
                s.decode.frames_decoded += projected.size(1)
            return
        for t in range(projected.size(1)):  # one frame per step: a new token's frame is t
            search.step(states, projected[:, t : t + 1])
            for s, state in zip(streams, states):
                s.decode.search_state = state
                s.beam_frames = self._beam_frames(s)
                s.decode.frames_decoded += 1

    @staticmethod
    def _beam_frames(stream: Stream) -> dict[tuple[int, ...], list[int]]:
        """Token frames of each hypothesis of the new beam: a hypothesis that was in the old
        beam (extended by blank, possibly merged) keeps its frames; else it is its parent plus
        one token on this frame (modified beam search adds at most one token per frame)."""
        old = stream.beam_frames
        return {h.key: old[h.key] if h.key in old else old[h.key[:-1]] + [stream.frames]
                for h in stream.decode.search_state}

    # -- results -------------------------------------------------------------------------------

    def _tokens(self, stream: Stream) -> tuple[list[int], list[int]]:
        """The segment's best tokens (the search's own answer) and the frame of each."""
        if stream.search.is_lattice_method:
            tokens, frames, _ = stream.alignment
            return tokens, frames
        (tokens,) = stream.search.finish([stream.decode.search_state], [stream.frames])
        if stream.method == "greedy_search":
            return tokens, stream.token_frames
        return tokens, stream.beam_frames[tuple(stream.context + tokens)]

    def result(self, stream: Stream) -> Result:
        """The current segment's best hypothesis (partial, or final once the segment ends)."""
        tokens, frames = self._tokens(stream)
        if stream.method == "fast_beam_search_LG":
            text = " ".join(self.words[w] for w in stream.alignment[2])
        else:
            text = self.token_text(tokens)
        offset = stream.segment_start
        return Result(text, [self.pieces[t] for t in tokens], list(tokens),
                      [round((offset + f) * self.frame_shift, 3) for f in frames],
                      round(offset * self.frame_shift, 3))

    def is_endpoint(self, stream: Stream) -> bool:
        """An endpoint rule fires on the current segment."""
        e = self.endpoint
        if e is None or stream.frames == 0:
            return False
        tokens, frames = self._tokens(stream)
        speech = [f for y, f in zip(tokens, frames) if y not in self.silence_ids]
        trailing = (stream.frames - (speech[-1] + 1) if speech else stream.frames)
        trailing_s, length_s = trailing * self.frame_shift, stream.frames * self.frame_shift
        return ((not speech and trailing_s >= e.rule1_min_trailing_silence)
                or (bool(speech) and trailing_s >= e.rule2_min_trailing_silence)
                or length_s >= e.rule3_min_utterance_length)

    def next_segment(self, stream: Stream) -> None:
        """Start a new segment: the search restarts from the last tokens' decoder context (as
        sherpa does: a restart from the utterance-start context makes the decoder emit at
        once), the encoder states carry on. fast_beam_search restarts from its graph's start."""
        tokens, _ = self._tokens(stream)
        context = (stream.context + tokens)[-self.context_size :]
        stream.segment_start += stream.frames
        stream.segment += 1
        self._start_search(stream, context)
