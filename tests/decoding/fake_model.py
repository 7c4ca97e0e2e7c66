"""A tiny random transducer with icefall's decoder/joiner interface, for decoding tests.

``FakeTransducer(vocab_size, context_size)``: embedding + conv decoder (negative ids give a zero
embedding), joiner ``output(tanh(enc_proj(enc) + dec_proj(dec)))``; ``log_prob_table`` gives the
log-probs of every (frame, context) by brute force, for independent checks.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class FakeDecoder(nn.Module):
    def __init__(self, vocab_size: int, context_size: int, dim: int = 8, blank_id: int = 0):
        super().__init__()
        self.vocab_size, self.context_size, self.blank_id = vocab_size, context_size, blank_id
        self.embedding = nn.Embedding(vocab_size, dim)
        self.conv = nn.Conv1d(dim, dim, context_size, bias=False)

    def forward(self, y: torch.Tensor, need_pad: bool = True) -> torch.Tensor:
        emb = self.embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1)
        emb = emb.permute(0, 2, 1)
        if need_pad:
            emb = nn.functional.pad(emb, (self.context_size - 1, 0))
        return torch.relu(self.conv(emb)).permute(0, 2, 1)


class FakeJoiner(nn.Module):
    def __init__(self, enc_dim: int, dec_dim: int, vocab_size: int, joiner_dim: int = 16,
                 scale: float = 3.0):
        super().__init__()
        self.encoder_proj = nn.Linear(enc_dim, joiner_dim)
        self.decoder_proj = nn.Linear(dec_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)
        self.scale = scale

    def forward(self, enc, dec, project_input: bool = True):
        if project_input:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return self.scale * self.output_linear(torch.tanh(enc + dec))


class FakeTransducer(nn.Module):
    def __init__(self, vocab_size: int = 5, context_size: int = 2, enc_dim: int = 6,
                 scale: float = 3.0):
        super().__init__()
        self.decoder = FakeDecoder(vocab_size, context_size)
        self.joiner = FakeJoiner(enc_dim, 8, vocab_size, scale=scale)
        self.enc_dim = enc_dim

    def random_batch(self, lens: list[int], generator=None):
        enc = torch.randn(len(lens), max(lens), self.enc_dim, generator=generator)
        return enc, torch.tensor(lens, dtype=torch.int64)


@torch.no_grad()
def log_prob_table(model: FakeTransducer, encoder_out: torch.Tensor):
    """``{context tuple: [T, V] log-probs}`` of one utterance ``encoder_out [T, C]`` for every
    context of tokens 0..V-1."""
    V, H = model.decoder.vocab_size, model.decoder.context_size
    contexts = list(itertools.product(range(V), repeat=H))
    dec = model.joiner.decoder_proj(model.decoder(torch.tensor(contexts), need_pad=False))
    enc = model.joiner.encoder_proj(encoder_out)
    logits = model.joiner(enc[None, :, :], dec, project_input=False)  # [ctx, T, V]
    lp = logits.log_softmax(-1)
    return {c: lp[i] for i, c in enumerate(contexts)}


def alignment_scores(table: dict, num_frames: int, vocab_size: int, context_size: int,
                     initial: tuple[int, ...], frames_scored: int):
    """``{token tuple: [score of each alignment]}`` over all alignments with at most one token
    per frame on frames ``0..frames_scored-1`` (blank = 0), starting from context ``initial``.
    ``table`` maps context tuples to ``[T, V]`` log-probs (:func:`log_prob_table`, or
    :func:`log_prob_table_with_start` when ``initial`` holds -1)."""
    out: dict[tuple[int, ...], list[float]] = {}
    for choice in itertools.product(range(vocab_size), repeat=frames_scored):
        ctx, score, tokens = tuple(initial), 0.0, []
        for t, c in enumerate(choice):
            score += float(table[ctx][t, c])
            if c != 0:
                tokens.append(c)
                ctx = ctx[1:] + (c,)
        out.setdefault(tuple(tokens), []).append(score)
    return out


@torch.no_grad()
def log_prob_table_with_start(model: FakeTransducer, encoder_out: torch.Tensor):
    """As :func:`log_prob_table`, plus contexts that start with -1 (greedy/beam searches)."""
    V, H = model.decoder.vocab_size, model.decoder.context_size
    contexts = list(itertools.product(range(-1, V), repeat=H))
    dec = model.joiner.decoder_proj(model.decoder(torch.tensor(contexts), need_pad=False))
    enc = model.joiner.encoder_proj(encoder_out)
    lp = model.joiner(enc[None, :, :], dec, project_input=False).log_softmax(-1)
    return {c: lp[i] for i, c in enumerate(contexts)}


def random_lg(ns, vocab_size: int, num_states: int, word_ids: list[int], seed: int):
    """An epsilon-free LG-like acceptor over tokens 1..V-1 with ragged word aux_labels drawn
    from ``word_ids`` (some arcs output none, some two), in namespace ``ns``."""
    g = torch.Generator().manual_seed(seed)
    rows, aux = [], []
    for s in range(num_states):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            dest = int(torch.randint(0, num_states, (1,), generator=g))
            label = int(torch.randint(1, vocab_size, (1,), generator=g))
            rows.append([s, dest, label, float(torch.randn(1, generator=g))])
            picks = torch.randint(0, len(word_ids), (int(torch.randint(0, 3, (1,),
                                                                       generator=g)),),
                                  generator=g)
            aux.append([word_ids[int(i)] for i in picks])
        if s % 2 == 1:
            rows.append([s, num_states, -1, 0.0])
            aux.append([-1])
    arcs = torch.tensor([r[:3] + [0] for r in rows], dtype=torch.int32)
    arcs[:, 3] = torch.tensor([r[3] for r in rows], dtype=torch.float32).view(torch.int32)
    fsa = ns.Fsa(arcs)
    sizes = torch.tensor([len(a) for a in aux], dtype=torch.int32)
    row_splits = torch.zeros(len(aux) + 1, dtype=torch.int32)
    row_splits[1:] = torch.cumsum(sizes, 0)
    values = torch.tensor([w for a in aux for w in a], dtype=torch.int32)
    fsa.aux_labels = ns.RaggedTensor(ns.ragged.create_ragged_shape2(row_splits=row_splits),
                                     values)
    return fsa


def penalized(table: dict, blank_penalty: float, blank_id: int = 0) -> dict:
    """A log-prob table (:func:`log_prob_table` and friends) as the joiner would give it with
    ``blank_penalty`` subtracted from the blank logit: log-softmax of the shifted log-probs."""
    out = {}
    for ctx, lp in table.items():
        shifted = lp.clone()
        shifted[..., blank_id] -= blank_penalty
        out[ctx] = shifted.log_softmax(-1)
    return out
