"""Forward+backward time and peak memory of the transducer losses on LibriSpeech-like shapes.

Rows (each a full training step of the loss part of a transducer: projections, joiner, losses):

- ``builtin pruned``: built-in smoothed simple loss -> prune ranges -> joiner on the pruned grid
  -> built-in ``rnnt_loss_pruned`` (icefall's recipe: lm_only_scale 0.25, prune range 5);
- ``k2 pruned``: the same with real k2 (only where k2 imports: run with ``.venv-k2``);
- ``builtin unpruned`` / ``k2 unpruned``: the joiner on the full ``[B, T, S+1]`` grid and the exact
  loss.

A second table times only the loss operations (the joiner output is a given leaf tensor), which
isolates the recursion from the joiner's matrix products.

Time: median wall time of ``--repeats`` runs after one warm-up, ``torch.set_num_threads`` as given.

Peak memory: each row runs once more in a fresh subprocess with glibc's
``MALLOC_MMAP_THRESHOLD_=65536``, so every tensor buffer is its own mmap that is returned to the
OS when freed; after a warm-up the process resets its peak-RSS counter (``echo 5 >
/proc/self/clear_refs``), records its current RSS, runs the step and reads ``VmHWM``. Peak minus
baseline is the memory the step needed on top of its inputs and parameters (Linux only).

Usage::

    .venv-k2/bin/python bench/loss.py            # both backends
    .venv/bin/python bench/loss.py --threads 2   # built-in rows only
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys

import torch
from timing import median_seconds

from icefall_lite.k2 import builtin

try:
    import k2 as real_k2
except ImportError:
    real_k2 = None

ROWS = ("builtin pruned", "k2 pruned", "builtin unpruned", "k2 unpruned")


def make_inputs(B: int, T: int, S: int, C: int, D: int, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    symbols = torch.randint(1, C, (B, S), generator=gen)
    # LibriSpeech-like spread of lengths: the longest utterance fills the padded batch
    t_end = torch.linspace(0.7 * T, T, B).long()
    s_end = (t_end.double() / T * S).long().clamp(max=S)
    boundary = torch.stack([torch.zeros_like(t_end), torch.zeros_like(t_end), s_end, t_end], 1)
    return dict(
        encoder_out=torch.randn(B, T, D, generator=gen).requires_grad_(),
        decoder_out=torch.randn(B, S + 1, D, generator=gen).requires_grad_(),
        simple_am_proj=torch.nn.Linear(D, C),
        simple_lm_proj=torch.nn.Linear(D, C),
        joiner_out=torch.nn.Linear(D, C),
        symbols=symbols,
        boundary=boundary,
        s_range=5,
    )


def pruned_step(ns, x: dict) -> None:
    """icefall's pruned transducer loss (simple_scale 0.5 after warm-up)."""
    lm = x["simple_lm_proj"](x["decoder_out"])
    am = x["simple_am_proj"](x["encoder_out"])
    simple, (px_grad, py_grad) = ns.rnnt_loss_smoothed(
        lm, am, x["symbols"], 0, lm_only_scale=0.25, am_only_scale=0.0,
        boundary=x["boundary"], reduction="sum", return_grad=True,
    )
    ranges = ns.get_rnnt_prune_ranges(px_grad, py_grad, x["boundary"], x["s_range"])
    am_pruned, lm_pruned = ns.do_rnnt_pruning(x["encoder_out"], x["decoder_out"], ranges)
    logits = x["joiner_out"](torch.tanh(am_pruned + lm_pruned))
    pruned = ns.rnnt_loss_pruned(logits, x["symbols"], ranges, 0, x["boundary"], reduction="sum")
    (0.5 * simple + pruned).backward()


def unpruned_step(ns, x: dict) -> None:
    hidden = torch.tanh(x["encoder_out"].unsqueeze(2) + x["decoder_out"].unsqueeze(1))
    logits = x["joiner_out"](hidden)
    ns.rnnt_loss(logits, x["symbols"], 0, x["boundary"], reduction="sum").backward()


def loss_only_step(ns, x: dict, pruned: bool) -> None:
    """Only the loss operations: simple/pruned losses on a given pruned joiner output, or the
    unpruned loss on a given full joiner output."""
    if pruned:
        lm, am = x["lm_logits"], x["am_logits"]
        simple, (px_grad, py_grad) = ns.rnnt_loss_smoothed(
            lm, am, x["symbols"], 0, 0.25, 0.0, x["boundary"], reduction="sum", return_grad=True
        )
        ranges = ns.get_rnnt_prune_ranges(px_grad, py_grad, x["boundary"], x["s_range"])
        loss = 0.5 * simple + ns.rnnt_loss_pruned(
            x["pruned_logits"], x["symbols"], ranges, 0, x["boundary"], reduction="sum"
        )
    else:
        loss = ns.rnnt_loss(x["full_logits"], x["symbols"], 0, x["boundary"], reduction="sum")
    loss.backward()


