"""Built-in FSA core against independent oracles (main environment): the check values of
docs/design/algorithms.rst, brute-force path enumeration, a dynamic-programming edit distance, k2's
documented file format, and hand-computed cases."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from icefall_lite import fsa as F
from tests.fsa.helpers import RandomVec, arcs_to_text, random_acyclic_arcs

CHECK_FSA = "0 1 1 0.1\n0 2 1 0.2\n1 2 1 0.3\n1 3 1 0.4\n2 3 1 0.5\n3 4 -1 0\n4"


def enumerate_paths(arcs, num_states):
    """All successful paths (lists of arc indexes) of a small acyclic FSA, by brute force."""
    if num_states == 0:
        return []
    final = num_states - 1
    out = []

    def walk(state, path):
        if state == final:
            out.append(path)
            return
        for i, (s, d, _, _) in enumerate(arcs):
            if s == state:
                walk(d, path + [i])

    walk(0, [])
    return out


def path_score(arcs, path):
    return sum(float(torch.tensor(arcs[i][3], dtype=torch.float32)) for i in path)


def random_small_fsas(seed, count=120):
    rng = random.Random(seed)
    return [random_acyclic_arcs(rng, max_states=6) for _ in range(count)]


# --------------------------------------------------------------------------------------------
# docs/design/algorithms.rst check values
# --------------------------------------------------------------------------------------------
def test_log_total_and_arc_posteriors_equal_the_algorithms_md_check_values():
    vec = F.create_fsa_vec([F.Fsa.from_str(CHECK_FSA)])
    vec.requires_grad_(True)
    tot = vec.get_tot_scores(use_double_scores=False, log_semiring=True)
    assert tot.item() == pytest.approx(1.8119014501571655, abs=1e-6)
    tot.sum().backward()
    expected = torch.tensor([0.67107, 0.32893, 0.40176, 0.26931, 0.73069, 1.0])
    torch.testing.assert_close(vec.scores.grad, expected, atol=1e-5, rtol=0)


def test_linear_fsa_with_self_loops_labels_equal_the_check_value():
    fsa = F.linear_fsa_with_self_loops(F.linear_fsa([2, 0, 0, 0, 5, 8]))
    assert fsa.labels.tolist() == [0, 2, 0, 5, 0, 8, 0, -1]


def dp_edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(b)]


def test_levenshtein_alignment_distance_equals_dp_edit_distance():
    rng = random.Random(0)
    refs = [[rng.randint(1, 4) for _ in range(rng.randint(0, 7))] for _ in range(30)]
    hyps = [[rng.randint(1, 4) for _ in range(rng.randint(0, 7))] for _ in range(30)]
    ali = F.levenshtein_alignment(F.levenshtein_graph(refs), F.levenshtein_graph(hyps),
                                  torch.arange(30, dtype=torch.int32))
    dist = -ali.get_tot_scores(use_double_scores=False, log_semiring=False)
    assert dist.round().long().tolist() == [dp_edit_distance(r, h) for r, h in zip(refs, hyps)]
    # the k2 docstring example
    ali2 = F.levenshtein_alignment(F.levenshtein_graph([[1, 2, 4]]),
                                   F.levenshtein_graph([[1, 2, 3], [1, 3, 3, 2]]),
                                   torch.tensor([0, 0], dtype=torch.int32), sorted_match_ref=True)
    assert ali2.labels.tolist() == [1, 2, 0, -1, 1, 0, 0, 0, -1]
    assert ali2.ref_labels.tolist() == [1, 2, 4, -1, 1, 2, 4, 0, -1]
    assert ali2.hyp_labels.tolist() == [1, 2, 3, -1, 1, 3, 3, 2, -1]


# --------------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------------
def test_tot_scores_and_gradients_equal_brute_force_path_enumeration():
    for arcs, n in random_small_fsas(1):
        vec = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(arcs, n))])
        vec.requires_grad_(True)
        paths = enumerate_paths(arcs, n)
        scores = [path_score(arcs, p) for p in paths]
        log_tot = vec.get_tot_scores(use_double_scores=True, log_semiring=True)
        trop = vec.get_tot_scores(use_double_scores=True, log_semiring=False)
        if not paths:
            assert log_tot.item() == -math.inf and trop.item() == -math.inf
            continue
        expected_log = torch.logsumexp(torch.tensor(scores, dtype=torch.float64), 0).item()
        assert log_tot.item() == pytest.approx(expected_log, abs=1e-6)
        assert trop.item() == pytest.approx(max(scores), abs=1e-6)
        log_tot.sum().backward()
        post = [0.0] * len(arcs)
        for p, s in zip(paths, scores):
            for i in p:
                post[i] += math.exp(s - expected_log)
        torch.testing.assert_close(vec.scores.grad.double(), torch.tensor(post,
                                   dtype=torch.float64), atol=1e-5, rtol=0)


def test_shortest_path_is_the_best_enumerated_path():
    arcs_list = random_small_fsas(2)
    vec = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(a, n)) for a, n in arcs_list])
    best = F.shortest_path(vec, use_double_scores=True)
    for i, (arcs, n) in enumerate(arcs_list):
        paths = enumerate_paths(arcs, n)
        got = best[i]
        if not paths:
            assert got.num_arcs == 0 and got.shape[0] == 0
            continue
        scores = [path_score(arcs, p) for p in paths]
        top = paths[max(range(len(paths)), key=lambda k: scores[k])]
        assert got.labels.tolist() == [arcs[j][2] for j in top]
        assert got.scores.sum().item() == pytest.approx(max(scores), abs=1e-5)


def test_state_levels_are_longest_path_depths_and_group_arcs_by_level():
    """The level structure the path algorithms loop over, against a brute-force DP: a state's
    level is the longest path reaching it; arcs are grouped by source level (``out_*``) and,
    in arc index order, by destination level (``in_*``)."""
    from icefall_lite.fsa import paths as P

    arcs_list = random_small_fsas(7, count=40)
    vec = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(a, n)) for a, n in arcs_list])
    want_level, want_src, want_dst = [], [], []
    offset = 0
    for arcs, n in arcs_list:
        level = [0] * n
        for s, d, _, _ in sorted(arcs, key=lambda a: a[0]):  # top-sorted: s < d
            level[d] = max(level[d], level[s] + 1)
        want_level += level
        want_src += [offset + s for s, _, _, _ in arcs]
        want_dst += [offset + d for _, d, _, _ in arcs]
        offset += n
    lv = P.state_levels(vec)
    assert lv["level"].tolist() == want_level
    assert lv["num_levels"] == max(want_level) + 1
    order, ss = lv["state_order"].tolist(), lv["state_splits"]
    for lev in range(lv["num_levels"]):
        assert sorted(order[ss[lev]:ss[lev + 1]]) == [
            s for s, v in enumerate(want_level) if v == lev]
    out_order, os_ = lv["out_order"].tolist(), lv["out_splits"]
    assert lv["out_src"].tolist() == [want_src[a] for a in out_order]
    assert lv["out_dst"].tolist() == [want_dst[a] for a in out_order]
    il = P._in_levels(vec)
    for lev in range(lv["num_levels"]):
        assert sorted(out_order[os_[lev]:os_[lev + 1]]) == [
            a for a, s in enumerate(want_src) if want_level[s] == lev]
        assert il["in_order"].tolist()[il["in_splits"][lev]:il["in_splits"][lev + 1]] == [
            a for a, d in enumerate(want_dst) if want_level[d] == lev]


def test_random_paths_are_successful_paths_sampled_by_posterior():
    arcs, n = ([(0, 1, 1, 0.0), (0, 1, 2, math.log(3.0)), (1, 2, -1, 0.0)], 3)
    vec = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(arcs, n))])
    paths = F.random_paths(vec, use_double_scores=True, num_paths=8).tolist()[0]
    # arc 0 has probability 1/4: p = (i + 0.5) / 8 < 0.25 for i = 0, 1
    assert [p[0] for p in paths] == [0, 0, 1, 1, 1, 1, 1, 1]
    for arcs, n in random_small_fsas(3):
        vec = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(arcs, n))])
        got = F.random_paths(vec, use_double_scores=True, num_paths=4).tolist()[0]
        allowed = enumerate_paths(arcs, n)
        assert len(got) == (4 if allowed else 0)
        for p in got:
            assert p in allowed


def _tot(fsa_vec, log=True):
    return fsa_vec.get_tot_scores(use_double_scores=True, log_semiring=log)


def test_connect_top_sort_arc_sort_keep_the_total_scores_and_establish_their_property():
    rng = random.Random(4)
    vecs = [RandomVec(rng).build(F, aux="int") for _ in range(40)]
    for vec in vecs:
        tot = _tot(vec)
        conn = F.connect(vec)
        torch.testing.assert_close(_tot(conn), tot)
        nonempty_paths = torch.isfinite(tot)
        sizes = conn.arcs.row_splits(1).diff()
        assert bool((sizes[~nonempty_paths] == 0).all())
        assert F.connect(conn).num_arcs == conn.num_arcs
        srt = F.arc_sort(vec)
        assert srt.properties & 0x10
        torch.testing.assert_close(_tot(srt), tot)
        top = F.top_sort(srt)
        info = top.arc_info()
        assert bool((info["dst"] > info["src"]).all())
        torch.testing.assert_close(_tot(top), tot)


def test_intersection_total_equals_brute_force_over_matching_path_pairs():
    rng = random.Random(5)
    for _ in range(40):
        a_arcs, na = random_acyclic_arcs(rng, max_states=5, max_label=2)
        b_arcs, nb = random_acyclic_arcs(rng, max_states=5, max_label=2)
        a = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(a_arcs, na))])
        b = F.create_fsa_vec([F.Fsa.from_str(arcs_to_text(b_arcs, nb))])
        out = F.intersect_device(a, b, torch.tensor([0], dtype=torch.int32))
        terms = []
        for pa in enumerate_paths(a_arcs, na):
            for pb in enumerate_paths(b_arcs, nb):
                if [a_arcs[i][2] for i in pa] == [b_arcs[i][2] for i in pb]:
                    terms.append(path_score(a_arcs, pa) + path_score(b_arcs, pb))
        got = _tot(F.connect(out)).item()
        if terms:
            expected = torch.logsumexp(torch.tensor(terms, dtype=torch.float64), 0).item()
            assert got == pytest.approx(expected, abs=1e-5)
        else:
            assert got == -math.inf


def test_invert_expands_ragged_aux_labels_into_an_equivalent_transducer():
    fsa = F.Fsa.from_str("0 1 2 0.1\n0 2 3 0.2\n1 2 4 0.3\n2 3 -1 0.4\n3")
    fsa.aux_labels = F.RaggedTensor([[5, 6, 7], [], [8], [9, -1]])
    inv = F.invert(fsa)
    assert F.to_str_simple(inv) == (
        "0 1 5 2 0.1\n0 4 0 3 0.2\n1 2 6 0 0\n2 3 7 0 0\n3 4 8 4 0.3\n4 5 9 0 0.4\n"
        "5 6 -1 -1 0\n6\n")


# --------------------------------------------------------------------------------------------
# formats, construction
# --------------------------------------------------------------------------------------------
def test_fsa_vec_dict_has_k2s_serialised_layout_and_round_trips():
    a = F.Fsa.from_str("0 1 1 0.5\n1 2 -1 0\n2")
    b = F.Fsa.from_str("0 1 1 0.5\n0 2 3 0.5\n1 3 -1 0\n2 3 -1 0\n3")
    vec = F.create_fsa_vec([a, F.Fsa.from_str(""), b])
    vec.aux_labels = torch.tensor([7, -1, 8, 9, -1, -1], dtype=torch.int32)
    d = vec.as_dict()
    # [num_fsas, 0, row_splits1, row_splits2[row_splits1], arcs...] as written by real k2
    assert d["arcs"][:10].tolist() == [3, 0, 0, 3, 3, 7, 0, 2, 2, 6]
    assert d["arcs"][10:14].tolist()[:3] == [0, 1, 1]
    assert d["arcs"][13].item() == 1056964608  # bits of 0.5f
    back = F.Fsa.from_dict(d)
    assert back.shape == (3, None, None)
    assert torch.equal(back.arcs.values(), vec.arcs.values())
    assert torch.equal(back.aux_labels, vec.aux_labels)
    assert torch.equal(back.scores, vec.scores)


def test_from_fsa_vec_parts_equals_create_fsa_vec_and_keeps_autograd():
    a = F.Fsa.from_str("0 1 1 0.5\n1 2 -1 0.25\n2")
    b = F.Fsa.from_str("0 1 2 1.5\n0 1 3 0.5\n1 2 -1 0\n2")
    ref = F.create_fsa_vec([a, b])
    scores = torch.tensor([0.5, 0.25, 1.5, 0.5, 0.0], requires_grad=True)
    arcs = torch.tensor([[0, 1, 1], [1, 2, -1], [0, 1, 2], [0, 1, 3], [1, 2, -1]])
    vec = F.Fsa.from_fsa_vec_parts(torch.tensor([0, 3, 6]), torch.tensor([0, 1, 2, 2, 4, 5, 5]),
                                   arcs, scores, check=True,
                                   aux_labels=torch.tensor([4, -1, 5, 6, -1]))
    assert torch.equal(vec.arcs.values(), ref.arcs.values())
    vec.get_tot_scores(use_double_scores=True, log_semiring=False).sum().backward()
    assert scores.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="label -1"):
        F.Fsa.from_fsa_vec_parts(torch.tensor([0, 3]), torch.tensor([0, 1, 2, 2]),
                                 torch.tensor([[0, 1, 1], [1, 2, 5]]),
                                 torch.zeros(2), check=True)


def test_text_round_trip_and_openfst_and_kaldifst_conversion():
    s = "0 1 2 3 0.5\n0 1 1 4 -0.25\n1 2 -1 -1 1e-07\n2\n"
    fsa = F.Fsa.from_str(s, acceptor=False)
    assert F.to_str_simple(fsa) == s
    # real k2 writes final weights as "state cost" lines in OpenFst format
    assert F.to_str_simple(fsa, openfst=True) == "0 1 2 3 -0.5\n0 1 1 4 0.25\n1 -1e-07\n"
    ofst = F.Fsa.from_openfst("0 1 5 5 0.5\n1 2 6 6 1.0\n1 0.25\n2\n", acceptor=False)
    assert F.to_str_simple(ofst) == ("0 1 5 5 -0.5\n1 2 6 6 -1\n1 3 -1 -1 -0.25\n"
                                     "2 3 -1 -1 -0\n3\n")
    import kaldifst  # main environment only

    fst = kaldifst.StdVectorFst()
    s0, s1, s2 = fst.add_state(), fst.add_state(), fst.add_state()
    fst.start = s1  # not 0: states 0 and 1 swap
    fst.add_arc(s1, kaldifst.StdArc(3, 7, 0.5, s0))
    fst.add_arc(s0, kaldifst.StdArc(4, 0, 0.25, s2))
    fst.set_final(s2, 0.125)
    got = F.from_kaldifst(fst)
    assert F.to_str_simple(got) == "0 1 3 7 -0.5\n1 2 4 0 -0.25\n2 3 -1 -1 -0.125\n3\n"


def test_ragged_tensor_operations_on_hand_computed_cases():
    r = F.RaggedTensor([[[1, 2], [1, 2], [3]], [], [[2], [], [2], []]])
    u, reps, new2old = r.unique(need_num_repeats=True, need_new2old_indexes=True)
    # k2 orders the sublists of a row by its hash: [3] before [1, 2] (real k2 1.23.4 agrees)
    assert u.tolist() == [[[3], [1, 2]], [], [[], [2]]]
    assert reps.tolist() == [[1, 2], [], [2, 2]]
    assert new2old.tolist() == [2, 0, 4, 3]
    t = F.RaggedTensor([[3, -1, 0], [], [5]])
    assert t.remove_values_leq(0).tolist() == [[3], [], [5]]
    assert t.remove_values_eq(-1).tolist() == [[3, 0], [], [5]]
    assert t.shape.row_splits(1).tolist() == [0, 3, 3, 4]
    assert t.shape.row_ids(1).tolist() == [0, 0, 0, 2]
    sub, vidx = t.index(torch.tensor([2, -1, 0], dtype=torch.int32), need_value_indexes=True)
    assert sub.tolist() == [[5], [], [3, -1, 0]] and vidx.tolist() == [3, 0, 1, 2]
    f = F.RaggedTensor([[3.0, 5.0, 5.0, 2.0], [], [5.0]])
    assert f.argmax().tolist() == [2, -1, 4]
    assert f.sum().tolist() == [15.0, 0.0, 5.0]
    assert f.logsumexp()[1].item() == -math.inf
    assert f.logsumexp()[0].item() == pytest.approx(math.log(sum(math.exp(x)
                                                                 for x in (3, 5, 5, 2))))
    shape = F.ragged.create_ragged_shape2(row_ids=torch.tensor([0, 0, 1], dtype=torch.int32))
    assert str(shape) == "[ [ x x ] [ x ] ]"
    assert F.ragged.index(torch.tensor([10, 11, 12]), F.RaggedTensor([[2, -1], [0]])).tolist() \
        == [[12, 0], [10]]


def test_to_dot_draws_states_and_labelled_arcs():
    fsa = F.Fsa.from_str("0 1 3 5 0.5\n1 2 -1 -1 0\n2", acceptor=False)
    dot = F.to_dot(fsa, title="demo")
    assert dot.startswith("digraph FSA {")
    assert 'label = "demo";' in dot
    assert '0 -> 1 [label = "3:5/0.5"];' in dot
    assert "2 [label = \"2\", shape = doublecircle];" in dot


# --------------------------------------------------------------------------------------------
# malformed input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("0 1 x 0.5\n1", "bad line 1"),
    ("0 1 2 0.5 7 8\n1", "bad line 1"),
    ("1 2 -1 0\n0 1 2 0\n2", "not sorted by source state"),
    ("0 1 -1 0\n1 2 -1 0\n2", "label -1"),
    ("0 2 -1 0\n2 1 5 0\n2", "leaves the final state|state >= the final"),
    ("0 1 2 0\n1 2 -1 0", "final-state line"),
])
def test_malformed_text_raises_a_value_error_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        F.Fsa.from_str(text)


def test_malformed_arc_tensors_raise_value_errors():
    unsorted = torch.tensor([[1, 2, -1, 0], [0, 1, 3, 0]], dtype=torch.int32)
    with pytest.raises(ValueError, match="not sorted by source state"):
        F.Fsa(unsorted)
    final_out = torch.tensor([[0, 2, -1, 0], [2, 1, 3, 0]], dtype=torch.int32)
    with pytest.raises(ValueError, match="label -1|leaves the final state"):
        F.Fsa(final_out)
    with pytest.raises(ValueError, match="int32"):
        F.Fsa(torch.zeros(2, 4))


def test_cyclic_input_to_acyclic_algorithms_raises_a_value_error():
    cyclic = F.create_fsa_vec([F.Fsa.from_str("0 1 1 0\n1 1 2 0\n1 2 -1 0\n2")])
    for fn in (lambda f: f.get_tot_scores(True, True),
               lambda f: F.shortest_path(f, True),
               lambda f: F.random_paths(f, True, 2),
               F.top_sort):
        with pytest.raises(ValueError, match="cycle"):
            fn(cyclic)


def test_fsa_indexing_to_device_and_attribute_errors():
    vec = F.create_fsa_vec([F.Fsa.from_str(CHECK_FSA), F.Fsa.from_str("0 1 -1 2\n1")])
    assert vec[1].scores.tolist() == [2.0]
    assert vec.to("cpu") is vec
    with pytest.raises(IndexError):
        vec[2]
    with pytest.raises(ValueError, match="entries"):
        vec.foo = torch.zeros(3)
    assert list(itertools.islice(vec.named_tensor_attr(), 1))[0][0] == "scores"


def test_load_fsa_reads_a_saved_fsa_vec_with_ragged_aux_labels(tmp_path):
    vec = RandomVec(random.Random(6), num_fsas=4).build(F, aux="ragged")
    torch.save(vec.as_dict(), tmp_path / "vec.pt")
    back = F.load_fsa(tmp_path / "vec.pt")
    assert back.shape == vec.shape
    assert torch.equal(back.arcs.values(), vec.arcs.values())
    assert back.aux_labels.tolist() == vec.aux_labels.tolist()
    assert torch.equal(back.extra_float, vec.extra_float)
    with pytest.raises(ValueError, match="no 'arcs' key"):
        torch.save({"x": 1}, tmp_path / "bad.pt")
        F.load_fsa(tmp_path / "bad.pt")
