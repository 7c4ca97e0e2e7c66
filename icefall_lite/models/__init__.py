"""Zipformer transducer models: the Zipformer2 encoder (non-streaming and causal/chunked with a
streaming forward), the stateless decoder, the joiner, the transducer :class:`AsrModel`, its
typed configuration and export (``icefall_lite.models.export``).

Example::

    >>> from icefall_lite.models import build_model, tiny_config
    >>> model = build_model(tiny_config(vocab_size=100))
    >>> 2_000_000 < sum(p.numel() for p in model.parameters()) < 3_500_000
    True
"""

from icefall_lite.models.asr_model import AsrModel, build_model
from icefall_lite.models.config import ZipformerConfig, normal_config, tiny_config
from icefall_lite.models.decoder import Decoder
from icefall_lite.models.encoder_model import EncoderModel, StreamingEncoderModel
from icefall_lite.models.joiner import Joiner
from icefall_lite.models.subsampling import Conv2dSubsampling
from icefall_lite.models.zipformer import Zipformer2

__all__ = [
    "AsrModel",
    "Conv2dSubsampling",
    "Decoder",
    "EncoderModel",
    "Joiner",
    "StreamingEncoderModel",
    "Zipformer2",
    "ZipformerConfig",
    "build_model",
    "normal_config",
    "tiny_config",
]
