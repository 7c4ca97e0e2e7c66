#!/usr/bin/env python3
"""Benchmark the built-in FSA core against real k2 on lattice-sized inputs.

Builds random lattices shaped like fast_beam_search output (frames x states per frame, arcs
only to the next frame, mostly blank labels, one final state) and times, for each backend:
``shortest_path``, ``random_paths`` and the n-best ``intersect_device`` (lattice x
``linear_fsa_with_self_loops`` of sampled paths, ``sorted_match_a=True``). Run it with the k2
environment so both backends are timed in one process:

    .venv-k2/bin/python bench/fsa.py --num-utts 100 --frames 100 --states-per-frame 10

Prints a table of median times and the built-in / k2 ratio.
"""

from __future__ import annotations

import argparse

import torch
from timing import median_seconds


def make_lattices(num_utts: int, frames: int, states_per_frame: int, arcs_per_state: int,
                  vocab: int, seed: int) -> torch.Tensor:
    """Random lattices in k2's 1-D FsaVec tensor format (both backends accept it).

    Like fast_beam_search lattices, a state is (frame, context): its blank arc (label 0)
    keeps the context, a token arc moves to the context that token leads to, and every
    arc advances one frame; the last frame's arcs go to the final state with label -1.
    """
    g = torch.Generator().manual_seed(seed)
    parts = []
    row_splits1 = [0]
    row_splits12 = [0]
    for _ in range(num_utts):
        n_body = frames * states_per_frame
        final = n_body + 1
        src = torch.arange(1, n_body + 1).repeat_interleave(arcs_per_state)
        frame = (src - 1) // states_per_frame
        ctx = (src - 1) % states_per_frame
        is_blank = (torch.arange(src.numel()) % arcs_per_state) == 0
        labels = torch.randint(1, vocab, (src.numel(),), generator=g)
        labels = torch.where(is_blank, torch.zeros_like(labels), labels)
        nxt_ctx = torch.where(is_blank, ctx, (ctx * 31 + labels) % states_per_frame)
        last = frame == frames - 1
        dst = torch.where(last, torch.full_like(src, final),
                          (frame + 1) * states_per_frame + 1 + nxt_ctx)
        labels = torch.where(last, torch.full_like(labels, -1), labels)
        # start state 0 fans out to the first frame's contexts
        src = torch.cat([torch.zeros(states_per_frame, dtype=torch.long), src])
        dst = torch.cat([torch.arange(1, states_per_frame + 1), dst])
        labels = torch.cat([torch.zeros(states_per_frame, dtype=torch.long), labels])
        scores = torch.randn(src.numel(), generator=g)
        arcs = torch.stack([src, dst, labels, torch.zeros_like(src)], 1).to(torch.int32)
        arcs[:, 3] = scores.to(torch.float32).view(torch.int32)
        parts.append(arcs.reshape(-1))
        row_splits1.append(row_splits1[-1] + final + 1)
        row_splits12.append(row_splits12[-1] + arcs.shape[0])
    head = torch.tensor([num_utts, 0] + row_splits1 + row_splits12, dtype=torch.int32)
    return torch.cat([head] + parts)


def run_backend(k2, data: torch.Tensor, num_paths: int, repeats: int) -> dict:
    def fresh():
        lat = k2.Fsa(data.clone())
        return lat

    lat = fresh()
    paths = k2.random_paths(lat, use_double_scores=True, num_paths=num_paths)
    labels = k2.ragged.index(lat.labels.contiguous(), paths).remove_values_leq(0)
    uniq, _, _ = labels.unique(need_num_repeats=False, need_new2old_indexes=False)
    path_to_utt = uniq.shape.row_ids(1)
    b = k2.linear_fsa_with_self_loops(k2.linear_fsa(uniq.remove_axis(0)))
    a_sorted = k2.arc_sort(lat)

    out = {
        "shortest_path": median_seconds(
            lambda: k2.shortest_path(fresh(), use_double_scores=True), repeats),
        "random_paths": median_seconds(
            lambda: k2.random_paths(fresh(), use_double_scores=True, num_paths=num_paths),
            repeats),
        "intersect_device": median_seconds(lambda: k2.intersect_device(
            a_sorted, b, path_to_utt, sorted_match_a=True), repeats),
        "_num_arcs": lat.num_arcs, "_num_paths": b.shape[0],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-utts", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--states-per-frame", type=int, default=10)
    parser.add_argument("--arcs-per-state", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--num-paths", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from icefall_lite.k2 import builtin

    backends = [("builtin", builtin)]
    try:
        import k2 as real_k2

        backends.append(("k2", real_k2))
    except ImportError:
        print("real k2 is not importable: timing the built-in backend only")
    data = make_lattices(args.num_utts, args.frames, args.states_per_frame,
                         args.arcs_per_state, args.vocab, seed=0)
    results = {name: run_backend(ns, data, args.num_paths, args.repeats)
               for name, ns in backends}
    first = results["builtin"]
    print(f"lattices: {args.num_utts} utterances, {first['_num_arcs']} arcs in all "
          f"({first['_num_arcs'] // args.num_utts} per utterance); "
          f"{first['_num_paths']} unique paths for intersect_device; "
          f"torch threads {args.threads}")
    header = f"{'operation':<18}{'builtin (ms)':>14}"
    if "k2" in results:
        header += f"{'k2 (ms)':>12}{'builtin/k2':>12}"
    print(header)
    for op in ("shortest_path", "random_paths", "intersect_device"):
        line = f"{op:<18}{1000 * first[op]:>14.1f}"
        if "k2" in results:
            k = results["k2"][op]
            line += f"{1000 * k:>12.1f}{first[op] / k:>12.2f}"
        print(line)


if __name__ == "__main__":
    main()
