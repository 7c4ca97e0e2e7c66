"""Built-in RNN-T losses against independent oracles: the check values of
docs/design/algorithms.rst §3, brute-force enumeration of alignments, finite differences and
hand-computed special cases."""

from __future__ import annotations

import logging

import pytest
import torch
from loss_helpers import RNNT_TYPES, brute_force_rnnt_loss, random_problem

from icefall_lite.k2 import builtin as k2

# docs/design/algorithms.rst §3: B=1, S=3, T=4, C=3, blank 2, joiner = addition
CHECK_LM = torch.tensor([[0, 0, 1], [0, 1, 1], [1, 0, 1], [2, 2, 0]], dtype=torch.float32)
CHECK_AM = torch.tensor([[0, 1, 2], [0, 0, 0], [0, 2, 4], [0, 3, 3]], dtype=torch.float32)
CHECK_SYMBOLS = torch.tensor([[0, 1, 0]])
CHECK_BLANK = 2
CHECK_VALUES = {"regular": 7.5040134, "modified": 6.5457850, "constrained": 9.6587693}
SMOOTHED_CHECK_VALUES = [((0.25, 0.0), 7.3422132), ((0.0, 0.333), 6.8382603)]


def _check_inputs():
    return CHECK_LM.unsqueeze(0), CHECK_AM.unsqueeze(0)


def _all_losses(lm, am, symbols, blank, rnnt_type, boundary=None, **kwargs):
    """The same loss through every entry point (joiner = addition)."""
    logits = am.unsqueeze(2) + lm.unsqueeze(1)
    B, T = am.shape[:2]
    S = symbols.shape[1]
    full_ranges = torch.arange(S + 1).expand(B, T, S + 1).contiguous()
    common = dict(boundary=boundary, rnnt_type=rnnt_type, reduction="none", **kwargs)
    return {
        "simple": k2.rnnt_loss_simple(lm, am, symbols, blank, **common),
        "full": k2.rnnt_loss(logits, symbols, blank, **common),
        "full_from_log_softmax": k2.rnnt_loss(
            logits.log_softmax(-1), symbols, blank, from_log_softmax=True, **common
        ),
        "pruned_full_window": k2.rnnt_loss_pruned(logits, symbols, full_ranges, blank, **common),
    }


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_check_values_of_algorithms_md(rnnt_type):
    lm, am = _check_inputs()
    for name, loss in _all_losses(lm, am, CHECK_SYMBOLS, CHECK_BLANK, rnnt_type).items():
        assert float(loss) == pytest.approx(CHECK_VALUES[rnnt_type], abs=2e-6), name


@pytest.mark.parametrize(("scales", "expected"), SMOOTHED_CHECK_VALUES)
def test_smoothed_check_values_of_algorithms_md(scales, expected):
    lm, am = _check_inputs()
    loss = k2.rnnt_loss_smoothed(lm, am, CHECK_SYMBOLS, CHECK_BLANK, *scales)
    assert float(loss) == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_losses_invariant_to_per_frame_and_per_position_constants(rnnt_type):
    lm, am = _check_inputs()
    shifted_lm = lm + torch.tensor([3.0, -1.0, 7.0, 0.5]).reshape(1, 4, 1)
    shifted_am = am + torch.tensor([-2.0, 4.0, 1.5, 9.0]).reshape(1, 4, 1)
    before = _all_losses(lm, am, CHECK_SYMBOLS, CHECK_BLANK, rnnt_type)
    after = _all_losses(shifted_lm, shifted_am, CHECK_SYMBOLS, CHECK_BLANK, rnnt_type)
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=1e-5)
    for scales, _ in SMOOTHED_CHECK_VALUES + [((0.2, 0.1), None)]:
        a = k2.rnnt_loss_smoothed(lm, am, CHECK_SYMBOLS, CHECK_BLANK, *scales, rnnt_type=rnnt_type)
        b = k2.rnnt_loss_smoothed(
            shifted_lm, shifted_am, CHECK_SYMBOLS, CHECK_BLANK, *scales, rnnt_type=rnnt_type
        )
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
def test_losses_equal_brute_force_enumeration_of_alignments(rnnt_type, delay_penalty):
    gen = torch.Generator().manual_seed(7)
    B, S, T, C, blank = 3, 3, 4, 5, 1
    lm = torch.randn(B, S + 1, C, generator=gen, dtype=torch.float64)
    am = torch.randn(B, T, C, generator=gen, dtype=torch.float64)
    symbols = torch.randint(0, C, (B, S), generator=gen)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3], [0, 0, 0, 2]])
    log_probs = (am.unsqueeze(2) + lm.unsqueeze(1)).log_softmax(-1)  # [B, T, S+1, C]
    expected = torch.stack([
        brute_force_rnnt_loss(
            log_probs[b, :t_end, : s_end + 1], symbols[b, :s_end].tolist(), blank, rnnt_type,
            delay_penalty,
        )
        for b, (_, _, s_end, t_end) in enumerate(boundary.tolist())
    ])
    losses = _all_losses(
        lm, am, symbols, blank, rnnt_type, boundary=boundary, delay_penalty=delay_penalty
    )
    for name, loss in losses.items():
        torch.testing.assert_close(loss, expected, msg=name)


