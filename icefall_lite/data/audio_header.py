"""The length an audio file's header declares, read from the header bytes themselves.

A file cut short still opens: libsndfile reports the samples that are there, so a manifest built
from that read agrees with itself and a 16,000-sample utterance cut to 988 samples becomes a
0.06 s cut carrying the whole transcript. The header is an independent witness:

- NIST SPHERE (``.sph``): the ``sample_count`` field (samples per channel) of the text header,
  and for PCM the bytes after the header (``channel_count * sample_n_bytes`` per sample).
- WAV (RIFF): the size of the ``data`` chunk over the block size of the ``"fmt "`` chunk.
- FLAC: the total sample count of STREAMINFO as soundfile reports it (0 there means "unknown").

Example::

    >>> import pathlib, tempfile
    >>> import numpy as np, soundfile as sf
    >>> wav = pathlib.Path(tempfile.mkdtemp()) / "a.wav"
    >>> sf.write(wav, np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    >>> length = declared_length(wav)  # from the header's data-chunk size, not from decoding
    >>> length.num_samples, length.stored_samples
    (16000, 16000)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_NIST_MAGIC = b"NIST_1A\n"
# WAVE format tags whose data chunk is one block per sample frame.
_PCM_LIKE_WAV_FORMATS = {1, 3, 6, 7, 0xFFFE}
# RIFF writers that stream (size unknown when the header was written) put these in the size.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF}


class AudioHeaderError(ValueError):
    """A header that cannot be parsed: the file is not what its name says, or is damaged."""


@dataclass(frozen=True)
class DeclaredLength:
    """What a header says about a file's length.

    Attributes:
        num_samples: samples per channel the header declares.
        stored_samples: samples per channel the bytes after the header can hold (uncompressed
            formats), or None when that cannot be known without decoding.
    """

    num_samples: int
    stored_samples: int | None

    @property
    def cut_short(self) -> bool:
        return self.stored_samples is not None and self.stored_samples < self.num_samples


def declared_length(path: Path) -> DeclaredLength | None:
    """The declared length of a ``.sph``, ``.wav`` or ``.flac`` file; None when its format or
    header states none (another format, a streamed WAV, a FLAC without a total).

    Raises:
        AudioHeaderError: the header of a SPHERE or WAV file is malformed.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head.startswith(_NIST_MAGIC[:4]):
            return _nist_length(path)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _wav_length(path)
    if path.suffix.lower() == ".sph":
        raise AudioHeaderError("not a NIST SPHERE file (no NIST_1A header)")
    if path.suffix.lower() == ".wav":
        raise AudioHeaderError("not a RIFF/WAVE file")
    if path.suffix.lower() == ".flac":
        return _flac_length(path)
    return None


def _nist_length(path: Path) -> DeclaredLength:
    """``sample_count`` of a SPHERE header: ``NIST_1A\\n``, the header size, ``name -type value``
    lines, ``end_head``."""
    with open(path, "rb") as f:
        if f.read(8) != _NIST_MAGIC:
            raise AudioHeaderError("not a NIST SPHERE file (no NIST_1A header)")
        size_line = f.readline(16).strip()
        if not size_line.isdigit() or int(size_line) < 16:
            raise AudioHeaderError(f"bad SPHERE header size {size_line!r}")
        header_size = int(size_line)
        text = f.read(header_size - f.tell())
    fields: dict[str, str] = {}
    for raw in text.split(b"\n"):
        parts = raw.decode("ascii", errors="replace").split(None, 2)
        if parts and parts[0] == "end_head":
            break
        if len(parts) == 3:
            fields[parts[0]] = parts[2].strip()
    else:
        raise AudioHeaderError(f"SPHERE header has no end_head within its {header_size} bytes")
    count = _int_field(fields, "sample_count")
    channels = _int_field(fields, "channel_count", default=1)
    width = _int_field(fields, "sample_n_bytes", default=2)
    coding = fields.get("sample_coding", "pcm")
    stored = None
    if coding in ("pcm", "ulaw", "alaw") and channels > 0 and width > 0:
        stored = (path.stat().st_size - header_size) // (channels * width)
    return DeclaredLength(count, stored)


def _int_field(fields: dict[str, str], name: str, default: int | None = None) -> int:
    if name not in fields:
        if default is None:
            raise AudioHeaderError(f"SPHERE header has no {name} field")
        return default
    value = fields[name]
    if not value.isdigit():
        raise AudioHeaderError(f"SPHERE header field {name} is {value!r}, not a count")
    return int(value)


def _wav_length(path: Path) -> DeclaredLength | None:
    """Walk the RIFF chunks up to ``data``; its size over ``fmt ``'s block align."""
    file_size = path.stat().st_size
    block_align = format_tag = None
    with open(path, "rb") as f:
        f.seek(12)
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise AudioHeaderError("WAV file has no data chunk")
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                fmt = f.read(size)
                if len(fmt) < 16:
                    raise AudioHeaderError(f"WAV fmt chunk of {len(fmt)} bytes (needs 16)")
                format_tag, _, _, _, block_align, _ = struct.unpack("<HHIIHH", fmt[:16])
                f.seek(size % 2, 1)
            elif chunk_id == b"data":
                if block_align is None:
                    raise AudioHeaderError("WAV data chunk before its fmt chunk")
                if format_tag not in _PCM_LIKE_WAV_FORMATS or size in _UNKNOWN_SIZES:
                    return None
                if block_align == 0:
                    raise AudioHeaderError("WAV fmt chunk with block align 0")
                stored = (file_size - f.tell()) // block_align
                return DeclaredLength(size // block_align, stored)
            else:
                f.seek(size + size % 2, 1)


def _flac_length(path: Path) -> DeclaredLength | None:
    import soundfile  # noqa: PLC0415

    try:
        frames = soundfile.info(str(path)).frames
    except RuntimeError as error:
        raise AudioHeaderError(f"unreadable FLAC header: {error}") from error
    return DeclaredLength(frames, None) if frames > 0 else None
