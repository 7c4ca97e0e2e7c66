"""Random RNN-T problems and reference computations shared by the loss tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

RNNT_TYPES = ("regular", "modified", "constrained")


@dataclass
class Problem:
    """One random batch: additive-joiner inputs, symbols and a boundary."""

    lm: torch.Tensor  # [B, S+1, C]
    am: torch.Tensor  # [B, T, C]
    symbols: torch.Tensor  # [B, S]
    boundary: torch.Tensor  # [B, 4]
    blank: int
    rnnt_type: str

    @property
    def sizes(self):
        B, T, C = self.am.shape
        return B, self.symbols.shape[1], T, C


def random_problem(
    gen: torch.Generator,
    max_b: int,
    max_s: int,
    max_t: int,
    max_c: int,
    rnnt_type: str,
    dtype=torch.float32,
    min_s: int = 1,
    min_t: int = 1,
    min_c: int = 3,
) -> Problem:
    """A batch with random sizes and per-sequence lengths; every sequence has T_b >= S_b (so
    all three rnnt_types have paths, and k2's ``T >= S`` assertion holds)."""

    def randint(low, high):  # inclusive
        return int(torch.randint(low, high + 1, (1,), generator=gen))

    B = randint(1, max_b)
    S = randint(min_s, max_s)
    T = randint(max(S, min_t), max(max_t, S))
    C = randint(min_c, max_c)
    blank = randint(0, C - 1)
    s_end = torch.randint(0, S + 1, (B,), generator=gen)
    s_end[0] = S
    t_end = [randint(max(int(s), 1), T) for s in s_end]
    t_end[randint(0, B - 1)] = T
    boundary = torch.stack(
        [torch.zeros(B, dtype=torch.int64), torch.zeros(B, dtype=torch.int64), s_end,
         torch.tensor(t_end)], dim=1,
    )
    scale = 2.0
    lm = (torch.randn(B, S + 1, C, generator=gen) * scale).to(dtype)
    am = (torch.randn(B, T, C, generator=gen) * scale).to(dtype)
    symbols = torch.randint(0, C, (B, S), generator=gen)
    return Problem(lm, am, symbols, boundary, blank, rnnt_type)


def brute_force_rnnt_loss(
    log_probs: torch.Tensor, symbols: list, blank: int, rnnt_type: str, delay_penalty: float = 0.0
):
    """-log of the summed probability of every alignment, enumerated explicitly.

    ``log_probs`` is ``[T, S+1, C]`` (log-softmax of the joiner at frame t, context s).
    An alignment is a sequence of moves; regular: S symbol moves and T blank moves, ending with
    a blank; modified: each frame emits a symbol or a blank (so exactly T - S blanks);
    constrained: like modified, but a symbol at (s, t) is also charged the blank at (s+1, t).
    A symbol emitted on frame t earns ``delay_penalty * ((T - 1) / 2 - t)``.
    """
    T, S1, _ = log_probs.shape
    S = S1 - 1
    totals = []
    if rnnt_type == "regular":
        for symbol_frames in itertools.combinations_with_replacement(range(T), S):
            score = log_probs.new_zeros(())
            s = 0
            for t in range(T):
                for _ in range(symbol_frames.count(t)):
                    score = score + log_probs[t, s, symbols[s]] + delay_penalty * ((T - 1) / 2 - t)
                    s += 1
                score = score + log_probs[t, s, blank]
            totals.append(score)
    else:
        for symbol_frames in itertools.combinations(range(T), S):
            score = log_probs.new_zeros(())
            s = 0
            for t in range(T):
                if t in symbol_frames:
                    score = score + log_probs[t, s, symbols[s]] + delay_penalty * ((T - 1) / 2 - t)
                    if rnnt_type == "constrained":
                        score = score + log_probs[t, s + 1, blank]
                    s += 1
                else:
                    score = score + log_probs[t, s, blank]
            totals.append(score)
    return -torch.logsumexp(torch.stack(totals), dim=0)


def naive_recursion(px: torch.Tensor, py: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """The mutual-information recursion cell by cell (autograd-friendly), as the definition
    reads; regular when ``px`` has T+1 columns, modified when it has T."""
    B, S, T1 = px.shape
    modified = T1 == py.shape[2]
    neg_inf = px.new_tensor(float("-inf"))
    totals = []
    for b in range(B):
        s_begin, t_begin, s_end, t_end = boundary[b].tolist()
        p = {}
        for s in range(s_begin, s_end + 1):
            for t in range(t_begin, t_end + 1):
                if (s, t) == (s_begin, t_begin):
                    p[s, t] = px.new_zeros(())
                    continue
                terms = []
                if s > s_begin:
                    prev = (s - 1, t - 1) if modified else (s - 1, t)
                    if prev[1] >= t_begin and p[prev] is not neg_inf:
                        terms.append(p[prev] + px[b, s - 1, prev[1]])
                if t > t_begin and p[s, t - 1] is not neg_inf:
                    terms.append(p[s, t - 1] + py[b, s, t - 1])
                p[s, t] = torch.logsumexp(torch.stack(terms), 0) if terms else neg_inf
        totals.append(p[s_end, t_end])
    return torch.stack(totals)
