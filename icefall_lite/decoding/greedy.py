"""Batched greedy search for transducers: at most one symbol per frame
(docs/design/algorithms.rst §7).

The model follows icefall's interface: ``model.decoder(y [N, context_size], need_pad=False) ->
[N, 1, D]``, ``model.joiner(enc, dec, project_input=False) -> logits``,
``model.joiner.encoder_proj`` / ``decoder_proj``, ``model.decoder.context_size`` /
``blank_id``; a negative token in the decoder input stands for "no token" (zero embedding).

Example::

    >>> import torch
    >>> from torch import nn
    >>> from icefall_lite.models import Decoder, Joiner
    >>> model = nn.Module()  # what a search needs of a transducer: decoder and joiner
    >>> model.decoder = Decoder(vocab_size=10, decoder_dim=16, blank_id=0, context_size=2)
    >>> model.joiner = Joiner(encoder_dim=8, decoder_dim=16, joiner_dim=16, vocab_size=10)
    >>> enc, enc_lens = torch.randn(2, 6, 8), torch.tensor([6, 4])  # [N, T, C], [N]
    >>> hyps = greedy_search_batch(model, enc, enc_lens)
    >>> [len(h) <= n for h, n in zip(hyps, [6, 4])]  # at most one token per frame
    [True, True]
"""

from __future__ import annotations

import torch

__all__ = [
    "greedy_search_batch", "greedy_search_step", "initial_context", "joiner_log_probs",
    "penalize_blank", "run_decoder", "stream_contexts",
]


def initial_context(context_size: int, blank_id: int) -> list[int]:
    """The decoder context at the start of an utterance: ``[-1, ..., -1, blank]``."""
    return [-1] * (context_size - 1) + [blank_id]


def stream_contexts(contexts: torch.Tensor, blank_id: int = 0) -> torch.Tensor:
    """Decoder input (int64 ``[N, H]``) for the contexts of k2's RNN-T decoding streams.

    The streams start every hypothesis from an all-blank history and shift in each emitted token,
    so after ``k < H`` tokens ``y`` a history reads ``[blank] * (H - k) + y``. Training, greedy,
    beam and modified beam search start from ``[-1, ..., -1, blank]`` instead
    (:func:`initial_context`; -1 has a zero embedding), i.e. ``[-1] * (H - k - 1) + [blank] + y``.
    Emitted tokens are never blank, so the leading blanks of a history are exactly its unfilled
    slots: all of them but the last become -1 here. (icefall passes the streams' contexts
    as they are, so its fast_beam_search starts from a context that training never shows the
    decoder.)
    """
    out = contexts.long().clone()
    leading = (out == blank_id).long().cumprod(dim=1).bool()
    out[:, :-1][leading[:, :-1] & leading[:, 1:]] = -1
    return out


def run_decoder(model, contexts: torch.Tensor) -> torch.Tensor:
    """Projected decoder output ``[N, 1, J]`` for int64 contexts ``[N, context_size]``."""
    decoder_out = model.decoder(contexts, need_pad=False)
    return model.joiner.decoder_proj(decoder_out)


def penalize_blank(logits: torch.Tensor, blank_id: int, blank_penalty: float) -> torch.Tensor:
    """``logits`` (``[..., V]``) with ``blank_penalty`` subtracted from the blank logit (a copy;
    icefall's ``--blank-penalty``, applied before the temperature and the log-softmax). A
    positive penalty makes emitting a token more likely: fewer deletions, more insertions."""
    if blank_penalty == 0:
        return logits
    logits = logits.clone()
    logits[..., blank_id] -= blank_penalty
    return logits


def joiner_log_probs(model, enc: torch.Tensor, dec: torch.Tensor, temperature: float = 1.0,
                     blank_penalty: float = 0.0) -> torch.Tensor:
    """``[n, V]`` log-probs of the joiner for projected encoder frames ``[n, J]`` and projected
    decoder outputs ``[n, 1, J]``: blank penalty, temperature, log-softmax (what every search
    that scores tokens feeds on)."""
    logits = model.joiner(enc.unsqueeze(1).unsqueeze(1), dec.unsqueeze(1), project_input=False)
    logits = penalize_blank(logits.reshape(enc.shape[0], -1), model.decoder.blank_id,
                            blank_penalty)
    return (logits / temperature).log_softmax(dim=-1)


