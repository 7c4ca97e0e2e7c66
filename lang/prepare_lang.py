#!/usr/bin/env python3
"""Write a lang directory: words.txt, tokens.txt, lexicon.txt, lexicon_disambig.txt,

The tool is :mod:`icefall_lite.lang.tools.prepare_lang`, installed as the console script
``icefall-lite-prepare-lang``; this file runs it from a checkout.
"""

from icefall_lite.lang.tools.prepare_lang import cli, get_parser, main

__all__ = ["cli", "get_parser", "main"]

if __name__ == "__main__":
    cli()
