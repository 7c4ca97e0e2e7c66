"""Per-stream audio front end of the server: sample-rate conversion and incremental fbank.

Both are computed piece by piece as audio arrives, yet give what the whole utterance gives:

- :class:`StreamingResampler` runs lhotse's resampler on overlapping blocks of the input and
  keeps only the output samples whose filter support lies inside the block;
- :class:`StreamingFbank` runs the *training* feature extractor
  (:func:`~icefall_lite.data.fbank.make_fbank_extractor`) on a window of recent samples and
  keeps only the frames whose 25 ms analysis window lies inside it (with ``snip_edges=False``
  only the first and the last frames of an utterance see reflected samples, and the window
  starts at the utterance start or ends at its end exactly when those are computed). Every
  call sees at least :data:`MIN_FRAMES` frames: on very short inputs the extractor's batched
  arithmetic rounds differently (last-bit differences seen with 10 frames).

Example::

    >>> import numpy as np
    >>> fbank = StreamingFbank(16000)
    >>> fbank.accept(np.zeros(160, dtype=np.float32)).shape[0]      # fewer than MIN_FRAMES
    0
    >>> fbank.accept(np.zeros(15840, dtype=np.float32)).shape[0]    # frames whose window fits
    99
    >>> fbank.finish().shape[0]                                       # the last one
    1
"""

from __future__ import annotations

import math

import numpy as np
import torch

from icefall_lite.data.fbank import make_fbank_extractor

#: Fewest frames the extractor is run on (but for an utterance shorter than that).
MIN_FRAMES = 32


class StreamingFbank:
    """Log-mel fbank of a growing signal, frame for frame equal to the extractor's output on
    the whole signal. ``accept`` and ``finish`` return the new frames, (T, F) float32."""

    def __init__(self, sample_rate: int, num_mel_bins: int = 80) -> None:
        self.extractor = make_fbank_extractor(num_mel_bins, sampling_rate=sample_rate)
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.shift = round(self.extractor.frame_shift * sample_rate)
        self.length = round(0.025 * sample_rate)  # the extractors' 25 ms window
        # frame i (snip_edges=False) reads samples [i*shift + shift//2 - length//2, + length)
        self.lead = self.length // 2 - self.shift // 2
        if self.shift - self.lead < 0:
            raise ValueError("fbank frame shift too small for incremental extraction")
        self.buffer = np.zeros(0, dtype=np.float32)
        self.offset = 0  # signal index of buffer[0], a multiple of shift
        self.num_frames = 0  # frames returned so far
        self.num_samples = 0

    def _frames(self, first: int, last: int) -> np.ndarray:
        """Frames first..last-1 from the buffer (which starts at frame 0, or earlier than
        ``first`` by at least one frame, so that no kept frame reads reflected samples)."""
        feats = np.asarray(self.extractor.extract(self.buffer, self.sample_rate), np.float32)
        skip = first - self.offset // self.shift
        return feats[skip : skip + last - first]

    def _advance(self, frames: np.ndarray) -> np.ndarray:
        self.num_frames += frames.shape[0]
        # keep MIN_FRAMES frames of history (see _frames and the module docstring)
        keep_from = max(0, (self.num_frames - MIN_FRAMES) * self.shift)
        self.buffer = self.buffer[keep_from - self.offset :]
        self.offset = keep_from
        return frames

    def complete_frames(self, more_samples: int = 0) -> int:
        """Frames whose window lies inside the signal once ``more_samples`` more arrive."""
        # frame i is complete when i*shift - lead + length <= num_samples
        return max(0, (self.num_samples + more_samples + self.lead - self.length) // self.shift + 1)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Append float32 samples in [-1, 1]; return the frames that are now complete."""
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.float32)])
        self.num_samples += len(samples)
        complete = self.complete_frames()
        if complete <= self.num_frames or complete < MIN_FRAMES:
            return np.zeros((0, self.num_mel_bins), np.float32)
        return self._advance(self._frames(self.num_frames, complete))

    def finish(self) -> np.ndarray:
        """The frames left at the end of the signal (they read reflected samples)."""
        total = (self.num_samples + self.shift // 2) // self.shift
        if total <= self.num_frames:
            return np.zeros((0, self.num_mel_bins), np.float32)
        return self._advance(self._frames(self.num_frames, total))


class StreamingResampler:
    """lhotse's band-limited resampler applied to a signal that arrives in pieces; the
    concatenated output equals resampling the whole signal at once."""

    def __init__(self, orig_rate: int, new_rate: int) -> None:
        from lhotse.augmentation.resample import Resample

        self.resample = Resample(orig_rate, new_rate)
        g = math.gcd(orig_rate, new_rate)
        self.orig, self.new = orig_rate // g, new_rate // g
        # an output block (new samples) reads at most width + orig input samples either side;
        # blocks are processed with this much input context, in whole input blocks
        self.context = math.ceil((self.resample.width + self.orig) / self.orig) * self.orig
        self.buffer = np.zeros(0, dtype=np.float32)
        self.offset = 0  # input index of buffer[0], a multiple of orig
        self.emitted = 0  # output samples returned so far
        self.num_input = 0

    def _run(self) -> np.ndarray:
        out = self.resample(torch.from_numpy(self.buffer)[None])[0].numpy()
        return out.astype(np.float32, copy=False)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Append input samples; return the output samples that no later input can change."""
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.float32)])
        self.num_input += len(samples)
        # output blocks whose support ends at least `context` samples before the buffer's end
        safe_blocks = (self.num_input - self.context) // self.orig
        ready = safe_blocks * self.new - self.emitted
        if ready <= 0:
            return np.zeros(0, np.float32)
        out = self._run()
        start = self.emitted - self.offset // self.orig * self.new
        result = out[start : start + ready]
        self.emitted += ready
        keep_from = max(0, (self.emitted // self.new) * self.orig - self.context)
        keep_from -= keep_from % self.orig
        self.buffer = self.buffer[keep_from - self.offset :]
        self.offset = keep_from
        return result

    def finish(self) -> np.ndarray:
        """The rest of the output (``ceil(input * new / orig)`` samples in all)."""
        total = math.ceil(self.num_input * self.new / self.orig)
        if total <= self.emitted or self.buffer.size == 0:
            return np.zeros(0, np.float32)
        out = self._run()
        start = self.emitted - self.offset // self.orig * self.new
        result = out[start : start + total - self.emitted]
        self.emitted = total
        return result
