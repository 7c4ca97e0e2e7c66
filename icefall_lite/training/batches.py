"""From an icefall-style batch to the transducer's inputs, dropping utterances too short to train.

The pruned RNN-T loss needs at least as many encoder frames as tokens (docs/design/algorithms.rst
§3). An utterance whose frame count after subsampling is below its token count is dropped with a
logged warning naming the cut; :class:`ShortUtteranceFilter` does the same on cuts before batching
(``cuts.filter(...)``), counting what it removed.

Example::

    >>> zipformer_output_frames(torch.tensor([100, 7]))
    tensor([23,  0])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

TextEncoder = Callable[[list[str]], list[list[int]]]


def zipformer_output_frames(num_frames: Tensor | int) -> Tensor | int:
    """Encoder output frames of the Zipformer for ``num_frames`` input frames.

    The conv front end gives ``(T - 7) // 2`` and the output downsampling by 2 rounds up:
    ``((T - 7) // 2 + 1) // 2``.
    """
    return ((num_frames - 7) // 2 + 1) // 2


def _cut_ids(supervisions: dict[str, Any], batch_size: int) -> list[str]:
    cuts = supervisions.get("cut")
    if cuts is not None:
        return [getattr(c, "id", str(c)) for c in cuts]
    return [f"<item {i} of the batch>" for i in range(batch_size)]


@dataclass
class TransducerBatch:
    """The model's inputs for one batch.

    Attributes:
      features: ``[N, T, C]`` float features.
      feature_lens: ``[N]`` valid frames per utterance (int64).
      token_ids: ``N`` lists of token ids.
      targets: what the model takes as ``y`` (``token_ids`` unless a target maker was given).
      cut_ids: ``N`` cut ids (for messages).
      num_output_frames: total encoder frames of the batch (the loss normaliser).
    """

    features: Tensor
    feature_lens: Tensor
    token_ids: list[list[int]]
    targets: Any
    cut_ids: list[str]
    num_output_frames: int


TargetMaker = Callable[[list[list[int]]], Any]


def prepare_batch(
    batch: dict[str, Any],
    device: torch.device,
    encode: TextEncoder,
    make_targets: TargetMaker | None = None,
    output_frames: Callable[[Tensor], Tensor] = zipformer_output_frames,
) -> TransducerBatch | None:
    """Tokenise and move ``batch`` to ``device``; drop too-short utterances (warning names them).

    Args:
      batch: ``{"inputs": [N, T, C], "supervisions": {"text": [...], "num_frames": [N], "cut":
        [...]}}`` as lhotse's ``K2SpeechRecognitionDataset`` yields (one supervision per cut).
      encode: texts -> token ids (e.g. a sentencepiece model's ``encode(texts, out_type=int)``).
      make_targets: token ids -> the model's ``y`` (e.g. ``k2.RaggedTensor``); ``None`` passes the
        lists of token ids, which :class:`~icefall_lite.models.asr_model.AsrModel` takes.
      output_frames: input frames -> encoder output frames.

    Returns:
      the batch, or ``None`` if every utterance was dropped.
    """
    features = batch["inputs"]
    supervisions = batch["supervisions"]
    texts = supervisions["text"]
    feature_lens = torch.as_tensor(supervisions["num_frames"], dtype=torch.int64)
    if features.ndim != 3 or features.size(0) != len(texts) or feature_lens.numel() != len(texts):
        raise ValueError(
            f"batch: expected inputs [N, T, C] with N = len(text) = len(num_frames), got inputs "
            f"{tuple(features.shape)}, {len(texts)} texts, {feature_lens.numel()} lengths"
        )
    token_ids = encode(list(texts))
    cut_ids = _cut_ids(supervisions, len(texts))
    out_frames = output_frames(feature_lens)
    keep = [i for i, ids in enumerate(token_ids) if int(out_frames[i]) >= len(ids)]
    if len(keep) < len(texts):
        dropped = [
            f"{cut_ids[i]} ({int(out_frames[i])} frames < {len(token_ids[i])} tokens)"
            for i in range(len(texts)) if i not in keep
        ]
        logger.warning("Dropping %d utterance(s) too short for their transcripts: %s",
                       len(dropped), ", ".join(dropped))
        if not keep:
            return None
        index = torch.tensor(keep, dtype=torch.int64)
        features = features.index_select(0, index)
        feature_lens = feature_lens.index_select(0, index)
        token_ids = [token_ids[i] for i in keep]
        cut_ids = [cut_ids[i] for i in keep]
        out_frames = out_frames.index_select(0, index)
    return TransducerBatch(
        features=features.to(device),
        feature_lens=feature_lens.to(device),
        token_ids=token_ids,
        targets=token_ids if make_targets is None else make_targets(token_ids),
        cut_ids=cut_ids,
        num_output_frames=int(out_frames.sum()),
    )


class ShortUtteranceFilter:
    """A cut predicate: ``True`` when the cut has at least as many encoder frames as tokens.

    Each rejected cut is logged (warning, with its id); ``num_removed`` counts them, and
    :meth:`log_summary` reports the count. lhotse filters lazily, so the count is final only after
    the cuts have been iterated.

    Example::

        keep = ShortUtteranceFilter(lambda texts: sp.encode(texts, out_type=int))
        train_cuts = train_cuts.filter(keep)
    """

    def __init__(
        self,
        encode: TextEncoder,
        output_frames: Callable[[int], int] = zipformer_output_frames,
    ) -> None:
        self.encode = encode
        self.output_frames = output_frames
        self.num_removed = 0
        self.num_seen = 0

    def __call__(self, cut: Any) -> bool:
        self.num_seen += 1
        text = " ".join(s.text or "" for s in cut.supervisions)
        num_tokens = len(self.encode([text])[0])
        frames = int(self.output_frames(cut.num_frames))
        if frames >= num_tokens:
            return True
        self.num_removed += 1
        logger.warning(
            "Excluding cut %s: %d encoder frames < %d tokens (duration %.2f s)",
            cut.id, frames, num_tokens, cut.duration,
        )
        return False

    def log_summary(self) -> None:
        logger.info("Excluded %d of %d cuts as too short for their transcripts",
                    self.num_removed, self.num_seen)
