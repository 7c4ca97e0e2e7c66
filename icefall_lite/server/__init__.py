"""A streaming recognition websocket server for causal icefall_lite transducers.

- :mod:`~icefall_lite.server.server`: ``python -m icefall_lite.server``, the asyncio handler;
- :mod:`~icefall_lite.server.protocol`: the messages (docs/server.rst);
- :mod:`~icefall_lite.server.batcher`: dynamic batching on one worker thread;
- :mod:`~icefall_lite.server.engine`: the one adapter to the model and the searches;
- :mod:`~icefall_lite.server.features`: incremental resampling and fbank;
- :mod:`~icefall_lite.server.client`: ``python -m icefall_lite.server.client``.
"""
