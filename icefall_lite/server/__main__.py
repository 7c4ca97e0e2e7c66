"""``python -m icefall_lite.server``: see :mod:`icefall_lite.server.server`."""

from icefall_lite.server.server import main

main(prog="python -m icefall_lite.server")
