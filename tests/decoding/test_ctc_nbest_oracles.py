"""The lattice decoding and rescoring functions against brute force on tiny random lattices
(labels tokens, aux_labels words, lm_scores): every path is enumerated, with its AM score
(scores - lm_scores), LM score and word sequence, and G's score of a word sequence is read by
walking the deterministic G. With ``nbest_scale=0`` and many paths the sampling covers every
path, so the n-best methods must pick the brute-force optimum:

- nbest: the words of the best path;
- nbest-rescoring: argmax over word sequences w of am(best path of w) / s + G(w);
- whole-lattice-rescoring: argmax over paths p of am(p) / s + G(words(p));
- nbest-oracle: a word sequence of the lattice at the smallest edit distance (kaldialign);
- Nbest.intersect: every word sequence once, with the total, AM and LM scores of its best path.
"""

from __future__ import annotations

import random

import kaldialign
import pytest
import torch
from ctc_graphs import random_word_lm_text

from icefall_lite import k2
from icefall_lite.decoding import rescore
from icefall_lite.decoding.ctc import ctc_decode, ctc_decode_keyed, prepare_G
from icefall_lite.decoding.lattice import get_texts
from icefall_lite.decoding.nbest_ctc import Nbest
from tests.fsa.helpers import arcs_to_text, random_acyclic_arcs, random_aux

SCALES = [0.2, 1.0, 3.0]
FULL = dict(num_paths=3000, nbest_scale=0.0)  # uniform sampling: every path is drawn


def enumerate_paths(arcs: list, num_states: int) -> list[list[int]]:
    """Every successful path (arc indexes) from state 0 to the final state."""
    out_arcs: dict[int, list[int]] = {}
    for i, (s, _, _, _) in enumerate(arcs):
        out_arcs.setdefault(s, []).append(i)
    paths, stack = [], [(0, [])]
    while stack:
        state, path = stack.pop()
        if state == num_states - 1:
            paths.append(path)
            continue
        for i in out_arcs.get(state, []):
            stack.append((arcs[i][1], path + [i]))
    return paths


