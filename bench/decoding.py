"""Decoding speed: frames per second of fast_beam_search (trivial graph and an LG-like graph)
with the built-in backend vs real k2, and of modified_beam_search, for a batch of streams.

Run in the k2 environment (both backends in one process)::

    OMP_NUM_THREADS=1 .venv-k2/bin/python bench/decoding.py --num-streams 100 --frames 100

Two rows per graph: "search" feeds precomputed random log-probs (the decoding streams alone);
"with model" runs a small random decoder + joiner each frame (as decode.py does). The ratio is
built-in time / k2 time (goal: <= 2).
"""

from __future__ import annotations

import argparse
import importlib
import time

import torch
from timing import best_seconds
from torch import nn

from icefall_lite.decoding import fast_beam_search, modified_beam_search
from icefall_lite.k2 import builtin


class RandomTransducer(nn.Module):
    """A random stateless decoder + joiner with icefall's interface."""

    def __init__(self, vocab_size: int, context_size: int = 2, dim: int = 256):
        super().__init__()
        self.decoder = nn.Module()
        self.decoder.vocab_size, self.decoder.context_size, self.decoder.blank_id = (
            vocab_size, context_size, 0)
        emb = nn.Embedding(vocab_size, dim)
        conv = nn.Conv1d(dim, dim, context_size, groups=dim // 4, bias=False)

        def decoder(y, need_pad=True):
            e = emb(y.clamp(min=0)) * (y >= 0).unsqueeze(-1)
            return torch.relu(conv(e.permute(0, 2, 1))).permute(0, 2, 1)

        self.decoder.forward = decoder
        self.decoder.emb, self.decoder.conv = emb, conv
        self.joiner = nn.Module()
        enc_proj, dec_proj, out = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim,
                                                                                     vocab_size)

        def joiner(enc, dec, project_input=True):
            if project_input:
                enc, dec = enc_proj(enc), dec_proj(dec)
            return 4.0 * out(torch.tanh(enc + dec))

        self.joiner.forward = joiner
        self.joiner.encoder_proj, self.joiner.decoder_proj, self.joiner.out = (
            enc_proj, dec_proj, out)


def random_lg_arcs(vocab_size: int, num_states: int, arcs_per_state: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(num_states).repeat_interleave(arcs_per_state)
    dst = torch.randint(0, num_states, (src.numel(),), generator=g)
    labels = torch.randint(1, vocab_size, (src.numel(),), generator=g)
    scores = -torch.rand(src.numel(), generator=g) * 3
    final_src = torch.arange(0, num_states, 5)
    src = torch.cat([src, final_src])
    dst = torch.cat([dst, torch.full_like(final_src, num_states)])
    labels = torch.cat([labels, torch.full_like(final_src, -1)])
    scores = torch.cat([scores, torch.zeros(final_src.numel())])
    order = torch.sort(src, stable=True)[1]
    arcs = torch.stack([src[order], dst[order], labels[order], torch.zeros_like(src)], 1).int()
    arcs[:, 3] = scores[order].float().view(torch.int32)
    words = torch.where(torch.rand(src.numel(), generator=g) < 0.3,
                        torch.randint(1, 1000, (src.numel(),), generator=g), 0)[order].int()
    words[labels[order] == -1] = -1
    return arcs, words


def make_graph(ns, arcs, words):
    fsa = ns.Fsa(arcs.clone())
    fsa.aux_labels = words.clone()
    return fsa


def time_search_only(ns, graph, log_probs, num_frames, beam, max_states, max_contexts):
    """Streams fed a fixed per-(stream, frame) log-prob row plus a context-dependent shift."""
    N, T, V = log_probs.shape
    config = ns.RnntDecodingConfig(vocab_size=V, decoder_history_len=2, beam=beam,
                                   max_states=max_states, max_contexts=max_contexts)
    start = time.perf_counter()
    streams = ns.RnntDecodingStreams([ns.RnntDecodingStream(graph) for _ in range(N)], config)
    for t in range(T):
        shape, contexts = streams.get_contexts()
        owner = shape.row_ids(1).long()
        shift = (contexts[:, -1:].long() % 7).float() * 0.1
        streams.advance((log_probs[owner, t] - shift).log_softmax(-1))
    streams.terminate_and_flush_to_streams()
    lattice = streams.format_output(num_frames)
    return time.perf_counter() - start, lattice.arcs.values().shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-streams", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--vocab-size", type=int, default=500)
    parser.add_argument("--lg-states", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--beam", type=float, default=20.0)
    parser.add_argument("--max-states", type=int, default=64)
    parser.add_argument("--max-contexts", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    try:
        real_k2 = importlib.import_module("k2")
    except ImportError:
        real_k2 = None
        print("real k2 is not importable here: built-in numbers only (run in .venv-k2)")
    N, T, V = args.num_streams, args.frames, args.vocab_size
    total_frames = N * T
    lens = torch.full((N,), T, dtype=torch.int64)
    lens[1::3] = T - T // 4
    log_probs = (torch.randn(N, T, V) * 3).log_softmax(-1)
    model = RandomTransducer(V).eval()
    enc = torch.randn(N, T, 256)
    lg_arcs, lg_words = random_lg_arcs(V, args.lg_states, 8)
    limits = dict(beam=args.beam, max_states=args.max_states, max_contexts=args.max_contexts)
    backends = [("built-in", builtin)] + ([("k2", real_k2)] if real_k2 else [])
    rows = []
    for graph_name in ("trivial", "LG"):
        for what in ("search", "with model"):
            times = {}
            for name, ns in backends:
                graph = (ns.trivial_graph(V - 1) if graph_name == "trivial"
                         else make_graph(ns, lg_arcs, lg_words))
                if what == "search":
                    fn = lambda ns=ns, graph=graph: time_search_only(  # noqa: E731
                        ns, graph, log_probs, lens.tolist(), **limits)
                else:
                    fn = lambda graph=graph: fast_beam_search(  # noqa: E731
                        model, graph, enc, lens, **limits)
                with torch.no_grad():
                    times[name] = best_seconds(fn, args.repeats)
            rows.append((f"fast_beam_search {graph_name}, {what}", times))
    with torch.no_grad():
        t_mbs = best_seconds(lambda: modified_beam_search(model, enc, lens, 4), args.repeats)
    rows.append(("modified_beam_search (no k2 inside)", {"built-in": t_mbs}))

    print(f"{N} streams x {T} frames (vocab {V}, LG {args.lg_states} states, beam "
          f"{args.beam}, max_states {args.max_states}, max_contexts {args.max_contexts}), "
          f"threads {torch.get_num_threads()}")
    print(f"{'method':45s} {'built-in fr/s':>14s} {'k2 fr/s':>12s} {'built-in/k2 time':>17s}")
    for label, times in rows:
        b = times["built-in"]
        k = times.get("k2")
        k_txt = f"{total_frames / k:12.0f}" if k else f"{'-':>12s}"
        ratio = f"{b / k:17.2f}" if k else f"{'-':>17s}"
        print(f"{label:45s} {total_frames / b:14.0f} {k_txt} {ratio}")


if __name__ == "__main__":
    main()