def _check_inputs(encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor) -> None:
    if encoder_out.ndim != 3:
        raise ValueError(f"encoder_out must be [N, T, C], got shape {tuple(encoder_out.shape)}")
    if encoder_out_lens.shape != (encoder_out.shape[0],):
        raise ValueError(
            f"encoder_out_lens must be [N] with N={encoder_out.shape[0]}, "
            f"got shape {tuple(encoder_out_lens.shape)}"
        )
    if encoder_out.shape[0] and (
        int(encoder_out_lens.max()) > encoder_out.shape[1] or int(encoder_out_lens.min()) < 0
    ):
        raise ValueError("encoder_out_lens must lie in [0, T] (T = encoder_out.shape[1])")


@torch.no_grad()
def greedy_search_step(
    model, projected: torch.Tensor, hyps: list[list[int]], lens: torch.Tensor | None = None,
    blank_penalty: float = 0.0, token_frames: list[list[int]] | None = None,
) -> None:
    """Greedy search over frames of ``projected`` (``[N, T, J]``, already through
    ``joiner.encoder_proj``), continuing each of the ``N`` hypotheses ``hyps[n]`` (the decoder
    context followed by the tokens so far; extended in place). Frames ``t >= lens[n]`` of
    utterance ``n`` are skipped (``lens`` None: all ``T``). Offline decoding calls it once per
    batch, streaming once per chunk, so both make the same decisions. ``token_frames`` (one
    list per hypothesis, extended in place): the frame ``t`` of each token appended."""
    blank_id = model.decoder.blank_id
    unk_id = getattr(model, "unk_id", blank_id)
    context_size = model.decoder.context_size
    device = projected.device
    N, T, _ = projected.shape
    if N == 0 or T == 0:
        return
    lens = torch.full((N,), T, device=device) if lens is None else lens.to(device)
    contexts = torch.tensor([h[-context_size:] for h in hyps], dtype=torch.int64, device=device)
    decoder_out = run_decoder(model, contexts)
    for t in range(int(lens.max())):
        active = torch.nonzero(lens > t).squeeze(1)
        logits = model.joiner(
            projected[active, t].unsqueeze(1).unsqueeze(1),
            decoder_out[active].unsqueeze(1),
            project_input=False,
        )
        logits = penalize_blank(logits.reshape(active.numel(), -1), blank_id, blank_penalty)
        y = logits.argmax(dim=-1)
        emit = (y != blank_id) & (y != unk_id)
        if not bool(emit.any()):
            continue
        who = active[emit]
        for i, token in zip(who.tolist(), y[emit].tolist()):
            hyps[i].append(token)
            if token_frames is not None:
                token_frames[i].append(t)
        contexts[who] = torch.cat([contexts[who, 1:], y[emit].unsqueeze(1)], dim=1)
        decoder_out[who] = run_decoder(model, contexts[who])


@torch.no_grad()
def greedy_search_batch(
    model, encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor, temperature: float = 1.0,
    blank_penalty: float = 0.0,
) -> list[list[int]]:
    """Greedy search over a batch: per frame, emit the arg-max token unless it is blank.

    Args:
      model: transducer (see module docstring).
      encoder_out: ``[N, T, C]`` encoder output (before ``encoder_proj``).
      encoder_out_lens: ``[N]`` valid frames per utterance.
      temperature: unused by the arg-max (kept for a uniform signature).
      blank_penalty: subtracted from the blank logit (:func:`penalize_blank`).

    Returns:
      Token ids per utterance, in the input order.
    """
    del temperature
    _check_inputs(encoder_out, encoder_out_lens)
    context_size = model.decoder.context_size
    hyps = [initial_context(context_size, model.decoder.blank_id)
            for _ in range(encoder_out.shape[0])]
    greedy_search_step(model, model.joiner.encoder_proj(encoder_out), hyps, encoder_out_lens,
                       blank_penalty)
    return [h[context_size:] for h in hyps]
