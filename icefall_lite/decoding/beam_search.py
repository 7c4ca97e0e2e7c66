"""Beam searches without a graph (docs/design/algorithms.rst §7).

- :func:`beam_search`: Graves (2012) Algorithm 1, one utterance at a time (a reference; slow).
- :func:`modified_beam_search`: batched, one symbol per frame, ``beam_size`` hypotheses per
  utterance; hypotheses with the same token sequence are merged (log-add); the answer is the
  hypothesis with the best length-normalised score.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from icefall_lite.models import Decoder, Joiner
    >>> model = nn.Module()  # what a search needs of a transducer: decoder and joiner
    >>> model.decoder = Decoder(vocab_size=10, decoder_dim=16, blank_id=0, context_size=2)
    >>> model.joiner = Joiner(encoder_dim=8, decoder_dim=16, joiner_dim=16, vocab_size=10)
    >>> enc, enc_lens = torch.randn(2, 6, 8), torch.tensor([6, 4])  # [N, T, C], [N]
    >>> hyps = modified_beam_search(model, enc, enc_lens, beam_size=4)
    >>> [len(h) <= n for h, n in zip(hyps, [6, 4])]  # at most one token per frame
    [True, True]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from icefall_lite.decoding.greedy import (
    _check_inputs,
    initial_context,
    joiner_log_probs,
    run_decoder,
)

__all__ = [
    "Hypothesis", "HypothesisList", "beam_search", "beam_search_step", "best_tokens",
    "initial_beam", "modified_beam_search", "modified_beam_search_step",
]


@dataclass
class Hypothesis:
    """A partial transcript: ``ys`` starts with the initial context; ``log_prob`` its score."""

    ys: list[int]
    log_prob: float

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(self.ys)


class HypothesisList:
    """Hypotheses keyed by token sequence; adding an existing sequence log-adds the scores."""

    def __init__(self, hyps: list[Hypothesis] | None = None) -> None:
        self.data: dict[tuple[int, ...], Hypothesis] = {}
        for h in hyps or []:
            self.add(h)

    def add(self, hyp: Hypothesis) -> None:
        old = self.data.get(hyp.key)
        if old is None:
            self.data[hyp.key] = hyp
        else:
            hi, lo = max(old.log_prob, hyp.log_prob), min(old.log_prob, hyp.log_prob)
            old.log_prob = hi + math.log1p(math.exp(lo - hi)) if lo > -math.inf else hi

    def get_most_probable(self, length_norm: bool = False) -> Hypothesis:
        if length_norm:
            return max(self.data.values(), key=lambda h: h.log_prob / len(h.ys))
        return max(self.data.values(), key=lambda h: h.log_prob)

    def remove(self, hyp: Hypothesis) -> None:
        del self.data[hyp.key]

    def filter(self, threshold: float) -> HypothesisList:
        return HypothesisList([h for h in self.data.values() if h.log_prob > threshold])

    def topk(self, k: int) -> HypothesisList:
        best = sorted(self.data.values(), key=lambda h: h.log_prob, reverse=True)[:k]
        return HypothesisList(best)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        return iter(self.data.values())


def initial_beam(context_size: int, blank_id: int) -> HypothesisList:
    """The beam at the start of an utterance: the initial context with score 0."""
    return HypothesisList([Hypothesis(initial_context(context_size, blank_id), 0.0)])


@torch.no_grad()
def beam_search_step(
    model, projected: torch.Tensor, beam: HypothesisList, beam_size: int = 4,
    temperature: float = 1.0, blank_penalty: float = 0.0, max_sym_per_utt: int = 20000,
) -> HypothesisList:
    """Graves' beam search over the frames ``projected`` (``[T, J]``, through
    ``joiner.encoder_proj``) of one utterance, starting from ``beam``; returns the new beam
    (offline: all frames at once, streaming: one chunk at a time)."""
    blank_id = model.decoder.blank_id
    unk_id = getattr(model, "unk_id", blank_id)
    context_size = model.decoder.context_size
    device = projected.device
    cache: dict[tuple[int, ...], torch.Tensor] = {}

    def decoder_out_of(ys: list[int]) -> torch.Tensor:
        key = tuple(ys[-context_size:])
        if key not in cache:
            cache[key] = run_decoder(model, torch.tensor([list(key)], dtype=torch.int64,
                                                         device=device))
        return cache[key]

    B = beam
    num_sym = 0
    for t in range(projected.shape[0]):
        if num_sym >= max_sym_per_utt:
            break
        A, B = B, HypothesisList()
        frame = projected[t : t + 1]
        while len(A) > 0 and num_sym < max_sym_per_utt:
            y_star = A.get_most_probable()
            A.remove(y_star)
            log_prob = joiner_log_probs(model, frame, decoder_out_of(y_star.ys), temperature,
                                        blank_penalty)[0]
            B.add(Hypothesis(list(y_star.ys), y_star.log_prob + float(log_prob[blank_id])))
            values, indexes = log_prob.topk(min(beam_size + 1, log_prob.numel()))
            for i, v in zip(indexes.tolist(), values.tolist()):
                if i in (blank_id, unk_id):
                    continue
                num_sym += 1
                A.add(Hypothesis(y_star.ys + [i], y_star.log_prob + v))
            if len(A) == 0:
                break
            kept = B.filter(A.get_most_probable().log_prob)
            if len(kept) >= beam_size:
                B = kept.topk(beam_size)
                break
        B = B.topk(beam_size) if len(B) > beam_size else B
    return B


def best_tokens(beam: HypothesisList, context_size: int) -> list[int]:
    """The tokens of the beam's best length-normalised hypothesis (context removed)."""
    return beam.get_most_probable(length_norm=True).ys[context_size:]


