"""What the recipes under ``egs/<corpus>/ASR/zipformer/`` share: each of their scripts holds only
its corpus defaults and calls ``main`` of the module of the same name here (``train``,
``decode``, ``streaming_decode``, ``export``, ``pretrained``)."""
