"""Decoding speed of fast_beam_search (trivial graph and an LG-like graph) and of the n-best
methods with the built-in backend vs real k2, and of modified_beam_search, for a batch of
streams.

Run in the k2 environment (both backends in one process)::

    .venv-k2/bin/python bench/decoding.py --num-streams 100 --frames 100

``--torch-engine`` adds a third contender to the fast_beam_search rows: the built-in streams
with their torch engine (what other devices run; on the CPU the numpy engine is the default),
taking turns with the other two.

Two rows per graph: "search" feeds precomputed random log-probs (the decoding streams alone);
"with model" runs a small random decoder + joiner each frame (as decode.py does). A last row
times the n-best methods end to end from a search lattice (paths -> distinct sequences ->
intersection -> best sequence, num_paths 200 by default). Times are medians of repeats in
which the backends take turns (one torch thread by default); the ratio is built-in / k2.
"""

from __future__ import annotations

import argparse
import importlib

import torch
from timing import best_seconds, time_interleaved
from torch import nn

from icefall_lite.decoding import Nbest, fast_beam_search, modified_beam_search
from icefall_lite.decoding.lattice import clear_final_outputs
from icefall_lite.fsa import paths
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


def search_lattice(ns, graph, log_probs, num_frames, beam, max_states, max_contexts,
                   allow_partial: bool = False):
    """Streams fed a fixed per-(stream, frame) log-prob row plus a context-dependent shift;
    returns their lattice (``allow_partial``: last-frame states count as final, as
    fast_beam_search does; random log-probs seldom reach a final state otherwise)."""
    N, T, V = log_probs.shape
    config = ns.RnntDecodingConfig(vocab_size=V, decoder_history_len=2, beam=beam,
                                   max_states=max_states, max_contexts=max_contexts)
    streams = ns.RnntDecodingStreams([ns.RnntDecodingStream(graph) for _ in range(N)], config)
    for t in range(T):
        shape, contexts = streams.get_contexts()
        owner = shape.row_ids(1).long()
        shift = (contexts[:, -1:].long() % 7).float() * 0.1
        streams.advance((log_probs[owner, t] - shift).log_softmax(-1))
    streams.terminate_and_flush_to_streams()
    return clear_final_outputs(streams.format_output(num_frames, allow_partial=allow_partial))


def with_torch_engine(fn):
    """``fn`` run with ``paths.NUMPY_LOOPS`` off: the built-in decoding streams' torch engine
    instead of numpy (and the FSA algorithms' torch loops)."""
    def run():
        paths.NUMPY_LOOPS = False
        try:
            return fn()
        finally:
            paths.NUMPY_LOOPS = True
    return run


def nbest_best_paths(lattice, num_paths: int) -> list[list[int]]:
    """The n-best methods end to end, from a lattice: sample ``num_paths`` paths per
    utterance, intersect the distinct sequences with the lattice, take each utterance's best
    sequence (what fast_beam_search_nbest does after the search)."""
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores=True, nbest_scale=0.5)
    scores = nbest.tot_scores(nbest.intersect(lattice), log_semiring=False)
    return nbest.best(scores)