def test_blank_only_sequences_cost_the_blanks():
    # S_b == 0: the only alignment is one blank per frame
    lm, am = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    symbols = torch.tensor([[1, 2], [3, 1]])
    boundary = torch.tensor([[0, 0, 0, 5], [0, 0, 0, 3]])
    log_probs = (am.unsqueeze(2) + lm.unsqueeze(1)).log_softmax(-1)
    expected = torch.stack([-log_probs[0, :5, 0, 0].sum(), -log_probs[1, :3, 0, 0].sum()])
    for rnnt_type in RNNT_TYPES:
        for name, loss in _all_losses(lm, am, symbols, 0, rnnt_type, boundary).items():
            torch.testing.assert_close(loss, expected, msg=f"{rnnt_type} {name}")


def test_empty_symbol_axis_gives_finite_loss():
    lm, am = torch.randn(2, 1, 4, requires_grad=True), torch.randn(2, 5, 4, requires_grad=True)
    symbols = torch.zeros(2, 0, dtype=torch.int64)
    for rnnt_type in RNNT_TYPES:
        loss = k2.rnnt_loss_simple(lm, am, symbols, 0, rnnt_type=rnnt_type, reduction="sum")
        loss.backward()
        expected = -(am + lm).log_softmax(-1)[:, :, 0].sum()
        torch.testing.assert_close(loss, expected)
        assert torch.isfinite(lm.grad).all() and torch.isfinite(am.grad).all()


@pytest.mark.parametrize("rnnt_type", ["modified", "constrained"])
def test_one_symbol_per_frame_when_T_equals_S(rnnt_type):
    # T == S leaves one alignment: symbol s on frame s
    S = 4
    lm = torch.randn(1, S + 1, 6, requires_grad=True)
    am = torch.randn(1, S, 6, requires_grad=True)
    symbols = torch.tensor([[5, 2, 2, 3]])
    loss = k2.rnnt_loss_simple(lm, am, symbols, 0, rnnt_type=rnnt_type)
    loss.backward()
    log_probs = (am.unsqueeze(2) + lm.unsqueeze(1)).log_softmax(-1)[0]
    expected = -sum(log_probs[s, s, symbols[0, s]] for s in range(S))
    if rnnt_type == "constrained":
        expected = expected - sum(log_probs[s, s + 1, 0] for s in range(S))
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(lm.grad).all() and torch.isfinite(am.grad).all()