class Case:
    """A random lattice (one FSA, twice in the vec: two utterances) with its paths."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        for _ in range(200):
            arcs, n = random_acyclic_arcs(rng, max_states=7, max_label=3, max_out=3)
            aux = random_aux(rng, arcs, max_word=4)
            paths = enumerate_paths(arcs, n)
            words = {tuple(aux[i] for i in p if aux[i] > 0) for p in paths}
            if 5 <= len(words) and len(paths) <= 60:
                break
        else:
            raise AssertionError("no lattice with 5+ word sequences")
        self.arcs, self.n, self.aux, self.paths = arcs, n, aux, paths
        self.lm = [round(rng.uniform(-1.0, 0.0), 4) for _ in arcs]
        self.g_text = random_word_lm_text(rng)

    def lattice(self):
        f = k2.Fsa.from_str(arcs_to_text(self.arcs, self.n))
        f.aux_labels = torch.tensor(self.aux, dtype=torch.int32)
        f.lm_scores = torch.tensor(self.lm, dtype=torch.float32)
        return k2.create_fsa_vec([f, f])

    def words(self, path: list[int]) -> tuple[int, ...]:
        return tuple(self.aux[i] for i in path if self.aux[i] > 0)

    def am(self, path: list[int]) -> float:
        return sum(self.arcs[i][3] - self.lm[i] for i in path)

    def tot(self, path: list[int]) -> float:
        return sum(self.arcs[i][3] for i in path)

    def g_score(self, words: tuple[int, ...]) -> float:
        """Score of ``words`` in the deterministic G (one arc per word per state)."""
        lines = [line.split() for line in self.g_text.splitlines()[:-1]]
        nxt = {(int(s), int(w)): (int(d), float(sc)) for s, d, w, sc in lines}
        state, score = 0, 0.0
        for w in words:
            state, sc = nxt[(state, w)]
            score += sc
        return score + nxt[(state, -1)][1]

    def G(self):
        return k2.Fsa.from_str(self.g_text, acceptor=True)


def argmax(items, key):
    ranked = sorted(items, key=key, reverse=True)
    assert key(ranked[0]) - key(ranked[1]) > 1e-4, "tie in the brute-force optimum"
    return ranked[0]


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_nbest_decoding_picks_the_best_path(seed):
    case = Case(seed)
    best = rescore.nbest_decoding(case.lattice(), FULL["num_paths"],
                                  nbest_scale=FULL["nbest_scale"])
    expected = case.words(argmax(case.paths, case.tot))
    assert get_texts(best) == [list(expected)] * 2


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_whole_lattice_rescoring_is_the_argmax_of_am_over_scale_plus_g(seed):
    case = Case(seed)
    G = k2.arc_sort(k2.add_epsilon_self_loops(k2.create_fsa_vec([case.G()])))
    G.lm_scores = G.scores.clone()
    got = rescore.rescore_with_whole_lattice(case.lattice(), G, SCALES)
    for s in SCALES:
        best = argmax(case.paths, lambda p, s=s: case.am(p) / s + case.g_score(case.words(p)))
        assert get_texts(got[f"lm_scale_{s}"]) == [list(case.words(best))] * 2, s


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_nbest_rescoring_rescores_each_word_sequence_with_g(seed):
    case = Case(seed)
    G = k2.arc_sort(k2.create_fsa_vec([case.G()]))
    got = rescore.rescore_with_n_best_list(case.lattice(), G, FULL["num_paths"], SCALES,
                                           nbest_scale=FULL["nbest_scale"])
    best_path_of: dict[tuple, list[int]] = {}
    for p in case.paths:
        w = case.words(p)
        if w not in best_path_of or case.tot(p) > case.tot(best_path_of[w]):
            best_path_of[w] = p
    for s in SCALES:
        best = argmax(best_path_of, lambda w, s=s: case.am(best_path_of[w]) / s + case.g_score(w))
        assert get_texts(got[f"lm_scale_{s}"]) == [list(best)] * 2, s


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_nbest_oracle_finds_the_closest_word_sequence(seed):
    case = Case(seed)
    rng = random.Random(seed)
    names = ["<eps>", "a", "b", "c", "d", "<UNK>"]
    table = k2.SymbolTable.from_str("\n".join(f"{w} {i}" for i, w in enumerate(names)))
    refs = [[rng.randint(1, 4) for _ in range(rng.randint(0, 4))] for _ in range(2)]
    texts = [" ".join(names[i] for i in r) for r in refs]
    best = rescore.nbest_oracle(case.lattice(), FULL["num_paths"], texts, table,
                                nbest_scale=FULL["nbest_scale"])
    for ref, hyp in zip(refs, get_texts(best)):
        distances = [kaldialign.edit_distance(ref, list(case.words(p)))["total"]
                     for p in case.paths]
        assert tuple(hyp) in {case.words(p) for p in case.paths}
        assert kaldialign.edit_distance(ref, hyp)["total"] == min(distances)


def test_oov_words_map_to_the_oov_id():
    table = k2.SymbolTable.from_str("<eps> 0\na 1\n<UNK> 2")
    assert rescore.word_ids_of(["a zz a", ""], table) == [[1, 2, 1], []]
    with pytest.raises(ValueError, match="OOV word '<unk>'"):
        rescore.word_ids_of(["a"], table, oov="<unk>")


def test_ctc_methods_name_what_they_miss():
    torch.manual_seed(0)
    out = torch.randn(1, 4, 3).log_softmax(-1)
    lens = torch.tensor([4])
    graph = k2.ctc_topo(2)
    for method in ("nbest", "nbest-oracle", "whole-lattice-rescoring"):
        with pytest.raises(ValueError, match="needs the HLG graph"):
            ctc_decode(method, out, lens)
    with pytest.raises(ValueError, match="needs the rescoring LM G"):
        ctc_decode("nbest-rescoring", out, lens, graph=graph)
    with pytest.raises(ValueError, match="needs ref_texts and word_table"):
        ctc_decode("nbest-oracle", out, lens, graph=graph)
    G = k2.Fsa.from_str("0 0 1 -0.5\n0 0 2 -0.7\n0 1 -1 0\n1", acceptor=True)
    with pytest.raises(ValueError, match="3 results.*ctc_decode_keyed"):
        ctc_decode("whole-lattice-rescoring", out, lens, graph=graph, G=G,
                   lm_scale_list=[0.5, 1.0, 2.0])
    keyed = ctc_decode_keyed("whole-lattice-rescoring", out, lens, graph=graph, G=G)
    assert list(keyed) == [f"lm_scale_{s}" for s in rescore.DEFAULT_LM_SCALE]
    one = ctc_decode("whole-lattice-rescoring", out, lens, graph=graph, G=G, lm_scale_list=[1.0])
    assert one == keyed["lm_scale_1.0"]


def test_prepare_g_as_icefall_and_a_prepared_g_is_used_as_given():
    G = k2.Fsa.from_str("0 1 2 -0.5\n0 0 1 -0.7\n1 2 -1 -0.1\n2", acceptor=True)
    whole = prepare_G(G, "whole-lattice-rescoring")
    arcs = whole.arcs.values()[:, :3].tolist()
    assert whole.shape[0] == 1 and [0, 0, 0] in arcs and [1, 1, 0] in arcs
    assert torch.equal(whole.lm_scores, whole.scores)
    nbest = prepare_G(G, "nbest-rescoring")
    assert all(lab != 0 for _, _, lab in nbest.arcs.values()[:, :3].tolist())
    with pytest.raises(ValueError, match="acceptor"):
        prepare_G(k2.ctc_topo(2), "nbest-rescoring")
    torch.manual_seed(1)
    out, lens = torch.randn(2, 5, 3).mul(2).log_softmax(-1), torch.tensor([5, 3])
    for method in ("nbest-rescoring", "whole-lattice-rescoring"):
        args = dict(graph=k2.ctc_topo(2), lm_scale_list=[0.5, 2.0])
        raw = ctc_decode_keyed(method, out, lens, G=G, **args)
        assert raw == ctc_decode_keyed(method, out, lens, G=prepare_G(G, method), **args)


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_intersected_nbest_scores_are_those_of_each_sequences_best_path(seed):
    case = Case(seed)
    nbest = Nbest.from_lattice(case.lattice(), FULL["num_paths"],
                               nbest_scale=FULL["nbest_scale"])
    assert nbest.tot_scores().values.abs().max() == 0  # no scores before the intersection
    nbest = nbest.intersect(case.lattice())
    best_path_of: dict[tuple, list[int]] = {}
    for p in case.paths:
        w = case.words(p)
        if w not in best_path_of or case.tot(p) > case.tot(best_path_of[w]):
            best_path_of[w] = p
    words = [tuple(w) for w in get_texts(nbest.fsa)]
    assert sorted(words[:len(words) // 2]) == sorted(best_path_of)  # every sequence, once
    tot, am, lm = (r.values.tolist() for r in (nbest.tot_scores(), nbest.compute_am_scores(),
                                                nbest.compute_lm_scores()))
    for i, w in enumerate(words):
        p = best_path_of[w]
        assert tot[i] == pytest.approx(case.tot(p), abs=1e-4)
        assert am[i] == pytest.approx(case.am(p), abs=1e-4)
        assert lm[i] == pytest.approx(sum(case.lm[j] for j in p), abs=1e-4)
