#!/usr/bin/env python3
"""Train a sentencepiece model and write ``tokens.txt`` into a lang directory.

The tool is :mod:`icefall_lite.lang.tools.prepare_bpe`, installed as the console script
``icefall-lite-prepare-bpe``; this file runs it from a checkout.
"""

from icefall_lite.lang.tools.prepare_bpe import cli, get_parser, main

__all__ = ["cli", "get_parser", "main"]

if __name__ == "__main__":
    cli()
