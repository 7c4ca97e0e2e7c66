"""The built-in backend of :mod:`icefall_lite.k2`: k2's names, implemented in pure PyTorch.

Each name is imported lazily from the module that implements it, so that importing the facade
stays cheap and a missing piece fails with a clear message naming what is absent.
"""

from __future__ import annotations

import importlib

# name -> module that defines it
SOURCES: dict[str, str] = {}

_FSA_NAMES = (
    "RaggedShape RaggedTensor ragged Fsa create_fsa_vec to_str_simple arc_sort top_sort connect "
    "invert index_fsa index_select linear_fsa linear_fsa_with_self_loops add_epsilon_self_loops "
    "trivial_graph shortest_path random_paths intersect_device intersect levenshtein_graph "
    "levenshtein_alignment to_dot remove_epsilon_self_loops union cat closure reverse index_add "
    "remove_epsilon remove_epsilon_and_add_self_loops determinize DeterminizeWeightPushingType "
    "prune_on_arc_post"
).split()
_LOSS_NAMES = (
    "mutual_information_recursion get_rnnt_logprobs rnnt_loss_simple rnnt_loss_smoothed "
    "get_rnnt_prune_ranges do_rnnt_pruning rnnt_loss_pruned rnnt_loss"
).split()
_STREAM_NAMES = "RnntDecodingConfig RnntDecodingStream RnntDecodingStreams".split()
_CTC_NAMES = (
    "ctc_topo ctc_graph linear_fst linear_fst_with_self_loops DenseFsaVec intersect_dense "
    "intersect_dense_pruned ctc_loss CtcLoss compose"
).split()

for _name in _FSA_NAMES:
    SOURCES[_name] = "icefall_lite.fsa"
for _name in _LOSS_NAMES:
    SOURCES[_name] = "icefall_lite.transducer.rnnt_loss"
for _name in _CTC_NAMES:
    SOURCES[_name] = "icefall_lite.fsa"
# added with issue #20 (k2 coverage II): symbol tables and n-best lists
for _name in ("Nbest", "SymbolTable"):
    SOURCES[_name] = "icefall_lite.fsa"
for _name in _STREAM_NAMES:
    SOURCES[_name] = "icefall_lite.transducer.decode_stream"

__all__ = sorted(SOURCES)


def __getattr__(name: str):
    module_name = SOURCES.get(name)
    if module_name is None:
        raise AttributeError(f"icefall_lite's built-in k2 backend has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
        value = getattr(module, name)
    except (ImportError, AttributeError) as e:
        raise NotImplementedError(
            f"k2.{name} is not implemented in icefall_lite's built-in backend yet "
            f"(expected in {module_name}): {e}"
        ) from e
    globals()[name] = value
    return value


def __dir__():
    return __all__
