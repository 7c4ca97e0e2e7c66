#!/usr/bin/env python3
"""Estimate an ARPA n-gram LM with interpolated modified Kneser-Ney.

The tool is :mod:`icefall_lite.lang.tools.make_ngram`, installed as the console script
``icefall-lite-make-ngram``; this file runs it from a checkout.
"""

from icefall_lite.lang.tools.make_ngram import cli, get_parser, main

__all__ = ["cli", "get_parser", "main"]

if __name__ == "__main__":
    cli()
