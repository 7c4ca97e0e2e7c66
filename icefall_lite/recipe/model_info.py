"""Self-describing checkpoints: what a decoder needs to rebuild the model, stored in the file.

Every checkpoint written by training (``epoch-N.pt``, ``checkpoint-B.pt``, ``best-*.pt``) and
``pretrained.pt`` written by export.py holds, besides the weights::

    "format": 2,
    "model_config": {...every ZipformerConfig field...},
    "lang": {"vocab_size": 101, "blank_id": 0, "sil_id": 100, "tokens": ["<blk>", ...]},
    "features": {"type": "fbank", "sample_rate": 16000, "num_mel_bins": 80,
                 "frame_shift_ms": 10.0, "frame_length_ms": 25.0}

so decode.py, streaming_decode.py, export.py and pretrained.py rebuild the model from the file
and take no model flags. A model flag given on their command line is checked against the file
(a contradiction is a :class:`ModelMismatchError` naming both values); ``--chunk-size`` and
``--left-context-frames`` override the file's values for a causal model (the attention a
streaming model decodes with is a decoding choice). A file without ``model_config`` (the older
layout) is an :class:`OldCheckpointError` that says what to do.

Example::

    info = read_model_info(load_weights_only("exp/epoch-8.pt", "checkpoint"), "exp/epoch-8.pt")
    config = model_config_from(info, args, given_options(parser, argv))
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icefall_lite.models.config import ZipformerConfig
from icefall_lite.utils.config import add_dataclass_arguments

__all__ = [
    "ARCHITECTURE_FIELDS",
    "CHECKPOINT_FORMAT",
    "OVERRIDE_FIELDS",
    "ModelInfo",
    "ModelMismatchError",
    "OldCheckpointError",
    "add_model_arguments",
    "model_config_from",
    "model_description",
    "read_model_info",
]

#: Version of the checkpoint layout; 2 is the first that describes its model.
CHECKPOINT_FORMAT = 2

#: Decoding-time choices a causal model's checkpoint values may be overridden with.
OVERRIDE_FIELDS = ("chunk_size", "left_context_frames")
#: Options of training only (initialisation, regularisation): never decoding flags.
_TRAINING_ONLY = ("dropout", "ctc_blank_bias")
#: From the checkpoint (and checked against the lang dir), not flags.
_LANG_FIELDS = ("vocab_size", "blank_id")
#: Everything else defines the network: a flag may only repeat the checkpoint's value.
ARCHITECTURE_FIELDS = tuple(
    f.name for f in dataclasses.fields(ZipformerConfig)
    if f.name not in OVERRIDE_FIELDS + _TRAINING_ONLY + _LANG_FIELDS)


class OldCheckpointError(ValueError):
    """A checkpoint of the layout before checkpoints carried their model configuration."""


class ModelMismatchError(ValueError):
    """A model flag contradicts the checkpoint's configuration."""


@dataclass
class ModelInfo:
    """A checkpoint's description of its model (see the module docstring)."""

    config: ZipformerConfig
    lang: dict[str, Any]
    features: dict[str, Any]
    path: Path

    def entries(self) -> dict[str, Any]:
        """The checkpoint entries that describe the model (for writing it again)."""
        return model_description(self.config, self.lang, self.features)


def model_description(config: ZipformerConfig, lang: dict[str, Any],
                      features: dict[str, Any]) -> dict[str, Any]:
    """The entries a checkpoint holds to describe its model, in plain form."""
    return {"format": CHECKPOINT_FORMAT,
            "model_config": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in dataclasses.asdict(config).items()},
            "lang": dict(lang), "features": dict(features)}


def read_model_info(checkpoint: dict[str, Any], path: str | Path) -> ModelInfo:
    """The model description of a loaded checkpoint ``checkpoint`` (read from ``path``)."""
    path = Path(path)
    if "model_config" not in checkpoint:
        raise OldCheckpointError(
            f"{path} is a checkpoint of the older layout: it holds no model configuration, so "
            f"the model cannot be rebuilt from it. Train again with this version of "
            f"icefall_lite (its checkpoints describe their model), or decode with the version "
            f"that wrote it.")
    known = {f.name for f in dataclasses.fields(ZipformerConfig)}
    stored = checkpoint["model_config"]
    unknown = sorted(set(stored) - known)
    if unknown:
        raise ValueError(f"{path}: model_config has fields this version does not know: "
                         f"{', '.join(unknown)} (written by a newer icefall_lite?)")
    config = ZipformerConfig(**stored)
    return ModelInfo(config, dict(checkpoint.get("lang") or {}),
                     dict(checkpoint.get("features") or {}), path)


def add_model_arguments(parser: argparse.ArgumentParser, overrides: bool = True,
                        exclude: tuple[str, ...] = ()) -> None:
    """The model flags of a script that reads the model from a checkpoint: the architecture
    flags (hidden from ``--help``; each only checks the checkpoint; ``exclude``: those the
    script defines itself) and, with ``overrides``, ``--chunk-size``/``--left-context-frames``
    for a causal model."""
    add_dataclass_arguments(parser, ZipformerConfig, only=ARCHITECTURE_FIELDS, exclude=exclude,
                            unset=True, hidden=True)
    if overrides:
        group = parser.add_argument_group(
            "causal model", "the attention a causal model decodes with (default: the "
            "checkpoint's: its first training value)")
        add_dataclass_arguments(group, ZipformerConfig, only=OVERRIDE_FIELDS, unset=True)
    parser.epilog = ((parser.epilog or "") + " The model (its sizes, --causal, the vocabulary, "
                     "the features) is read from the checkpoint; a model flag such as "
                     "--encoder-dim may still be given and must then match it.").strip()


def model_config_from(info: ModelInfo, args: argparse.Namespace,
                      given: set[str]) -> ZipformerConfig:
    """The checkpoint's config, checked against the model flags in ``given`` (the options the
    command line gave: a recipe's defaults for model flags are ignored) and with the overrides
    of a causal model applied."""
    config = dataclasses.replace(info.config)
    for name in ARCHITECTURE_FIELDS:
        if name in given and getattr(args, name) != getattr(config, name):
            flag = "--" + name.replace("_", "-")
            raise ModelMismatchError(
                f"{flag} {_shown(getattr(args, name))} contradicts {info.path}, whose model has "
                f"{flag} {_shown(getattr(config, name))}; the model is read from the "
                f"checkpoint, so leave {flag} out")
    for name in OVERRIDE_FIELDS:
        value = getattr(args, name, None)
        if value is None or (name not in given and not config.causal):
            continue  # a recipe default for causal models does not apply to this one
        if not config.causal:
            raise ModelMismatchError(
                f"--{name.replace('_', '-')} applies to causal models; {info.path} holds a "
                f"non-causal one (it always attends to the whole utterance)")
        setattr(config, name, tuple(value))
    return config


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(int(value)) if isinstance(value, bool) else str(value)