@pytest.mark.parametrize("rnnt_type", ["modified", "constrained"])
def test_fewer_frames_than_symbols_raises_for_one_symbol_per_frame(rnnt_type):
    lm, am = torch.randn(2, 4, 5), torch.randn(2, 6, 5)
    symbols = torch.ones(2, 3, dtype=torch.int64)
    boundary = torch.tensor([[0, 0, 3, 6], [0, 0, 3, 2]])
    with pytest.raises(ValueError, match="sequence 1 has 3 symbols and only 2 frames"):
        k2.rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type=rnnt_type)
    with pytest.raises(ValueError, match="frames"):
        k2.rnnt_loss(torch.randn(1, 2, 4, 5), symbols[:1], 0, rnnt_type=rnnt_type)


def test_gradcheck_float64_all_losses():
    gen = torch.Generator().manual_seed(3)
    for rnnt_type in RNNT_TYPES:
        p = random_problem(gen, 2, 3, 5, 4, rnnt_type, dtype=torch.float64)
        lm, am = p.lm.requires_grad_(), p.am.requires_grad_()
        args = (p.symbols, p.blank, p.boundary, rnnt_type, 0.2)

        def simple(a, b, args=args):
            return k2.rnnt_loss_simple(a, b, *args, reduction="none")

        def smoothed(a, b, args=args):
            return k2.rnnt_loss_smoothed(a, b, args[0], args[1], 0.2, 0.1, *args[2:], "sum")

        def full(a, b, args=args):
            return k2.rnnt_loss(torch.tanh(a.unsqueeze(1) + b.unsqueeze(2)), *args, "none")

        for fn in (simple, smoothed, full):
            assert torch.autograd.gradcheck(fn, (lm, am)), (rnnt_type, fn.__name__)


def test_full_loss_same_value_and_grad_from_logits_or_log_softmax():
    logits = torch.randn(3, 7, 4, 9, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, 9, (3, 3))
    boundary = torch.tensor([[0, 0, 3, 7], [0, 0, 1, 5], [0, 0, 2, 2]])
    a = k2.rnnt_loss(logits, symbols, 0, boundary, reduction="sum")
    (grad_a,) = torch.autograd.grad(a, logits)
    b = k2.rnnt_loss(logits.log_softmax(-1), symbols, 0, boundary, reduction="sum",
                     from_log_softmax=True)
    (grad_b,) = torch.autograd.grad(b, logits)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(grad_a, grad_b)
    small = logits[:2, :4, :3, :5].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: k2.rnnt_loss(x, symbols[:2, :2], 0, boundary[:2].clamp(max=2), reduction="none"),
        (small,),
    )


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_pruned_equals_full_when_window_covers_every_position(rnnt_type):
    gen = torch.Generator().manual_seed(5)
    p = random_problem(gen, 4, 6, 12, 8, rnnt_type, dtype=torch.float64)
    B, S, T, C = p.sizes
    _, (px_grad, py_grad) = k2.rnnt_loss_simple(
        p.lm, p.am, p.symbols, p.blank, p.boundary, rnnt_type, return_grad=True
    )
    ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, p.boundary, S + 3)
    assert ranges.shape == (B, T, S + 1)
    am_pruned, lm_pruned = k2.do_rnnt_pruning(p.am, p.lm, ranges)
    logits = torch.tanh(am_pruned + lm_pruned).requires_grad_()
    pruned = k2.rnnt_loss_pruned(logits, p.symbols, ranges, p.blank, p.boundary, rnnt_type,
                                 delay_penalty=0.1, reduction="none")
    full = k2.rnnt_loss(logits, p.symbols, p.blank, p.boundary, rnnt_type,
                        delay_penalty=0.1, reduction="none")
    torch.testing.assert_close(pruned, full)
    grads = [torch.autograd.grad(loss.sum(), logits)[0] for loss in (pruned, full)]
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_prune_ranges_are_reachable_windows_with_finite_pruned_loss(rnnt_type):
    gen = torch.Generator().manual_seed(11)
    for _ in range(5):
        p = random_problem(gen, 4, 12, 30, 10, rnnt_type)
        B, S, T, C = p.sizes
        _, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
            p.lm, p.am, p.symbols, p.blank, 0.25, 0.0, p.boundary, rnnt_type, return_grad=True
        )
        s_range = 3
        ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, p.boundary, s_range)
        R = min(s_range, S + 1)
        starts = ranges[:, :, 0]
        steps = starts[:, 1:] - starts[:, :-1]
        assert (starts >= 0).all() and (steps >= 0).all()
        assert (steps <= (R - 1 if rnnt_type == "regular" else 1)).all()
        assert torch.equal(ranges, starts.unsqueeze(2) + torch.arange(R))
        for b, (_, _, s_end, t_end) in enumerate(p.boundary.tolist()):
            assert s_end in ranges[b, t_end - 1].tolist()
        logits = torch.randn(B, T, R, C, generator=gen)
        loss = k2.rnnt_loss_pruned(logits, p.symbols, ranges, p.blank, p.boundary, rnnt_type,
                                   reduction="none")
        assert torch.isfinite(loss).all()


