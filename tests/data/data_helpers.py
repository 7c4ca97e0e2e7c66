"""Synthetic corpora for the data tests, built in temporary directories (never /work/shared)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class FakeUtterance:
    """One utterance of a synthetic AN4-layout corpus.

    ``audio``: ``"ok"``, ``"missing"`` (no file) or ``"corrupt"`` (random bytes). ``split``
    ``"dev"`` goes into AN4's training files (the dev split is speakers held out of them), so its
    speaker must be one of ``an4.DEV_SPEAKERS``.
    """

    utterance_id: str
    speaker: str
    split: str
    text: str
    seconds: float = 1.0
    sampling_rate: int = 16000
    audio: str = "ok"


def tone(seconds: float, sampling_rate: int, seed: int) -> np.ndarray:
    """A few sines plus noise, int16: speech-like enough for fbank, deterministic per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    freqs = rng.uniform(150, 3000, size=3)
    signal = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 3 + 0.05 * rng.standard_normal(t.size)
    return (0.5 * signal * 32767).astype(np.int16)


def make_an4_corpus(dl_dir: Path, utterances: list[FakeUtterance]) -> Path:
    """Write ``dl_dir/an4/{etc,wav}`` as the AN4 archive lays it out; return ``dl_dir/an4``."""
    root = dl_dir / "an4"
    (root / "etc").mkdir(parents=True)
    for split, wav_dir in (("train", "an4_clstk"), ("test", "an4test_clstk")):
        trans, ids = [], []
        in_files = {"train": ("train", "dev"), "test": ("test",)}[split]
        for i, utt in enumerate(u for u in utterances if u.split in in_files):
            fileid = f"{wav_dir}/{utt.speaker}/{utt.utterance_id}"
            ids.append(fileid)
            words = f"<s> {utt.text} </s>" if split == "train" else utt.text
            trans.append(f"{words} ({utt.utterance_id})".strip())
            path = root / "wav" / f"{fileid}.sph"
            path.parent.mkdir(parents=True, exist_ok=True)
            if utt.audio == "missing":
                continue
            if utt.audio == "corrupt":
                path.write_bytes(np.random.default_rng(i).bytes(3000))
                continue
            samples = tone(utt.seconds, utt.sampling_rate, seed=zlib.crc32(path.name.encode()))
            sf.write(path, samples, utt.sampling_rate, format="NIST", subtype="PCM_16")
        (root / "etc" / f"an4_{split}.transcription").write_text("\n".join(trans) + "\n")
        (root / "etc" / f"an4_{split}.fileids").write_text("\n".join(ids) + "\n")
    return root


GOOD_UTTERANCES = [
    FakeUtterance("an1-spka-b", "spka", "train", "YES", 0.8),
    FakeUtterance("an2-spka-b", "spka", "train", "NO", 1.3),
    FakeUtterance("an3-spkb-b", "spkb", "train", "A B C", 1.7),
    FakeUtterance("an4-spkb-b", "spkb", "train", "ONE TWO", 2.2),
    FakeUtterance("an5-mtje-b", "mtje", "dev", "GO", 1.1),
    FakeUtterance("an6-mtje-b", "mtje", "dev", "ERASE X", 1.9),
    FakeUtterance("an7-spkd-b", "spkd", "test", "STOP", 1.0),
    FakeUtterance("an8-spkd-b", "spkd", "test", "RUBOUT Z", 1.6),
]


def snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    """relative path → (size, mtime_ns, mode) of everything under ``directory``, hidden too."""
    return {
        str(p.relative_to(directory)): (p.lstat().st_size, p.lstat().st_mtime_ns, p.lstat().st_mode)
        for p in sorted(directory.rglob("*"))
    } | {".": (0, directory.stat().st_mtime_ns, directory.stat().st_mode)}


def nist_sphere_bytes(declared: int, samples: np.ndarray, sampling_rate: int = 16000) -> bytes:
    """A hand-built 1024-byte NIST SPHERE header declaring ``declared`` samples, then
    ``samples`` (int16, little-endian PCM): the test's own oracle for the header's count."""
    header = (
        "NIST_1A\n   1024\n"
        f"sample_count -i {declared}\n"
        f"sample_rate -i {sampling_rate}\n"
        "channel_count -i 1\n"
        "sample_n_bytes -i 2\n"
        "sample_byte_format -s2 01\n"
        "sample_coding -s3 pcm\n"
        "end_head\n"
    ).encode("ascii")
    return header.ljust(1024, b" ") + samples.astype("<i2").tobytes()


def wav_bytes(declared: int, samples: np.ndarray, sampling_rate: int = 8000,
              extra_chunk: bytes = b"") -> bytes:
    """A hand-built RIFF/WAVE file (16-bit mono PCM) whose data chunk declares ``declared``
    samples and holds ``samples``; ``extra_chunk`` (a whole chunk) goes before the data."""
    data = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, sampling_rate, 2 * sampling_rate, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk
            + b"data" + struct.pack("<I", 2 * declared) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def make_librispeech_part(dl_dir: Path, part: str, utterances: dict[str, float]) -> Path:
    """``dl_dir/LibriSpeech/<part>/<spk>/<chapter>/`` with one flac per utterance id
    (``spk-chapter-nnnn`` → seconds) and the chapter's ``trans.txt``; returns the part dir."""
    part_dir = dl_dir / "LibriSpeech" / part
    lines: dict[Path, list[str]] = {}
    for utt_id, seconds in utterances.items():
        speaker, chapter, _ = utt_id.split("-")
        chapter_dir = part_dir / speaker / chapter
        chapter_dir.mkdir(parents=True, exist_ok=True)
        sf.write(chapter_dir / f"{utt_id}.flac", tone(seconds, 16000, zlib.crc32(utt_id.encode())),
                 16000)
        lines.setdefault(chapter_dir / f"{speaker}-{chapter}.trans.txt", []).append(
            f"{utt_id} WORDS OF {utt_id.replace('-', ' ')}")
    for path, text in lines.items():
        path.write_text("\n".join(text) + "\n")
    return part_dir


SHARED_DOWNLOAD = Path(__file__).resolve().parents[3] / "shared" / "download"


def yesno_link_farm(dl_dir: Path, swap: tuple[str, str] | None = None) -> Path:
    """``dl_dir/waves_yesno`` linking to the 60 real files (each can then be replaced without
    touching the shared copy); ``swap`` exchanges the targets of two names. Returns the farm."""
    real = SHARED_DOWNLOAD / "waves_yesno"
    farm = dl_dir / "waves_yesno"
    farm.mkdir(parents=True)
    targets = {p.name: p.name for p in real.glob("*.wav")}
    if swap:
        targets[swap[0]], targets[swap[1]] = swap[1], swap[0]
    for name, target in targets.items():
        (farm / name).symlink_to(real / target)
    (farm / ".completed").touch()
    return farm
