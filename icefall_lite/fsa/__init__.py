"""Built-in FSA core: k2's FSAs, ragged tensors and lattice algorithms in pure PyTorch.

These are the names :mod:`icefall_lite.k2` exposes when real k2 is missing; semantics,
signatures and output order follow k2 1.23.4 (see ``docs/design/algorithms.rst`` §1-2).

Modules: :mod:`.ragged` (RaggedShape/RaggedTensor and ``ragged`` functions), :mod:`.fsa`
(the Fsa class, ``create_fsa_vec``), :mod:`.text` (``from_str``, ``to_str_simple``, OpenFst /
kaldifst conversion), :mod:`.ops` (arc_sort, top_sort, connect, invert, ...), :mod:`.paths`
(forward/total scores, shortest_path, random_paths), :mod:`.intersection`, :mod:`.levenshtein`,
:mod:`.dot` (Graphviz), :mod:`.ctc` (CTC topologies and graphs, linear FSTs), :mod:`.dense`
(``DenseFsaVec``), :mod:`.intersect_dense` (``intersect_dense``, ``intersect_dense_pruned``),
:mod:`.ctc_loss`, :mod:`.compose`, :mod:`.algorithms` (union, cat, closure, reverse,
prune_on_arc_post, index_add), :mod:`.rmepsilon`, :mod:`.determinize` (with
:mod:`.ragged_arc_map`), :mod:`.backward_grads`.

Fast construction from batched tensors (no loops, no text), e.g. for lattices::

    Fsa.from_fsa_vec_parts(row_splits1, row_splits2, arcs, scores, aux_labels=aux)

``row_splits1`` ``[num_fsas + 1]`` gives each FSA's states, ``row_splits2``
``[num_states + 1]`` each state's arcs, ``arcs`` int ``[num_arcs, 3]`` holds
``(src, dest, label)`` with states numbered within each FSA (arcs sorted by source state,
the last state of each FSA final, arcs entering it labelled -1), and ``scores`` float32
``[num_arcs]`` keeps its autograd graph. Pass ``check=True`` to validate.

Example::

    >>> from icefall_lite.fsa import Fsa, create_fsa_vec, shortest_path
    >>> fsa = Fsa.from_str("0 1 3 0.5\\n0 1 4 0.7\\n1 2 -1 0\\n2")
    >>> shortest_path(create_fsa_vec([fsa]), use_double_scores=True).labels
    tensor([ 4, -1], dtype=torch.int32)
"""

from icefall_lite.fsa import ragged
from icefall_lite.fsa.algorithms import (
    cat,
    closure,
    index_add,
    prune_on_arc_post,
    reverse,
    union,
)
from icefall_lite.fsa.compose import compose
from icefall_lite.fsa.ctc import ctc_graph, ctc_topo, linear_fst, linear_fst_with_self_loops
from icefall_lite.fsa.ctc_loss import CtcLoss, ctc_loss
from icefall_lite.fsa.dense import DenseFsaVec
from icefall_lite.fsa.determinize import DeterminizeWeightPushingType, determinize
from icefall_lite.fsa.dot import draw, to_dot
from icefall_lite.fsa.fsa import Fsa, RaggedArc, create_fsa_vec, load_fsa
from icefall_lite.fsa.intersect_dense import intersect_dense, intersect_dense_pruned
from icefall_lite.fsa.intersection import intersect, intersect_device
from icefall_lite.fsa.levenshtein import levenshtein_alignment, levenshtein_graph
from icefall_lite.fsa.nbest import Nbest
from icefall_lite.fsa.ops import (
    add_epsilon_self_loops,
    arc_sort,
    connect,
    expand_ragged_attributes,
    index_fsa,
    index_select,
    invert,
    linear_fsa,
    linear_fsa_with_self_loops,
    remove_epsilon_self_loops,
    top_sort,
    trivial_graph,
)
from icefall_lite.fsa.paths import random_paths, shortest_path
from icefall_lite.fsa.ragged import RaggedShape, RaggedTensor
from icefall_lite.fsa.rmepsilon import remove_epsilon, remove_epsilon_and_add_self_loops
from icefall_lite.fsa.symbol_table import SymbolTable
from icefall_lite.fsa.text import from_kaldifst, from_openfst, to_str_simple

__all__ = [
    "CtcLoss", "DenseFsaVec", "compose", "ctc_graph", "ctc_loss", "ctc_topo", "intersect_dense",
    "intersect_dense_pruned", "linear_fst", "linear_fst_with_self_loops",
    "Fsa", "RaggedArc", "RaggedShape", "RaggedTensor", "add_epsilon_self_loops", "arc_sort",
    "connect", "create_fsa_vec", "draw", "expand_ragged_attributes", "from_kaldifst",
    "from_openfst", "index_fsa", "index_select", "intersect", "intersect_device", "invert",
    "levenshtein_alignment", "levenshtein_graph", "linear_fsa", "linear_fsa_with_self_loops",
    "load_fsa",
    "random_paths", "ragged", "remove_epsilon_self_loops", "shortest_path", "to_dot",
    "to_str_simple", "top_sort", "trivial_graph",
    "Nbest", "SymbolTable",
    "DeterminizeWeightPushingType", "cat", "closure", "determinize", "index_add",
    "prune_on_arc_post", "remove_epsilon", "remove_epsilon_and_add_self_loops", "reverse",
    "union",
]
