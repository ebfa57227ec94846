"""Decoding stops at the bound: a small file that holds hours of audio is never decoded whole."""

from __future__ import annotations

import io
import time

import av
import numpy as np
from faster_whisper import decode_audio

from deployments.audio_decode import SAMPLE_RATE, decode


def flac(seconds: float, tone: bool = False) -> bytes:
    """``seconds`` of 16 kHz mono audio (silence, or a 440 Hz tone), encoded as FLAC in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        block = SAMPLE_RATE  # one second per frame
        for start in range(0, int(seconds * SAMPLE_RATE), block):
            t = np.arange(start, start + block) / SAMPLE_RATE
            samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16) if tone else np.zeros(block, np.int16)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def test_a_long_silence_in_a_small_file_is_decoded_only_to_the_bound() -> None:
    data = flac(30 * 60)
    assert len(data) < 2_000_000  # half an hour of silence: a small file
    started = time.monotonic()
    samples = decode(data, max_seconds=60)
    took = time.monotonic() - started
    assert 60 * SAMPLE_RATE < samples.size <= 63 * SAMPLE_RATE
    print(f"{len(data) / 1e3:.0f} KB of FLAC (30 min): decoding stopped after {samples.size / SAMPLE_RATE:.1f} s of "
          f"audio in {took:.2f} s")


def test_audio_within_the_bound_decodes_as_faster_whisper_decodes_it() -> None:
    data = flac(5, tone=True)
    ours = decode(data, max_seconds=60)
    theirs = decode_audio(io.BytesIO(data))
    assert ours.dtype == theirs.dtype == np.float32
    assert ours.size == theirs.size == 5 * SAMPLE_RATE
    assert np.allclose(ours, theirs)