def nbest_row(backends: list, args) -> tuple[str, dict]:
    """Median seconds of :func:`nbest_best_paths` per backend (interleaved repeats) on the
    lattice that backend's search gives for ``--nbest-streams`` streams (trivial graph)."""
    N, T, V = args.nbest_streams, args.frames, args.vocab_size
    log_probs = (torch.randn(N, T, V, generator=torch.Generator().manual_seed(1)) * 3
                 ).log_softmax(-1)
    fns = {}
    for name, ns in backends:
        lattice = search_lattice(ns, ns.trivial_graph(V - 1), log_probs, [T] * N, args.beam,
                                 args.max_states, args.max_contexts, allow_partial=True)
        fns[name] = lambda lattice=lattice: nbest_best_paths(lattice, args.num_paths)
        num_arcs = lattice.arcs.values().shape[0]
    times = time_interleaved(fns, args.repeats)
    num_seqs = len(Nbest.from_lattice(lattice, args.num_paths).sequences)
    label = (f"n-best end to end ({N} streams, {num_arcs} lattice arcs, "
             f"{num_seqs} sequences, num_paths {args.num_paths})")
    return label, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-streams", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--vocab-size", type=int, default=500)
    parser.add_argument("--lg-states", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--beam", type=float, default=20.0)
    parser.add_argument("--max-states", type=int, default=64)
    parser.add_argument("--max-contexts", type=int, default=8)
    parser.add_argument("--nbest-streams", type=int, default=20,
                        help="streams of the n-best row (icefall's n-best decoding batch)")
    parser.add_argument("--num-paths", type=int, default=200, help="paths of the n-best row")
    parser.add_argument("--nbest-only", action="store_true", help="time the n-best row only")
    parser.add_argument("--graphs", nargs="+", choices=("trivial", "LG"),
                        default=["trivial", "LG"], help="graphs of the fast_beam_search rows")
    parser.add_argument("--fbs-only", action="store_true",
                        help="time the fast_beam_search rows only")
    parser.add_argument("--torch-engine", action="store_true",
                        help="also time the built-in streams' torch engine (fast_beam_search rows)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        real_k2 = importlib.import_module("k2")
    except ImportError:
        real_k2 = None
        print("real k2 is not importable here: built-in numbers only (run in .venv-k2)")
    N, T, V = args.num_streams, args.frames, args.vocab_size
    lens = torch.full((N,), T, dtype=torch.int64)
    lens[1::3] = T - T // 4
    log_probs = (torch.randn(N, T, V) * 3).log_softmax(-1)
    model = RandomTransducer(V).eval()
    enc = torch.randn(N, T, 256)
    lg_arcs, lg_words = random_lg_arcs(V, args.lg_states, 8)
    limits = dict(beam=args.beam, max_states=args.max_states, max_contexts=args.max_contexts)
    backends = [("built-in", builtin)] + ([("k2", real_k2)] if real_k2 else [])
    rows = []
    with torch.no_grad():
        for graph_name in args.graphs if not args.nbest_only else ():
            for what in ("search", "with model"):
                fns = {}
                for name, ns in backends:
                    graph = (ns.trivial_graph(V - 1) if graph_name == "trivial"
                             else make_graph(ns, lg_arcs, lg_words))
                    if what == "search":
                        fns[name] = lambda ns=ns, graph=graph: search_lattice(  # noqa: E731
                            ns, graph, log_probs, lens.tolist(), **limits)
                    else:
                        fns[name] = lambda graph=graph: fast_beam_search(  # noqa: E731
                            model, graph, enc, lens, **limits)
                if args.torch_engine:
                    fns["torch engine"] = with_torch_engine(fns["built-in"])
                times = time_interleaved(fns, args.repeats)
                rows.append((f"fast_beam_search {graph_name}, {what}", times))
        if not args.nbest_only and not args.fbs_only:
            t_mbs = best_seconds(lambda: modified_beam_search(model, enc, lens, 4),
                                 args.repeats)
            rows.append(("modified_beam_search (no k2 inside)", {"built-in": (t_mbs, None)}))
        if not args.fbs_only:
            rows.append(nbest_row(backends, args))

    print(f"{N} streams x {T} frames (vocab {V}, LG {args.lg_states} states, beam "
          f"{args.beam}, max_states {args.max_states}, max_contexts {args.max_contexts}), "
          f"threads {torch.get_num_threads()}; medians of {args.repeats} interleaved repeats; "
          "ratios: wall (CPU)")
    names = ["built-in"] + (["torch engine"] if args.torch_engine else [])
    header = "".join(f" {n + ' ms':>16s} {n + '/k2':>22s}" for n in names)
    print(f"{'method':62s}{header} {'k2 ms':>9s}")
    for label, times in rows:
        k = times.get("k2")
        cells = ""
        for n in names:
            if n not in times:
                cells += f" {'-':>16s} {'-':>22s}"
                continue
            wall, cpu = times[n]
            ratio = f"{wall / k[0]:.2f} ({cpu / k[1]:.2f})" if k else "-"
            cells += f" {1000 * wall:16.1f} {ratio:>22s}"
        k_txt = f"{1000 * k[0]:9.1f}" if k else f"{'-':>9s}"
        print(f"{label:62s}{cells} {k_txt}")


if __name__ == "__main__":
    main()
