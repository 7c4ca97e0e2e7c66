"""Small random HLG-like graphs and word n-gram acceptors as text, so both backends build the
same graph: CTC-like (blank and token self-loops), token labels 1..num_tokens, word
aux_labels (0 = no word), distinct scores (no ties between paths)."""

from __future__ import annotations

import random


def random_hlg_text(rng: random.Random, num_states: int = 4, num_tokens: int = 3,
                    num_words: int = 4) -> str:
    """An HLG-like transducer: from every non-final state a blank self-loop, a token
    self-loop (repeats), 1-3 token arcs to other states (each with a word or 0) and, from
    some states, the final arc."""
    final = num_states
    lines = []
    for s in range(num_states):
        lines.append(f"{s} {s} 0 0 {-rng.uniform(0, 1):.4f}")
        lines.append(f"{s} {s} {rng.randint(1, num_tokens)} 0 {-rng.uniform(0, 1):.4f}")
        for _ in range(rng.randint(1, 3)):
            d = rng.randrange(num_states)
            lines.append(f"{s} {d} {rng.randint(1, num_tokens)} {rng.randint(0, num_words)} "
                         f"{-rng.uniform(0, 2):.4f}")
        if s == num_states - 1 or rng.random() < 0.4:
            lines.append(f"{s} {final} -1 -1 {-rng.uniform(0, 1):.4f}")
    lines.sort(key=lambda line: int(line.split()[0]))
    return "\n".join(lines + [str(final)])


def random_word_lm_text(rng: random.Random, num_words: int = 4, num_states: int = 2) -> str:
    """An epsilon-free word acceptor accepting every word sequence (a bigram-like G): each
    state has an arc for every word to a random state, and a final arc."""
    final = num_states
    lines = []
    for s in range(num_states):
        for w in range(1, num_words + 1):
            lines.append(f"{s} {rng.randrange(num_states)} {w} {-rng.uniform(0, 3):.4f}")
        lines.append(f"{s} {final} -1 {-rng.uniform(0, 1):.4f}")
    return "\n".join(lines + [str(final)])
