"""How long an audio file lasts, and the bounds on it, on both sides of the handle.

The ingress reads the duration from the file's container before any decoding (:func:`container_seconds`),
refuses what the model would refuse, and reserves that many seconds at admission; the model's replica
decodes the file and refuses audio longer than the container said (:func:`check_duration` with the
request's ``max_seconds``), so a file whose header lies is never transcribed past what was reserved.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from serve_app.errors import InvalidRequestError

if TYPE_CHECKING:
    from av.packet import Packet

DEFAULT_MAX_AUDIO_SECONDS: Final = 2 * 3600.0
# Decoders and demuxers disagree by a few frames (encoder delay, padding, a last packet without a duration).
TOLERANCE_SECONDS: Final = 1.0
TOLERANCE_SHARE: Final = 0.02


def container_seconds(data: bytes) -> float:
    """The duration of the file's first audio stream, demuxed in memory (never decoded): the end of its last
    packet minus the stream's start, or the duration the container states when packets carry no timestamps.
    Blocking (run it in a worker thread). Raises ``invalid_audio`` when the bytes hold no audio stream."""
    import av  # FFmpeg's libraries are loaded into the ingress when audio first comes, not at its start

    try:
        with av.open(io.BytesIO(data), "r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise invalid_audio()
            stream = container.streams.audio[0]
            found, first, end = _span(container.demux(stream))
            if not found:
                return 0.0
            start = stream.start_time if stream.start_time is not None else first
            if start is not None and end is not None and stream.time_base is not None:
                return max(0.0, float((end - start) * stream.time_base))
            if stream.duration and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration:
                return container.duration / av.time_base
            raise invalid_audio()  # packets, but neither timestamps nor a stated duration
    except av.error.FFmpegError:
        raise invalid_audio() from None


def _span(packets: Iterable[Packet]) -> tuple[bool, int | None, int | None]:
    """Whether any packet holds data, and the first timestamp and last end among them (stream time base)."""
    found, start, end = False, None, None
    for packet in packets:
        if packet.size == 0:  # the demuxer's flush packet
            continue
        found = True
        if packet.pts is None:
            continue
        start = packet.pts if start is None else min(start, packet.pts)
        stop = packet.pts + (packet.duration or 0)
        end = stop if end is None else max(end, stop)
    return found, start, end


def tolerated(seconds: float) -> float:
    """The longest decoded audio a file whose container says ``seconds`` may turn out to be."""
    return seconds + max(TOLERANCE_SECONDS, TOLERANCE_SHARE * seconds)


def max_audio_seconds(engine_args: Mapping[str, Any]) -> float:
    """The longest audio a model transcribes per request: its catalog entry's ``engine_args``."""
    return float(engine_args.get("max_audio_seconds", DEFAULT_MAX_AUDIO_SECONDS))


def check_duration(seconds: float, max_seconds: float, declared_max: float | None = None) -> None:
    """Refuses silence-only files of zero length, audio longer than the model transcribes (a small, highly
    compressed file can decode to hours) and, once decoded, audio longer than its container said
    (``declared_max``: what the ingress reserved, with a tolerance)."""
    if seconds <= 0:
        raise empty_audio()
    if declared_max is not None and seconds > declared_max:
        raise InvalidRequestError(f"The audio file's header and packets say it lasts at most {declared_max:.1f} s, "
                                  f"but it decodes to {seconds:.1f} s of audio. Re-encode the file.", param="file",
                                  code="audio_duration_mismatch")
    if seconds > max_seconds:
        raise InvalidRequestError(f"The audio lasts {seconds:.0f} s; this model transcribes at most "
                                  f"{max_seconds:.0f} s per request. Split the file.", param="file",
                                  code="audio_too_long")


def invalid_audio() -> InvalidRequestError:
    return InvalidRequestError("The audio file could not be decoded. Supported formats: flac, m4a, mp3, mp4, mpeg, "
                               "mpga, oga, ogg, wav, webm.", param="file", code="invalid_audio")


def empty_audio() -> InvalidRequestError:
    return InvalidRequestError("The audio file contains no audio (its duration is zero).", param="file",
                               code="empty_audio")