def test_regular_prune_range_grows_when_too_narrow_for_any_path(caplog):
    # 9 symbols in 2 frames: some frame must hold 5 symbols, so s_range 2 cannot work
    B, S, T, C = 1, 9, 2, 6
    lm, am = torch.randn(B, S + 1, C), torch.randn(B, T, C)
    symbols = torch.randint(1, C, (B, S))
    _, (px_grad, py_grad) = k2.rnnt_loss_simple(lm, am, symbols, 0, return_grad=True)
    boundary = torch.tensor([[0, 0, S, T]])
    with caplog.at_level(logging.WARNING):
        ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    assert "s_range" in caplog.text and ranges.shape[2] == (S - 1) // T + 2
    logits = torch.randn(B, T, ranges.shape[2], C)
    assert torch.isfinite(k2.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary))


def test_do_rnnt_pruning_gathers_positions():
    am, lm = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    ranges = torch.randint(0, 4, (2, 5, 2))
    am_pruned, lm_pruned = k2.do_rnnt_pruning(am, lm, ranges)
    for b in range(2):
        for t in range(5):
            for r in range(2):
                assert torch.equal(lm_pruned[b, t, r], lm[b, ranges[b, t, r]])
                assert torch.equal(am_pruned[b, t, r], am[b, t])


def test_reductions_and_argument_errors():
    gen = torch.Generator().manual_seed(2)
    p = random_problem(gen, 4, 5, 9, 6, "regular")
    args = (p.lm, p.am, p.symbols, p.blank, p.boundary)
    none = k2.rnnt_loss_simple(*args, reduction="none")
    assert none.shape == (p.sizes[0],)
    torch.testing.assert_close(k2.rnnt_loss_simple(*args, reduction="sum"), none.sum())
    torch.testing.assert_close(k2.rnnt_loss_simple(*args, reduction="mean"), none.mean())
    with pytest.raises(ValueError, match="reduction"):
        k2.rnnt_loss_simple(*args, reduction="max")
    with pytest.raises(ValueError, match="rnnt_type"):
        k2.rnnt_loss_simple(*args, rnnt_type="fast")
    with pytest.raises(ValueError, match="symbols"):
        k2.rnnt_loss_simple(p.lm, p.am, p.symbols[:, :-1], p.blank)
    with pytest.raises(ValueError, match="termination_symbol"):
        k2.rnnt_loss_simple(p.lm, p.am, p.symbols, 99)


def test_float32_matches_float64():
    gen = torch.Generator().manual_seed(4)
    p = random_problem(gen, 3, 30, 120, 50, "regular", dtype=torch.float64)
    args = (p.symbols, p.blank, p.boundary)
    loss64 = k2.rnnt_loss_smoothed(p.lm, p.am, *args[:2], 0.25, 0.0, args[2], reduction="none")
    loss32 = k2.rnnt_loss_smoothed(
        p.lm.float(), p.am.float(), *args[:2], 0.25, 0.0, args[2], reduction="none"
    )
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-5, atol=1e-4)
