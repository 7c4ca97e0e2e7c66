#!/usr/bin/env python3
"""Convert an ARPA LM into G (OpenFst text) with kaldilm, '#0' on the backoff arcs.

The tool is :mod:`icefall_lite.lang.tools.arpa_to_g`, installed as the console script
``icefall-lite-arpa-to-g``; this file runs it from a checkout.
"""

from icefall_lite.lang.tools.arpa_to_g import cli, get_parser, main

__all__ = ["cli", "get_parser", "main"]

if __name__ == "__main__":
    cli()
