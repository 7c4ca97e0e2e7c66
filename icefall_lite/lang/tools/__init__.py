"""The command-line tools that build a lang directory (every recipe's ``prepare.sh`` calls them),
one module each, installed as console scripts: ``icefall-lite-prepare-bpe``,
``icefall-lite-prepare-lang``, ``icefall-lite-make-ngram``, ``icefall-lite-arpa-to-g``,
``icefall-lite-compile-lg``. ``lang/*.py`` in a checkout run the same code."""