@torch.no_grad()
def beam_search(
    model,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor | None = None,
    beam_size: int = 4,
    temperature: float = 1.0,
    max_sym_per_utt: int = 20000,
    blank_penalty: float = 0.0,
) -> list[list[int]]:
    """Graves' transducer beam search, one utterance after another (:func:`beam_search_step`).

    Args:
      model: transducer (see :mod:`icefall_lite.decoding.greedy`).
      encoder_out: ``[N, T, C]``; encoder_out_lens: ``[N]`` (default: all ``T``).
      beam_size: hypotheses kept per frame.
      temperature: joiner logits are divided by it.
      max_sym_per_utt: safety limit on emitted symbols.
      blank_penalty: subtracted from the blank logit before the log-softmax.

    Returns:
      Token ids per utterance.
    """
    if encoder_out_lens is None:
        encoder_out_lens = torch.full((encoder_out.shape[0],), encoder_out.shape[1])
    _check_inputs(encoder_out, encoder_out_lens)
    context_size = model.decoder.context_size
    projected = model.joiner.encoder_proj(encoder_out)
    results = []
    for n in range(encoder_out.shape[0]):
        beam = beam_search_step(model, projected[n, : int(encoder_out_lens[n])],
                                initial_beam(context_size, model.decoder.blank_id), beam_size,
                                temperature, blank_penalty, max_sym_per_utt)
        results.append(best_tokens(beam, context_size))
    return results


@torch.no_grad()
def modified_beam_search_step(
    model, projected: torch.Tensor, beams: list[HypothesisList],
    lens: torch.Tensor | None = None, beam_size: int = 4, temperature: float = 1.0,
    blank_penalty: float = 0.0,
) -> None:
    """Modified beam search over the frames of ``projected`` (``[N, T, J]``, through
    ``joiner.encoder_proj``), continuing ``beams[n]`` (replaced in place); frames ``t >=
    lens[n]`` are skipped (``lens`` None: all ``T``).

    All hypotheses of all active utterances are scored by one decoder + joiner call per frame;
    each utterance keeps its ``beam_size`` best (hypothesis, token) extensions, where a blank
    keeps the token sequence and equal sequences are merged by log-add."""
    blank_id = model.decoder.blank_id
    unk_id = getattr(model, "unk_id", blank_id)
    context_size = model.decoder.context_size
    device = projected.device
    N, T, _ = projected.shape
    lens_list = [T] * N if lens is None else lens.tolist()
    for t in range(max(lens_list, default=0)):
        active = [n for n in range(N) if lens_list[n] > t]
        hyps = [list(beams[n]) for n in active]
        flat = [h for hs in hyps for h in hs]
        counts = [len(hs) for hs in hyps]
        contexts = torch.tensor([h.ys[-context_size:] for h in flat], dtype=torch.int64,
                                device=device)
        owner = torch.repeat_interleave(torch.tensor(active, device=device),
                                        torch.tensor(counts, device=device))
        log_probs = joiner_log_probs(model, projected[owner, t], run_decoder(model, contexts),
                                     temperature, blank_penalty)
        V = log_probs.shape[1]
        hyp_scores = torch.tensor([h.log_prob for h in flat], dtype=log_probs.dtype,
                                  device=device)
        log_probs = log_probs + hyp_scores[:, None]
        start = 0
        for n, hs, c in zip(active, hyps, counts):
            scores = log_probs[start : start + c].reshape(-1)
            start += c
            top_scores, top_index = scores.topk(min(beam_size, scores.numel()))
            new_beam = HypothesisList()
            for s, k in zip(top_scores.tolist(), top_index.tolist()):
                hyp, token = hs[k // V], k % V
                ys = hyp.ys if token in (blank_id, unk_id) else hyp.ys + [token]
                new_beam.add(Hypothesis(list(ys), s))
            beams[n] = new_beam


@torch.no_grad()
def modified_beam_search(
    model,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    beam_size: int = 4,
    temperature: float = 1.0,
    blank_penalty: float = 0.0,
) -> list[list[int]]:
    """Batched beam search with at most one symbol per frame (:func:`modified_beam_search_step`
    over the whole utterances).

    Args:
      model: transducer (see :mod:`icefall_lite.decoding.greedy`).
      encoder_out: ``[N, T, C]``; encoder_out_lens: ``[N]``.
      beam_size: hypotheses kept per utterance.
      temperature: joiner logits are divided by it.
      blank_penalty: subtracted from the blank logit before the log-softmax.

    Returns:
      Token ids per utterance (best length-normalised hypothesis).
    """
    _check_inputs(encoder_out, encoder_out_lens)
    context_size = model.decoder.context_size
    beams = [initial_beam(context_size, model.decoder.blank_id)
             for _ in range(encoder_out.shape[0])]
    modified_beam_search_step(model, model.joiner.encoder_proj(encoder_out), beams,
                              encoder_out_lens, beam_size, temperature, blank_penalty)
    return [best_tokens(b, context_size) for b in beams]
