#!/usr/bin/env python3
"""Compose L and G into LG and save it as DIR/LG.pt (k2 Fsa.as_dict format: labels = token

The tool is :mod:`icefall_lite.lang.tools.compile_lg`, installed as the console script
``icefall-lite-compile-lg``; this file runs it from a checkout.
"""

from icefall_lite.lang.tools.compile_lg import cli, get_parser, main

__all__ = ["cli", "get_parser", "main"]

if __name__ == "__main__":
    cli()
