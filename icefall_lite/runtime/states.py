"""What chunk-wise decoding needs to know of a streaming model, whatever its kind (eager,
TorchScript, ONNX): how its states are batched, its chunk geometry and its device.

Example::

    >>> import torch
    >>> states = [torch.zeros(4, 1, 8)] * 6 + [torch.zeros(1, 2, 3, 19),
    ...                                        torch.zeros(1, dtype=torch.int64)]
    >>> [s.shape for s in stack_states([states, states])][::6]
    [torch.Size([4, 2, 8]), torch.Size([2, 2, 3, 19])]
"""

from __future__ import annotations

import torch

from icefall_lite.models.zipformer import NUM_LAYER_STATES

__all__ = ["model_device", "stack_states", "state_batch_axes", "streaming_geometry",
           "unstack_states"]


def state_batch_axes(num_states: int) -> list[int]:
    """Batch axis of each streaming state (the order of ``get_init_states``): key, non-linear
    attention and value caches carry the batch on axis 1, conv caches, the front end's cache and
    processed_lens on axis 0 (sherpa-onnx stacks them the same way)."""
    num_layer_states = num_states - 2
    return [1 if i < num_layer_states and i % NUM_LAYER_STATES < 4 else 0
            for i in range(num_states)]


def stack_states(per_stream: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """The states of single streams (batch size 1 each) as one batch."""
    axes = state_batch_axes(len(per_stream[0]))
    return [torch.cat([s[i] for s in per_stream], dim=axis) for i, axis in enumerate(axes)]


def unstack_states(states: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """A batch of states split into one list per stream (views, batch size 1)."""
    axes = state_batch_axes(len(states))
    batch_size = states[0].size(axes[0])
    return [[s.narrow(axis, n, 1) for s, axis in zip(states, axes)] for n in range(batch_size)]


def streaming_geometry(model) -> tuple[int, int]:
    """(fbank frames per chunk, look-ahead frames) of a streaming model: an eager causal
    ``AsrModel`` (``2 * chunk_size[0]``, ``7 + 2 * ConvNeXt padding``) or a runtime model
    (its ``chunk_frames`` / ``pad_length``). ValueError for a model that cannot stream."""
    if hasattr(model, "require_streaming"):
        model.require_streaming()  # a runtime model: a clear error naming a non-streaming file
    if hasattr(model, "streaming"):
        if not model.streaming:
            raise ValueError(f"{model!r} is not a streaming model (export a causal model's "
                             "streaming encoder)")
        return model.chunk_frames, model.pad_length
    encoder = model.encoder
    if not getattr(encoder, "causal", False):
        raise ValueError("streaming decoding needs a causal model (train with --causal 1)")
    return 2 * encoder.chunk_size[0], 7 + 2 * model.encoder_embed.convnext.time_padding


def model_device(model) -> torch.device:
    """The device of the model's parameters (CPU for a model without torch parameters)."""
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return torch.device("cpu")
    first = next(iter(parameters()), None)
    return torch.device("cpu") if first is None else first.device
