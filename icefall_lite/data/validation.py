"""Checks on recordings and supervisions before any features are computed.

Every problem is reported through :class:`DataIssues`, which either raises at once
(``on_error="raise"``: a :class:`ManifestError` naming the file and the problem) or logs a
warning, drops the utterance and counts it (``on_error="skip"``; :meth:`DataIssues.log_summary`
prints the count per problem at the end).

Usage, with lhotse ``recordings`` and ``supervisions`` of a corpus::

    from icefall_lite.data.validation import DataIssues, validate_manifests
    issues = DataIssues(on_error="skip")
    recordings, supervisions = validate_manifests(
        recordings, supervisions, sampling_rate=16000, issues=issues)
    issues.log_summary(total=len(supervisions))
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import soundfile
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from icefall_lite.data.audio_header import AudioHeaderError, declared_length

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]

# Segment ends may pass the audio's end by a rounding error (lhotse's own tolerance is similar).
_LENGTH_TOLERANCE_S = 0.025


class ManifestError(ValueError):
    """Bad corpus input: a missing, unreadable or truncated file, a wrong sample rate, an empty
    transcript, an undecodable line."""


class DataIssues:
    """Collects bad-input problems: raise on the first one, or skip and count them.

    Args:
        on_error: ``"raise"`` stops at the first problem, ``"skip"`` logs it and goes on.
    """

    def __init__(self, on_error: OnError = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.counts: Counter[str] = Counter()
        self.skipped_ids: list[str] = []

    def flag(
        self, problem: str, utterance_id: str | None, where: str, detail: str = ""
    ) -> None:
        """Report ``problem`` (a short category, e.g. ``"missing audio"``) for one utterance.

        ``where`` is the file, or ``file:line`` (:func:`at_line`) for a problem in a text file;
        ``utterance_id`` is None when the problem hides it (an undecodable line).
        """
        message = f"{problem}: {where}"
        if utterance_id is not None:
            message += f" (utterance {utterance_id})"
        if detail:
            message += f": {detail}"
        if self.on_error == "raise":
            raise ManifestError(message)
        logger.warning("skipping %s", message)
        self.counts[problem] += 1
        self.skipped_ids.append(utterance_id or where)

    @property
    def num_skipped(self) -> int:
        return sum(self.counts.values())

    def log_summary(self, total: int, what: str = "utterances") -> None:
        """Log how many of ``total`` items were skipped, per problem."""
        if not self.counts:
            logger.info("all %d %s passed validation", total, what)
            return
        per_problem = ", ".join(f"{p}: {n}" for p, n in sorted(self.counts.items()))
        logger.warning("skipped %d of %d %s (%s)", self.num_skipped, total, what, per_problem)


def at_line(path: str | Path, line: int) -> str:
    """``path:line``, the ``where`` of a problem on one line of a text file."""
    return f"{path}:{line}"


def audio_path(recording: Recording) -> str:
    """The file (or command/url) behind a recording, for error messages."""
    return " ".join(str(s.source) for s in recording.sources)


def recording_from_file(path: Path, recording_id: str, issues: DataIssues) -> Recording | None:
    """:meth:`lhotse.Recording.from_file`; missing or unreadable files go to ``issues``."""
    if not path.is_file():
        issues.flag("missing audio", recording_id, str(path), "no such file")
        return None
    try:
        return Recording.from_file(path, recording_id=recording_id)
    except Exception as error:  # lhotse wraps every backend's failure differently
        issues.flag("unreadable audio", recording_id, str(path), _first_line(error))
        return None


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _check_recording(
    recording: Recording, sampling_rate: int | None, decode_audio: bool, issues: DataIssues
) -> bool:
    where = audio_path(recording)
    if sampling_rate is not None and recording.sampling_rate != sampling_rate:
        issues.flag(
            "wrong sample rate", recording.id, where,
            f"{recording.sampling_rate} Hz, expected {sampling_rate} Hz",
        )
        return False
    if recording.duration <= 0:
        issues.flag("empty audio", recording.id, where, f"duration {recording.duration} s")
        return False
    files = [Path(s.source) for s in recording.sources if s.type == "file"]
    for path in files:
        if not _check_declared_length(path, recording, decode_audio, issues):
            return False
    if decode_audio and not files:
        try:
            recording.load_audio()
        except Exception as error:
            issues.flag("unreadable audio", recording.id, where, _first_line(error))
            return False
    return True


def _check_declared_length(
    path: Path, recording: Recording, decode_audio: bool, issues: DataIssues
) -> bool:
    """The header's sample count against the bytes stored, the manifest and (``decode_audio``)
    the samples libsndfile decodes. The header is read independently of libsndfile, which
    reports what is there and so agrees with a manifest built from the same read."""
    if not path.is_file():
        issues.flag("missing audio", recording.id, str(path), "no such file")
        return False
    try:
        declared = declared_length(path)
    except (OSError, AudioHeaderError) as error:
        issues.flag("bad audio header", recording.id, str(path), _first_line(error))
        return False
    if declared is not None and declared.cut_short:
        issues.flag("truncated audio", recording.id, str(path),
                    f"header declares {declared.num_samples} samples, the file holds "
                    f"{declared.stored_samples}")
        return False
    expected = declared.num_samples if declared is not None else recording.num_samples
    counts = [("the manifest has", recording.num_samples)]
    if decode_audio:
        try:
            counts.append(("decoding gives", decoded_num_samples(path)))
        except Exception as error:  # libsndfile's errors are RuntimeError or LibsndfileError
            issues.flag("unreadable audio", recording.id, str(path),
                        f"decoding failed: {_first_line(error)}")
            return False
    for what, count in counts:
        if count != expected:
            problem = "truncated audio" if count < expected else "audio length mismatch"
            source = "header declares" if declared is not None else "manifest has"
            issues.flag(problem, recording.id, str(path),
                        f"{source} {expected} samples, {what} {count}")
            return False
    return True


def decoded_num_samples(path: Path, block_frames: int = 1 << 16) -> int:
    """Samples per channel libsndfile decodes from ``path``, block by block (bounded memory)."""
    with soundfile.SoundFile(str(path)) as f:
        return sum(len(block) for block in f.blocks(blocksize=block_frames))


def _check_supervision(
    supervision: SupervisionSegment, recording: Recording | None, issues: DataIssues
) -> bool:
    if recording is None:
        issues.flag(
            "no recording", supervision.id, f"recording {supervision.recording_id}",
            "supervision refers to a recording that is missing or was dropped",
        )
        return False
    where = audio_path(recording)
    if not (supervision.text or "").strip():
        issues.flag("empty transcript", supervision.id, where)
        return False
    if supervision.duration <= 0 or supervision.start < 0:
        issues.flag(
            "bad segment", supervision.id, where,
            f"start {supervision.start} s, duration {supervision.duration} s",
        )
        return False
    if supervision.end > recording.duration + _LENGTH_TOLERANCE_S:
        issues.flag(
            "bad segment", supervision.id, where,
            f"ends at {supervision.end:.3f} s after the audio ({recording.duration:.3f} s)",
        )
        return False
    return True


def validate_manifests(
    recordings: RecordingSet | Iterable[Recording],
    supervisions: SupervisionSet | Iterable[SupervisionSegment],
    *,
    sampling_rate: int | None,
    issues: DataIssues,
    decode_audio: bool = True,
) -> tuple[RecordingSet, SupervisionSet]:
    """Check recordings and their supervisions; return the ones that pass.

    Checks: the sample rate equals ``sampling_rate`` (``None``: any), durations are positive,
    the sample count a file's header declares (:mod:`~icefall_lite.data.audio_header`) is what
    the file stores, what the manifest says and (``decode_audio``) what decodes, every
    transcript is non-empty and every segment lies inside its recording. A recording with no
    supervision left is dropped too.
    """
    good_recordings: dict[str, Recording] = {}
    dropped: set[str] = set()
    for r in recordings:
        if _check_recording(r, sampling_rate, decode_audio, issues):
            good_recordings[r.id] = r
        else:
            dropped.add(r.id)
    # Supervisions of a dropped recording were already counted with it.
    good_supervisions = [
        s
        for s in supervisions
        if s.recording_id not in dropped
        and _check_supervision(s, good_recordings.get(s.recording_id), issues)
    ]
    used = {s.recording_id for s in good_supervisions}
    kept_recordings = [r for rid, r in good_recordings.items() if rid in used]
    if not good_supervisions:
        raise ManifestError("no utterance passed validation; see the warnings above")
    return RecordingSet.from_recordings(kept_recordings), SupervisionSet.from_segments(
        good_supervisions
    )
