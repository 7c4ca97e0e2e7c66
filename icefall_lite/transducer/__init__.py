"""Transducer (RNN-T) training and decoding pieces: the mutual-information recursion, the
simple/smoothed/pruned/full RNN-T losses (``rnnt_loss``) and k2-style decoding streams.

Submodules are imported on demand (through :mod:`icefall_lite.k2`), never from here, so that each
stays independent of the others.
"""
