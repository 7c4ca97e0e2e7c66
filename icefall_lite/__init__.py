"""icefall_lite: FSA-based lattice decoding and transducer training in Python.

``from icefall_lite import k2`` gives a k2-compatible namespace that uses real k2 when it is
importable and the built-in pure-PyTorch implementation otherwise (see :mod:`icefall_lite.k2`).
"""

__version__ = "0.1.0"
