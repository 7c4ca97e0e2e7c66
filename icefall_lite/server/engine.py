"""The server's one adapter to the model and the searches: make streams, feed samples, decode a
batch of ready streams, partial / final results, endpoints.

Everything model- and search-specific lives here; the rest of :mod:`icefall_lite.server` sees
:class:`Engine` and :class:`Stream` only. Decoding is exactly that of
:mod:`icefall_lite.recipe.streaming_decode` (its :class:`~icefall_lite.recipe.streaming_decode.
DecodeStream`, chunking, state stacking and search steps): a stream is fed chunks of
``2 * chunk + 13`` fbank frames, and at the end of its audio ``tail_pad_frames`` frames of
log(1e-10) and padding to a whole chunk, so a served transcript equals streaming_decode.py's.
The searches advance frame by frame (one step call per encoder frame) so that each emitted
token gets its encoder frame; the decisions are those of a whole-chunk step.

Endpointing (icefall / sherpa rules, :class:`EndpointConfig`) cuts a stream into segments: the
search restarts (the encoder keeps its states) and the segment's result is final.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from icefall_lite.decoding.beam_search import Hypothesis, HypothesisList
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.greedy import initial_context
from icefall_lite.decoding.lattice import clear_final_outputs, get_texts, namespace_of
from icefall_lite.decoding.registry import make_decoding_graph
from icefall_lite.recipe.streaming_decode import (
    LOG_EPS,
    DecodeStream,
    chunk_features,
    fast_beam_search_step,
    greedy_step,
    modified_beam_search_step,
    stack_states,
    unstack_states,
)
from icefall_lite.server.features import StreamingFbank

#: Methods the server offers; ``fast_beam_search_LG`` needs an LG graph (``--lang-dir``).
SERVER_METHODS = ("greedy_search", "modified_beam_search", "fast_beam_search",
                  "fast_beam_search_LG")
#: DecodingConfig fields a client may set in its start message.
CLIENT_OPTIONS = ("beam", "max_contexts", "max_states", "beam_size", "temperature",
                  "blank_penalty", "ngram_lm_scale")


class ScriptedStreamingModel:
    """The eager model's interface over a TorchScript streaming model (``export.py --jit 1``'s
    ``jit_script_chunk_<C>_left_<L>.pt``: ``encoder(x, x_lens, states)``,
    ``encoder.get_init_states``, ``decoder``, ``joiner``); chunk and left context are the ones
    it was exported with."""

    def __init__(self, scripted) -> None:
        self.scripted = scripted
        self.decoder = scripted.decoder
        self.joiner = scripted.joiner
        self.chunk = int(scripted.encoder.chunk_size)
        self.pad_length = int(scripted.encoder.pad_length)

    def get_init_states(self, batch_size: int, device: torch.device) -> list[torch.Tensor]:
        return self.scripted.encoder.get_init_states(batch_size, device)

    def streaming_forward_encoder(self, x, x_lens, states):
        return self.scripted.encoder(x, x_lens, states)

    def parameters(self):
        return self.scripted.parameters()


def chunk_geometry(model) -> tuple[int, int]:
    """(chunk size in 50 Hz frames, look-ahead fbank frames) of an eager causal model (set to
    its ``encoder.chunk_size[0]``) or a :class:`ScriptedStreamingModel`."""
    if isinstance(model, ScriptedStreamingModel):
        return model.chunk, model.pad_length
    if not model.encoder.causal:
        raise ValueError("the server needs a causal model (trained with --causal 1)")
    return model.encoder.chunk_size[0], 7 + 2 * model.encoder_embed.convnext.time_padding


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
    """One connection's recognition state (owned by the engine's worker thread)."""

    method: str
    config: DecodingConfig
    decode: DecodeStream
    fbank: StreamingFbank
    finished: bool = False  # no more audio will come
    segment: int = 0
    segment_start: int = 0  # encoder frames of the stream before this segment
    token_frames: list[int] = dataclasses.field(default_factory=list)  # greedy
    beam_frames: dict[tuple[int, ...], list[int]] = dataclasses.field(default_factory=dict)
    lattice_result: tuple[list[int], list[int], list[int]] | None = None  # fast beam

    @property
    def frames(self) -> int:
        """Encoder frames decoded in the current segment."""
        return self.decode.frames_decoded


class Engine:
    """A causal transducer (``AsrModel`` interface: ``streaming_forward_encoder``,
    ``get_init_states``, ``decoder``, ``joiner``) serving streams chunk by chunk.

    Args:
      model: the causal model in eval mode, ``encoder.chunk_size[0]`` and
        ``left_context_frames[0]`` set to the serving chunk and left context; or a
        :class:`ScriptedStreamingModel`.
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
        self.chunk, self.pad_length = chunk_geometry(model)
        self.model = model
        self.token_text = token_text
        self.pieces = pieces
        self.sample_rate = sample_rate
        self.config = config
        self.endpoint = endpoint
        self.words = words
        self.num_mel_bins = num_mel_bins
        self.tail_pad_frames = tail_pad_frames
        self.device = next(model.parameters()).device
        self.blank_id = model.decoder.blank_id
        self.context_size = model.decoder.context_size
        self.silence_ids = {self.blank_id} | ({sil_id} if sil_id is not None else set())
        self.chunk_frames = 2 * self.chunk
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
        decode = DecodeStream("", [], torch.zeros(0, self.num_mel_bins, device=self.device),
                              self.model.get_init_states(1, self.device), 0.0)
        stream = Stream(method, config, decode, StreamingFbank(self.sample_rate,
                                                               self.num_mel_bins))
        self._start_search(stream)
        return stream

    def _start_search(self, stream: Stream, context: list[int] | None = None) -> None:
        """A fresh search; ``context``: the decoder context to start from (default: the
        utterance start context)."""
        d = stream.decode
        d.frames_decoded = 0
        d.hyp = list(context or initial_context(self.context_size, self.blank_id))
        stream.token_frames = []
        if stream.method == "modified_beam_search":
            d.beam = HypothesisList([Hypothesis(list(d.hyp), 0.0)])
            stream.beam_frames = {tuple(d.hyp): []}
        elif stream.method.startswith("fast_beam_search"):
            graph = self.graphs[stream.method]
            d.rnnt_stream = namespace_of(graph).RnntDecodingStream(graph)
            stream.lattice_result = ([], [], [])

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
        tail = np.full((self.tail_pad_frames, self.num_mel_bins), LOG_EPS, np.float32)
        self._append(stream, tail)
        stream.finished = True

    def is_ready(self, stream: Stream) -> bool:
        """A chunk can be decoded: a whole chunk and its look-ahead, or the rest after the end."""
        d = stream.decode
        if stream.finished:
            return not d.done
        return d.features.size(0) - d.processed >= self.chunk_frames + self.pad_length

    def is_done(self, stream: Stream) -> bool:
        return stream.finished and stream.decode.done

    # -- decoding ------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(self, streams: list[Stream]) -> None:
        """Decode one chunk of every (ready) stream: the encoder on the whole batch, then each
        method's search on its streams."""
        ds = [s.decode for s in streams]
        x = chunk_features(ds, self.chunk_frames, self.pad_length)
        x_lens = torch.full((len(ds),), x.size(1), dtype=torch.int64, device=self.device)
        encoder_out, _, new_states = self.model.streaming_forward_encoder(
            x, x_lens, stack_states([d.states for d in ds]))
        for d, st in zip(ds, unstack_states(new_states)):
            d.states = [t.clone() for t in st]
            # drop consumed frames so a long stream's buffer stays short
            d.features = d.features[self.chunk_frames :]
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(streams):
            groups.setdefault((s.method, tuple(dataclasses.astuple(s.config))), []).append(i)
        for indices in groups.values():
            self._search([streams[i] for i in indices], encoder_out[indices])

    def _search(self, streams: list[Stream], encoder_out: torch.Tensor) -> None:
        method, c = streams[0].method, streams[0].config
        ds = [s.decode for s in streams]
        if method.startswith("fast_beam_search"):
            graph = self.graphs[method]
            ns = namespace_of(graph)
            rnnt_config = ns.RnntDecodingConfig(
                vocab_size=self.model.decoder.vocab_size, decoder_history_len=self.context_size,
                beam=c.beam, max_states=c.max_states, max_contexts=c.max_contexts)
            decoding = fast_beam_search_step(self.model, encoder_out, ds, ns, rnnt_config,
                                             c.temperature, c.blank_penalty)
            for d in ds:
                d.frames_decoded += encoder_out.size(1)
            self._lattice_results(streams, decoding, ns)
            return
        for t in range(encoder_out.size(1)):
            frame = encoder_out[:, t : t + 1]
            if method == "greedy_search":
                before = [len(d.hyp) for d in ds]
                greedy_step(self.model, frame, ds, c.blank_penalty)
                for s, n in zip(streams, before):
                    s.token_frames.extend([s.frames] * (len(s.decode.hyp) - n))
            else:
                modified_beam_search_step(self.model, frame, ds, c.beam_size, c.temperature,
                                          c.blank_penalty)
                for s in streams:
                    s.beam_frames = self._beam_frames(s)
            for d in ds:
                d.frames_decoded += 1

    @staticmethod
    def _beam_frames(stream: Stream) -> dict[tuple[int, ...], list[int]]:
        """Token frames of each hypothesis of the new beam: a hypothesis that was in the old
        beam (extended by blank, possibly merged) keeps its frames; else it is its parent plus
        one token on this frame."""
        old = stream.beam_frames
        new = {}
        for h in stream.decode.beam:
            key = h.key
            new[key] = old[key] if key in old else old[key[:-1]] + [stream.frames]
        return new

    def _lattice_results(self, streams: list[Stream], decoding, ns) -> None:
        lattice = decoding.format_output([s.frames for s in streams],
                                         allow_partial=streams[0].config.allow_partial)
        best = ns.shortest_path(clear_final_outputs(lattice),
                                use_double_scores=streams[0].config.use_double_scores)
        outputs = get_texts(best)
        splits = best.arcs.shape().row_splits(2)[best.arcs.shape().row_splits(1).long()].tolist()
        labels = best.labels.tolist()
        for n, s in enumerate(streams):
            path = labels[splits[n] : splits[n + 1]]
            # one arc per encoder frame: a token's frame is its arc's position
            frames = [t for t, y in enumerate(path) if y > 0]
            s.lattice_result = ([path[t] for t in frames], frames, outputs[n])

    # -- results -------------------------------------------------------------------------------

    def _tokens(self, stream: Stream) -> tuple[list[int], list[int]]:
        d = stream.decode
        if stream.method == "greedy_search":
            return d.hyp[self.context_size :], stream.token_frames
        if stream.method == "modified_beam_search":
            best = d.beam.get_most_probable(length_norm=True)
            return best.ys[self.context_size :], stream.beam_frames[best.key]
        tokens, frames, _ = stream.lattice_result
        return tokens, frames

    def result(self, stream: Stream) -> Result:
        """The current segment's best hypothesis (partial, or final once the segment ends)."""
        tokens, frames = self._tokens(stream)
        if stream.method == "fast_beam_search_LG":
            text = " ".join(self.words[w] for w in stream.lattice_result[2])
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
        d = stream.decode
        if stream.method == "modified_beam_search":
            context = d.beam.get_most_probable(length_norm=True).ys[-self.context_size :]
        else:
            context = d.hyp[-self.context_size :]  # greedy; unused by fast_beam_search
        stream.segment_start += stream.frames
        stream.segment += 1
        self._start_search(stream, context)
