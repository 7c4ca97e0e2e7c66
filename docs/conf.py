"""Sphinx configuration for icefall_lite."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
# the build-time figure and results extension (docs/_ext/fsa_figures.py)
sys.path.insert(0, os.path.abspath("_ext"))

project = "icefall_lite"
author = "icefall_lite developers"
copyright = "2026, icefall_lite developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.graphviz",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "fsa_figures",
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
graphviz_output_format = "svg"

html_theme = "furo"
html_title = "icefall_lite"
html_static_path = ["_static"]
html_css_files = ["figures.css"]
exclude_patterns = ["_build", "generated", "README.md", "**/_*.rst"]
