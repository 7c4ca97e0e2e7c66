#!/usr/bin/env python3
"""Benchmark the built-in FSA core against real k2 on lattice-sized inputs.

Builds random lattices shaped like fast_beam_search output (frames x states per frame, arcs
only to the next frame, mostly blank labels, one final state) and times, for each backend:
``shortest_path``, ``random_paths`` and the n-best ``intersect_device`` (lattice x
``linear_fsa_with_self_loops`` of sampled paths, ``sorted_match_a=True``). Run it with the k2
environment so both backends are timed in one process:

    .venv-k2/bin/python bench/fsa.py                       # all presets
    .venv-k2/bin/python bench/fsa.py --presets 20x200 --ops intersect_device
    .venv-k2/bin/python bench/fsa.py --presets custom --num-utts 50 --num-paths 30

Each preset is a row group of lattices x paths per lattice (:data:`PRESETS`: icefall's
n-best sizes and single-utterance decoding among them). Prints median wall times and the
built-in / k2 ratio of wall and of CPU (process) time; the two backends take turns on every
repeat so that load changes on a shared machine affect both alike (one torch thread by
default). Then the peak memory of ``intersect_device`` per backend (``--memory``), each
measured in a fresh subprocess (:func:`timing.peak_rss_mib`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import torch
from timing import PEAK_ENV, peak_rss_mib, time_interleaved


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


def prepare(k2, data: torch.Tensor, num_paths: int) -> dict:
    """The timed calls of one backend, as closures over inputs built with that backend."""
    def fresh():
        return k2.Fsa(data.clone())

    lat = fresh()
    paths = k2.random_paths(lat, use_double_scores=True, num_paths=num_paths)
    labels = k2.ragged.index(lat.labels.contiguous(), paths).remove_values_leq(0)
    uniq, _, _ = labels.unique(need_num_repeats=False, need_new2old_indexes=False)
    path_to_utt = uniq.shape.row_ids(1)
    b = k2.linear_fsa_with_self_loops(k2.linear_fsa(uniq.remove_axis(0)))
    a_sorted = k2.arc_sort(lat)
    return {
        "shortest_path": lambda: k2.shortest_path(fresh(), use_double_scores=True),
        "random_paths": lambda: k2.random_paths(fresh(), use_double_scores=True,
                                                num_paths=num_paths),
        "intersect_device": lambda: k2.intersect_device(a_sorted, b, path_to_utt,
                                                        sorted_match_a=True),
        "_num_arcs": lat.num_arcs, "_num_paths": b.shape[0],
    }


PRESETS = {
    # name: (lattices, paths per lattice); lattices are 100 frames x 10 states (~5k arcs)
    "100x10": (100, 10),
    "100x20": (100, 20),  # the bench's default number of paths
    "20x200": (20, 200),  # icefall's n-best default (num_paths 200), a decoding batch
    "5x200": (5, 200),
    "1x200": (1, 200),  # single-utterance decoding (pretrained.py on one file, a server)
}


def _backends() -> list:
    from icefall_lite.k2 import builtin

    backends = [("builtin", builtin)]
    try:
        import k2 as real_k2

        backends.append(("k2", real_k2))
    except ImportError:
        print("real k2 is not importable: timing the built-in backend only")
    return backends


def run_preset(name: str, num_utts: int, num_paths: int, args, backends: list) -> None:
    data = make_lattices(num_utts, args.frames, args.states_per_frame, args.arcs_per_state,
                         args.vocab, seed=0)
    calls = {b: prepare(ns, data, num_paths) for b, ns in backends}
    first = calls["builtin"]
    for op in args.ops.split(","):
        # short calls are repeated more, so each median stands on more samples; the long
        # intersections of the big presets less
        if num_utts <= 5:
            repeats = 4 * args.repeats
        elif op == "intersect_device":
            repeats = min(args.repeats, 3)
        else:
            repeats = args.repeats
        res = time_interleaved({b: c[op] for b, c in calls.items()}, repeats)
        line = f"{name:<8}{op:<18}{1000 * res['builtin'][0]:>13.1f}"
        if "k2" in res:
            k = res["k2"]
            line += (f"{1000 * k[0]:>11.1f}{res['builtin'][0] / k[0]:>12.2f}"
                     f"{res['builtin'][1] / k[1]:>11.2f}")
        print(line + f"   ({first['_num_arcs']} arcs, {first['_num_paths']} paths, "
              f"{repeats} repeats)", flush=True)


def peak_intersect_mib(backend: str, num_utts: int, num_paths: int, args) -> float:
    """Peak memory of one intersect_device call, measured in a fresh subprocess (see
    :func:`timing.peak_rss_mib`)."""
    cmd = [sys.executable, __file__, "--measure-peak", backend, "--num-utts", str(num_utts),
           "--num-paths", str(num_paths), "--frames", str(args.frames),
           "--states-per-frame", str(args.states_per_frame),
           "--arcs-per-state", str(args.arcs_per_state), "--vocab", str(args.vocab)]
    out = subprocess.run(cmd, env=dict(os.environ, **PEAK_ENV), check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def measure_peak(backend: str, args) -> None:
    ns = dict(_backends())[backend]
    data = make_lattices(args.num_utts, args.frames, args.states_per_frame,
                         args.arcs_per_state, args.vocab, seed=0)
    fn = prepare(ns, data, args.num_paths)["intersect_device"]
    print(peak_rss_mib(fn))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS),
                        help="comma-separated rows of the table: " + ", ".join(PRESETS) +
                        "; 'custom' uses --num-utts/--num-paths")
    parser.add_argument("--num-utts", type=int, default=100)
    parser.add_argument("--num-paths", type=int, default=20)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--states-per-frame", type=int, default=10)
    parser.add_argument("--arcs-per-state", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ops", default="shortest_path,random_paths,intersect_device",
                        help="comma-separated operations to time")
    parser.add_argument("--memory", default="20x200",
                        help="presets whose intersect_device peak memory is measured "
                             "(comma-separated; '' for none)")
    parser.add_argument("--measure-peak", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.measure_peak:
        measure_peak(args.measure_peak, args)
        return
    backends = _backends()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"lattices of {args.frames} frames x {args.states_per_frame} states, "
          f"{args.arcs_per_state} arcs per state; torch threads {args.threads}; "
          f"load average {load:.1f}; times are medians (ms) of interleaved repeats")
    header = f"{'preset':<8}{'operation':<18}{'builtin ms':>13}"
    if len(backends) > 1:
        header += f"{'k2 ms':>11}{'builtin/k2':>12}{'cpu ratio':>11}"
    print(header)
    presets = dict(PRESETS, custom=(args.num_utts, args.num_paths))
    for name in args.presets.split(","):
        run_preset(name, *presets[name], args, backends)
    for name in filter(None, args.memory.split(",")):
        peaks = {b: peak_intersect_mib(b, *presets[name], args) for b, _ in backends}
        line = f"peak memory of intersect_device at {name}: builtin {peaks['builtin']:.0f} MiB"
        if "k2" in peaks:
            line += f", k2 {peaks['k2']:.0f} MiB, ratio {peaks['builtin'] / peaks['k2']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
