"""The server's message protocol (see docs/server.rst): parsing and checking what clients send.

A client sends one JSON *start* message, binary PCM chunks, then one JSON *end* message::

    {"type": "start", "sample_rate": 16000, "format": "float32",
     "method": "greedy_search", "options": {"blank_penalty": 1.0}}
    <binary: little-endian float32 (or int16) samples, mono, any number per message>
    {"type": "end"}

Anything else is a :class:`ProtocolError` whose message is the reason sent to the client.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

SAMPLE_FORMATS = {"float32": np.dtype("<f4"), "int16": np.dtype("<i2")}
#: Close codes (RFC 6455): policy violation, unsupported data, try again later.
CLOSE_POLICY, CLOSE_UNSUPPORTED, CLOSE_BUSY = 1008, 1003, 1013
MAX_SAMPLE_RATE = 384000


class ProtocolError(ValueError):
    """A client broke the protocol; ``str(error)`` is the reason sent back (close code
    ``code``)."""

    def __init__(self, reason: str, code: int = CLOSE_POLICY) -> None:
        super().__init__(reason)
        self.code = code


@dataclasses.dataclass
class StartMessage:
    sample_rate: int
    format: str
    method: str | None
    options: dict[str, Any]


def parse_json(message: str | bytes, expected: str) -> dict[str, Any]:
    """A text message holding a JSON object whose ``type`` is ``expected``."""
    if not isinstance(message, str):
        raise ProtocolError(f"expected a JSON {expected!r} message, got {len(message)} bytes of "
                            "binary data")
    try:
        data = json.loads(message)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"malformed JSON message: {e}") from e
    if not isinstance(data, dict) or data.get("type") != expected:
        raise ProtocolError(f"expected a JSON object with \"type\": \"{expected}\", got "
                            f"{message[:100]!r}")
    return data


def parse_start(message: str | bytes) -> StartMessage:
    data = parse_json(message, "start")
    unknown = set(data) - {"type", "sample_rate", "format", "method", "options"}
    if unknown:
        raise ProtocolError(f"start message: unknown fields {sorted(unknown)}")
    rate = data.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 < rate <= MAX_SAMPLE_RATE:
        raise ProtocolError(f"start message: sample_rate must be an integer in "
                            f"1..{MAX_SAMPLE_RATE}, got {rate!r}", CLOSE_UNSUPPORTED)
    fmt = data.get("format", "float32")
    if fmt not in SAMPLE_FORMATS:
        raise ProtocolError(f"start message: format must be one of {sorted(SAMPLE_FORMATS)}, "
                            f"got {fmt!r}", CLOSE_UNSUPPORTED)
    method = data.get("method")
    if method is not None and not isinstance(method, str):
        raise ProtocolError(f"start message: method must be a string, got {method!r}")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ProtocolError(f"start message: options must be an object, got {options!r}")
    return StartMessage(rate, fmt, method, options)


def decode_samples(message: bytes, fmt: str) -> np.ndarray:
    """float32 samples in [-1, 1] from a binary chunk."""
    dtype = SAMPLE_FORMATS[fmt]
    if len(message) % dtype.itemsize:
        raise ProtocolError(f"binary chunk of {len(message)} bytes is not a whole number of "
                            f"{fmt} samples", CLOSE_UNSUPPORTED)
    samples = np.frombuffer(message, dtype=dtype)
    if fmt == "int16":
        return samples.astype(np.float32) / 32768.0
    samples = samples.astype(np.float32)
    if not np.isfinite(samples).all():
        raise ProtocolError("binary chunk holds NaN or infinite float32 samples",
                            CLOSE_UNSUPPORTED)
    return samples


def encode(message: dict[str, Any]) -> str:
    """A server message as JSON (floats as they are; NaN is never produced)."""
    return json.dumps(message, allow_nan=False)
