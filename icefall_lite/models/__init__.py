"""Zipformer transducer models: the Zipformer2 encoder (non-streaming and causal/chunked with a
streaming forward), the stateless decoder, the joiner, the transducer :class:`AsrModel`, its
typed configuration and export (``icefall_lite.models.export``).

Differences from icefall's ``zipformer`` recipe (docs/design/zipformer.rst §12-13), all of them
training-only; the inference forward pass is icefall's:

- ScheduledFloat schedules are constants at their post-warm-up values: feed-forward and
  embed dropout ``--dropout`` (0.1, mask shared over time), positional-encoding dropout 0.15, layer
  skip ``0.035 * sqrt(ds)``, attention/conv/feed-forward skips 0 (so they are absent). The
  layer-drop warm-up, const-attention, positional-score skip, ConvNeXt layer-drop, ScaleGrad and
  the attention-score penalty are not implemented.
- Balancer and Whiten are kept as gradient-only autograd functions (identity forward) with
  constant probabilities (0.125 and 0.025); ``limit_param_value`` keeps the bypass scales in
  [0.2, 1] and BiasNorm's log-scale in [-1.5, 1.5].
- The unused ``layer.bypass_scale`` is dropped (5,760 fewer parameters in the normal model).
- Padded frames are zeroed before the front end's ConvNeXt and replaced by the last valid frame
  before each downsampling, so a padded batch gives each utterance its unpadded output.

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
