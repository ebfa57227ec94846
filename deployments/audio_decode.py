"""Audio decoded in memory to 16 kHz mono samples, and never past a bound.

faster-whisper's own ``decode_audio`` decodes a file whole before anything can look at its length: a small,
highly compressed file (70 KB of FLAC holding ten hours of silence) would decode to gigabytes. Here decoding
stops as soon as the samples pass ``max_seconds``; the caller then refuses the file for its length.
"""

from __future__ import annotations

import io
from typing import Final

import numpy as np

SAMPLE_RATE: Final = 16_000  # what Whisper takes


def decode(data: bytes, max_seconds: float) -> np.ndarray:
    """Float32 samples in [-1, 1), at most about one second past ``max_seconds``. Raises PyAV's errors (FFmpeg's,
    or IndexError for a container without an audio stream)."""
    import av

    cap = int((max_seconds + 1) * SAMPLE_RATE)
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total = 0
    with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
        frames = container.decode(audio=0)
        while total <= cap:
            try:
                frame = next(frames)
            except StopIteration:
                frame = None  # the end: what the resampler still holds comes out below
            except av.error.InvalidDataError:
                continue  # a damaged frame is skipped, as faster-whisper skips it
            for resampled in resampler.resample(frame):
                samples = resampled.to_ndarray().reshape(-1)
                pieces.append(samples)
                total += samples.size
            if frame is None:
                break
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(pieces).astype(np.float32) / 32768.0