def add_logit_leaves(x: dict, with_full: bool) -> None:
    B, T, C = x["encoder_out"].shape[0], x["encoder_out"].shape[1], x["joiner_out"].out_features
    S1 = x["decoder_out"].shape[1]
    gen = torch.Generator().manual_seed(1)
    x["lm_logits"] = torch.randn(B, S1, C, generator=gen).requires_grad_()
    x["am_logits"] = torch.randn(B, T, C, generator=gen).requires_grad_()
    x["pruned_logits"] = torch.randn(B, T, x["s_range"], C, generator=gen).requires_grad_()
    if with_full:
        x["full_logits"] = torch.randn(B, T, S1, C, generator=gen).requires_grad_()


def run_row(row: str, x: dict, loss_only: bool) -> None:
    ns = real_k2 if row.startswith("k2") else builtin
    pruned = row.endswith(" pruned")
    if loss_only:
        loss_only_step(ns, x, pruned)
    elif pruned:
        pruned_step(ns, x)
    else:
        unpruned_step(ns, x)
    for value in x.values():
        if isinstance(value, torch.Tensor):
            value.grad = None
        elif isinstance(value, torch.nn.Module):
            value.zero_grad(set_to_none=True)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_peak_in_this_process(row: str, x: dict, loss_only: bool) -> float:
    run_row(row, x, loss_only)  # warm-up: lazy initialisation is not part of the step
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    baseline = _rss_kib("VmRSS")
    run_row(row, x, loss_only)
    return (_rss_kib("VmHWM") - baseline) / 1024


def peak_memory_mib(row: str, args, loss_only: bool) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    cmd = [sys.executable, __file__, "--measure-row", row, "--B", str(args.B), "--T", str(args.T),
           "--S", str(args.S), "--C", str(args.C), "--D", str(args.D),
           "--threads", str(args.threads)]
    if loss_only:
        cmd.append("--loss-only")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def print_table(title: str, results: dict) -> None:
    print(f"\n{title}")
    print(f"{'method':<18} {'time (s)':>9} {'peak MiB':>9} {'time / k2 pruned':>17} "
          f"{'peak / builtin pruned':>22}")
    k2_time = results.get("k2 pruned", (None, None))[0]
    base_mem = results["builtin pruned"][1]
    for row, (seconds, mib) in results.items():
        time_ratio = f"{seconds / k2_time:.2f}x" if k2_time else "-"
        print(f"{row:<18} {seconds:>9.3f} {mib:>9.1f} {time_ratio:>17} "
              f"{mib / max(base_mem, 1e-9):>21.1f}x")
    if k2_time:
        ratio = results["builtin pruned"][0] / k2_time
        print(f"goal: builtin pruned time / k2 pruned time = {ratio:.2f}x (goal <= 1.5x)")
    if "builtin unpruned" in results:
        ratio = results["builtin unpruned"][1] / max(base_mem, 1e-9)
        print(f"goal: builtin unpruned peak / builtin pruned peak = {ratio:.1f}x (goal >= 5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--T", type=int, default=250)
    parser.add_argument("--S", type=int, default=60)
    parser.add_argument("--C", type=int, default=500)
    parser.add_argument("--D", type=int, default=512, help="joiner dimension")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loss-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-row", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x = make_inputs(args.B, args.T, args.S, args.C, args.D)
    if args.measure_row:
        if args.loss_only:
            add_logit_leaves(x, with_full=not args.measure_row.endswith(" pruned"))
        print(measure_peak_in_this_process(args.measure_row, x, args.loss_only))
        return

    rows = [r for r in ROWS if real_k2 is not None or not r.startswith("k2")]
    print(f"B={args.B} T={args.T} S={args.S} C={args.C} joiner dim={args.D} "
          f"threads={args.threads} torch {torch.__version__} "
          f"k2 {'available' if real_k2 is not None else 'missing (built-in rows only)'}")
    for loss_only, title in ((False, "full step (projections + joiner + losses), fwd+bwd"),
                             (True, "loss operations only (joiner output given), fwd+bwd")):
        if loss_only:
            add_logit_leaves(x, with_full=True)
        results = {}
        for row in rows:
            seconds = median_seconds(functools.partial(run_row, row, x, loss_only), args.repeats)
            results[row] = (seconds, peak_memory_mib(row, args, loss_only))
        print_table(title, results)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
