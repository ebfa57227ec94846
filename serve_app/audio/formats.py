"""A transcription rendered as OpenAI renders it: json, text, srt, vtt or verbose_json."""

from __future__ import annotations

import math
from typing import Any, Literal

from starlette.responses import JSONResponse, PlainTextResponse, Response

from deployments.transcription_protocol import Segment, TranscriptionResult
from serve_app.audio.languages import language_name
from serve_app.audio.protocol import AudioResponseFormat

Task = Literal["transcribe", "translate"]


def render(result: TranscriptionResult, response_format: AudioResponseFormat, task: Task) -> Response:
    if response_format == "json":
        return JSONResponse({"text": result.text, "usage": usage(result)})
    if response_format == "verbose_json":
        return JSONResponse(verbose_json(result, task))
    if response_format == "srt":
        return PlainTextResponse(srt(result.segments))
    if response_format == "vtt":
        return PlainTextResponse(vtt(result.segments))
    return PlainTextResponse(result.text + "\n")


def billed_seconds(result: TranscriptionResult) -> int:
    """Audio is metered by its duration, in whole seconds rounded up (as OpenAI reports and bills it)."""
    return math.ceil(result.duration)


def usage(result: TranscriptionResult) -> dict[str, Any]:
    return {"type": "duration", "seconds": billed_seconds(result)}


def verbose_json(result: TranscriptionResult, task: Task) -> dict[str, Any]:
    # A translation's language is the output's, always English (as OpenAI documents it).
    language = "english" if task == "translate" else language_name(result.language)
    return {
        "task": task,
        "language": language,
        "duration": result.duration,
        "text": result.text,
        "segments": [_segment(segment) for segment in result.segments],
        "usage": usage(result),
    }


def _segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": segment.tokens,
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def srt(segments: list[Segment]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    return "".join(
        f"{number}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{_cue_text(s.text)}\n\n"
        for number, s in enumerate(segments, start=1)
    )


def vtt(segments: list[Segment]) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``."""
    cues = "".join(f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{_cue_text(s.text)}\n\n" for s in segments)
    return "WEBVTT\n\n" + cues


def timestamp(seconds: float, separator: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, milliseconds = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{milliseconds:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts a timing line: neither may appear inside the text.
    return " ".join(text.split()).replace("-->", "->")
