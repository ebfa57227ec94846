"""``/v1/audio/transcriptions`` and ``/v1/audio/translations`` in-process, with a stand-in transcriber."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest
from sqlalchemy import select
from starlette.datastructures import Headers, UploadFile
from starlette.testclient import TestClient

from serve_app.audio.duration import check_duration, container_seconds, tolerated
from serve_app.audio.formats import timestamp
from serve_app.audio.languages import LANGUAGES
from serve_app.catalog import Catalog
from serve_app.database import connect
from serve_app.errors import InvalidRequestError
from serve_app.governance.ledger import USAGE
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.multipart import InMemoryMultiPartParser
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeTranscriber, wav

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
SRT_CUE = re.compile(r"^\d+\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n.+$")
VTT_CUE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n.+$")


def post(client: TestClient, auth: dict[str, str], path: str = TRANSCRIPTIONS, audio: bytes | None = None,
         **fields: Any) -> httpx.Response:
    files = {"file": ("speech.wav", wav() if audio is None else audio, "audio/wav")}
    return client.post(path, headers=auth, data={"model": "fake-whisper", **fields}, files=files)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def test_json_is_the_text_and_the_duration_used(client: TestClient, auth: dict[str, str]) -> None:
    response = post(client, auth, audio=wav(2.2))
    assert response.status_code == 200, response.text
    assert response.json() == {"text": "Hello world. This is a test.", "usage": {"type": "duration", "seconds": 3}}


def test_fields_reach_the_engine(client: TestClient, auth: dict[str, str], transcriber: FakeTranscriber) -> None:
    assert post(client, auth, language="FR", prompt="Bonjour.", temperature="0.4").status_code == 200
    sent = transcriber.requests[-1]
    assert (sent.task, sent.language, sent.prompt, sent.temperature) == ("transcribe", "fr", "Bonjour.", 0.4)
    assert sent.audio == wav() and sent.request_id.startswith("req_")


def test_text_is_plain(client: TestClient, auth: dict[str, str]) -> None:
    response = post(client, auth, response_format="text")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Hello world. This is a test.\n"


def test_srt_has_numbered_cues(client: TestClient, auth: dict[str, str]) -> None:
    response = post(client, auth, response_format="srt")
    assert response.headers["content-type"].startswith("text/plain")
    cues = response.text.strip("\n").split("\n\n")
    assert all(SRT_CUE.match(cue) for cue in cues), response.text
    assert cues[0] == "1\n00:00:00,000 --> 00:00:01,000\nHello world."
    assert cues[1] == "2\n00:00:01,000 --> 00:00:02,000\nThis is a test."


def test_vtt_has_a_header_and_cues(client: TestClient, auth: dict[str, str]) -> None:
    text = post(client, auth, response_format="vtt").text
    header, *cues = text.strip("\n").split("\n\n")
    assert header == "WEBVTT"
    assert all(VTT_CUE.match(cue) for cue in cues), text
    assert cues[1] == "00:00:01.000 --> 00:00:02.000\nThis is a test."


def test_verbose_json_has_openai_fields(client: TestClient, auth: dict[str, str]) -> None:
    body = post(client, auth, response_format="verbose_json", language="fr", **{"timestamp_granularities[]": "segment"}
                ).json()
    assert (body["task"], body["language"], body["duration"]) == ("transcribe", "french", 2.0)
    assert body["usage"] == {"type": "duration", "seconds": 2}
    assert [s["id"] for s in body["segments"]] == [0, 1]
    assert set(body["segments"][0]) == {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                                        "compression_ratio", "no_speech_prob"}


def test_translation_is_english(client: TestClient, auth: dict[str, str], transcriber: FakeTranscriber) -> None:
    body = post(client, auth, TRANSLATIONS, response_format="verbose_json").json()
    assert (body["task"], body["language"], body["text"]) == ("translate", "english", "Hello world. This is a test.")
    assert transcriber.requests[-1].task == "translate"
    assert error(post(client, auth, TRANSLATIONS, language="fr"), 400)["param"] == "language"  # OpenAI takes none


def test_timestamps_render_hours_and_milliseconds() -> None:
    assert timestamp(3725.4567, ",") == "01:02:05,457"
    assert timestamp(0.0004, ".") == "00:00:00.000"


@pytest.mark.parametrize(("fields", "param"), [
    ({"response_format": "xml"}, "response_format"),
    ({"temperature": "1.5"}, "temperature"),
    ({"temperature": "warm"}, "temperature"),
    ({"language": "english"}, "language"),
    ({"language": "xx"}, "language"),
    ({"timestamp_granularities[]": "word", "response_format": "verbose_json"}, "timestamp_granularities[]"),
    ({"timestamp_granularities[]": "segment"}, "timestamp_granularities[]"),
    ({"stream": "true"}, "stream"),
])
def test_invalid_fields_are_400_naming_them(client: TestClient, auth: dict[str, str], fields: dict[str, str],
                                            param: str) -> None:
    body = error(post(client, auth, **fields), 400)
    assert body["param"] == param and body["type"] == "invalid_request_error"


def test_missing_model_is_400(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(TRANSCRIPTIONS, headers=auth, files={"file": ("a.wav", wav(), "audio/wav")})
    assert error(response, 400)["message"] == "Missing required parameter: 'model'."


@pytest.mark.parametrize(("parts", "message"), [
    ({}, "Missing required parameter: 'file'."),
    ({"file": (None, "not a file")}, "'file' must be an uploaded file (a multipart part with a filename)."),
])
def test_no_file_is_400(client: TestClient, auth: dict[str, str], parts: dict[str, Any], message: str) -> None:
    # A part without a filename is a plain form field, still sent as multipart/form-data.
    response = client.post(TRANSCRIPTIONS, headers=auth, files={"model": (None, "fake-whisper"), **parts})
    body = error(response, 400)
    assert (body["param"], body["message"]) == ("file", message)


def test_not_multipart_is_400(client: TestClient, auth: dict[str, str]) -> None:
    body = error(client.post(TRANSCRIPTIONS, headers=auth, json={"model": "fake-whisper"}), 400)
    assert body["code"] == "invalid_content_type"
    assert error(client.post(TRANSCRIPTIONS, headers={**auth, "content-type": "multipart/form-data"},
                             content=b"x"), 400)["code"] == "invalid_multipart"  # no boundary


def test_two_files_are_400(client: TestClient, auth: dict[str, str]) -> None:
    files = [("file", ("a.wav", wav(), "audio/wav")), ("file2", ("b.wav", wav(), "audio/wav"))]
    response = client.post(TRANSCRIPTIONS, headers=auth, data={"model": "fake-whisper"}, files=files)
    assert "Too many files" in error(response, 400)["message"]


@pytest.mark.parametrize(("audio", "code"), [(b"", "empty_audio"), (wav(0), "empty_audio"),
                                             (b"RIFF-not-really-a-wav" * 10, "invalid_audio")])
def test_bad_audio_is_400(client: TestClient, auth: dict[str, str], audio: bytes, code: str) -> None:
    body = error(post(client, auth, audio=audio), 400)
    assert (body["param"], body["code"]) == ("file", code)


def test_oversize_file_is_413(client: TestClient, auth: dict[str, str], settings: Settings) -> None:
    body = error(post(client, auth, audio=b"\x00" * (settings.max_audio_bytes + 1)), 413)
    assert (body["param"], body["code"]) == ("file", "request_too_large")
    assert post(client, auth, audio=wav(4.0)).status_code == 200  # 32 kB minus its header is fine


def test_oversize_body_is_413_before_parsing(client: TestClient, auth: dict[str, str], settings: Settings) -> None:
    big = b"\x00" * (settings.max_body_bytes + 1)
    assert error(post(client, auth, audio=big), 413)["code"] == "request_too_large"


def test_audio_may_be_larger_than_other_bodies(client: TestClient, auth: dict[str, str], tmp_path: Any,
                                               catalog: Catalog) -> None:
    settings = Settings(data_dir=tmp_path / "big", admin_token=ADMIN_TOKEN, max_body_bytes=8 * 1024,
                        max_audio_bytes=64 * 1024)
    with TestClient(build_asgi_app(settings, catalog, {"fake-whisper": FakeTranscriber()},
                                    MeterCore(settings))) as big:
        key = big.post("/admin/v1/keys", json={"name": "t"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert post(big, headers, audio=wav(2.0)).status_code == 200  # 16 kB, over the 8 kB body limit
        assert error(big.post("/v1/embeddings", headers=headers, content=b"x" * 9000), 413)


async def test_uploads_stay_in_memory_past_starlettes_spool_size() -> None:
    request = httpx.Request("POST", "http://test", files={"file": ("big.wav", b"\x01" * (3 << 20))})
    body = request.read()

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    parser = InMemoryMultiPartParser(Headers(dict(request.headers)), stream(), max_file_bytes=4 << 20,
                                     what="audio file")
    upload = (await parser.parse())["file"]
    assert isinstance(upload, UploadFile) and upload.size == 3 << 20
    assert not upload.file._rolled  # type: ignore[attr-defined]  # SpooledTemporaryFile: never written to disk


def test_unknown_model_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert error(post(client, auth, model="whisper-9"), 404)["code"] == "model_not_found"


def test_model_without_transcription_is_400(client: TestClient, auth: dict[str, str]) -> None:
    assert error(post(client, auth, model="fake-chat"), 400)["code"] == "model_not_supported"


def test_no_key_is_401(client: TestClient) -> None:
    assert error(post(client, {}), 401)["type"] == "invalid_request_error"


def test_english_only_models_refuse_other_languages_and_translation(settings: Settings, catalog: Catalog) -> None:
    app = build_asgi_app(settings, catalog, {"fake-whisper": FakeTranscriber(multilingual=False)},
                         MeterCore(settings))
    with TestClient(app) as english:
        key = english.post("/admin/v1/keys", json={"name": "t"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert error(post(english, headers, language="fr"), 400)["code"] == "unsupported_language"
        assert error(post(english, headers, TRANSLATIONS), 400)["param"] == "model"
        assert post(english, headers, language="en").status_code == 200


def test_settings_and_catalog_wire_the_whisper_models() -> None:
    from pathlib import Path

    from deployments.whisper_engine import WhisperDeployment
    from serve_app.app import _deployment_class
    from serve_app.catalog import load_catalog

    assert Settings().max_audio_bytes == 25 * 1024 * 1024
    assert Settings.from_env({"LLMAAS_MAX_AUDIO_BYTES": "1000"}).max_audio_bytes == 1000
    catalog = load_catalog(Path(__file__).parents[2] / "catalog.cpu.yaml")
    whisper = [m for m in catalog.models if m.engine == "faster-whisper"]
    assert [m.id for m in whisper] == ["whisper-base", "whisper-tiny.en"]
    assert all(m.engine_args["compute_type"] == "int8" and m.engine_env["OMP_NUM_THREADS"] == "2" for m in whisper)
    assert _deployment_class("faster-whisper") is WhisperDeployment


def test_language_names_match_whisper() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(LANGUAGES) == set(_LANGUAGE_CODES)




async def test_sdk_transcribes_in_every_format(async_sdk: openai.AsyncOpenAI) -> None:
    audio = ("speech.wav", wav(), "audio/wav")
    json_answer = await async_sdk.audio.transcriptions.create(model="fake-whisper", file=audio)
    assert json_answer.text == "Hello world. This is a test."
    verbose = await async_sdk.audio.transcriptions.create(
        model="fake-whisper", file=audio, response_format="verbose_json", timestamp_granularities=["segment"],
        language="en")
    assert verbose.language == "english" and verbose.duration == 2.0
    assert verbose.segments is not None and verbose.segments[1].text == " This is a test."
    for response_format in ("text", "srt", "vtt"):
        text = await async_sdk.audio.transcriptions.create(model="fake-whisper", file=audio,
                                                     response_format=response_format)  # type: ignore[call-overload]
        assert isinstance(text, str) and "This is a test." in text
    translated = await async_sdk.audio.translations.create(model="fake-whisper", file=audio,
                                                           response_format="verbose_json")
    assert translated.language == "english"


async def test_sdk_raises_its_own_error_types(async_sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await async_sdk.audio.transcriptions.create(model="nope", file=("a.wav", wav()))
    with pytest.raises(openai.BadRequestError, match="could not be decoded"):
        await async_sdk.audio.transcriptions.create(model="fake-whisper", file=("a.wav", b"junk" * 100))
    with pytest.raises(openai.BadRequestError):
        await async_sdk.audio.transcriptions.create(model="fake-whisper", file=("a.wav", wav()),
                                              timestamp_granularities=["word"], response_format="verbose_json")


@pytest.mark.parametrize(("seconds", "declared_max", "code"), [(0, None, "empty_audio"), (7201, None, "audio_too_long"),
                                                               (10.5, 10, "audio_duration_mismatch")])
def test_durations_the_engine_refuses(seconds: float, declared_max: float | None, code: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        check_duration(seconds, 7200, declared_max)
    assert refused.value.code == code and refused.value.param == "file"
    check_duration(7200, 7200)
    check_duration(10, 7200, declared_max=10)


def encoded(container_format: str, codec: str, seconds: float) -> bytes:
    """``seconds`` of silence, encoded in memory with PyAV."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=16000)
        stream.layout = "mono"
        size = stream.codec_context.frame_size or 1024
        for start in range(0, int(seconds * 16000), size):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, size), dtype=np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize(("container_format", "codec"), [("flac", "flac"), ("mp3", "libmp3lame"), ("ipod", "aac"),
                                                         ("webm", "libopus"), ("ogg", "libopus")])
def test_the_duration_is_read_from_the_container(container_format: str, codec: str) -> None:
    assert container_seconds(encoded(container_format, codec, 3.0)) == pytest.approx(3.0, abs=0.05)


def test_container_durations_of_wav_and_of_what_is_not_audio() -> None:
    assert container_seconds(wav(2.2)) == 2.2
    assert container_seconds(wav(1.0)[:44]) == 0  # a WAV header alone: empty_audio
    video = io.BytesIO()
    with av.open(video, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 32, 32
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), dtype=np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for data in (b"", b"junk" * 100, b"RIFF-not-really-a-wav" * 10, video.getvalue()):
        with pytest.raises(InvalidRequestError) as refused:
            container_seconds(data)
        assert refused.value.code == "invalid_audio"


def test_the_engine_transcribes_no_more_than_the_container_said(client: TestClient, auth: dict[str, str],
                                                                 transcriber: FakeTranscriber) -> None:
    assert post(client, auth, audio=wav(2.2)).status_code == 200
    assert transcriber.requests[-1].max_seconds == pytest.approx(3.2)  # reserved, with a tolerance
    assert tolerated(600) == 612
    transcriber.decodes_to = 600.0  # a file whose header says 2 s and that decodes to 10 minutes
    body = error(post(client, auth, audio=wav(2.0)), 400)
    assert (body["param"], body["code"]) == ("file", "audio_duration_mismatch")
    assert "at most 3.0 s" in body["message"] and "600.0 s" in body["message"]


def test_audio_longer_than_the_model_takes_is_refused_before_admission(settings: Settings) -> None:
    catalog = Catalog.model_validate({"models": [
        {"id": "fake-whisper", "family": "Whisper", "engine": "faster-whisper", "source": "none",
         "capabilities": ["transcription"], "context_length": 448, "engine_args": {"max_audio_seconds": 3}}]})
    transcriber = FakeTranscriber()
    with TestClient(build_asgi_app(settings, catalog, {"fake-whisper": transcriber}, MeterCore(settings))) as short:
        key = short.post("/admin/v1/keys", json={"name": "t", "quotas": {"requests_per_minute": 1}},
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert error(post(short, headers, audio=wav(4.0)), 400)["code"] == "audio_too_long"
        assert transcriber.requests == []
        assert post(short, headers, audio=wav(3.0)).status_code == 200  # the refusal used no request of the key


async def test_a_client_that_leaves_during_a_transcription_is_billed_its_seconds(
        app: Any, transcriber: FakeTranscriber, settings: Settings) -> None:
    transcriber.release = asyncio.Event()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        key = (await http.post("/admin/v1/keys", json={"name": "t"},
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()
        upload = asyncio.create_task(http.post(
            TRANSCRIPTIONS, headers={"Authorization": f"Bearer {key['key']}"}, data={"model": "fake-whisper"},
            files={"file": ("speech.wav", wav(2.2), "audio/wav")}))
        while not transcriber.requests:
            await asyncio.sleep(0.01)
        upload.cancel()  # the client goes away while the engine transcribes
        with pytest.raises(asyncio.CancelledError):
            await upload
        transcriber.release.set()  # ... and the engine goes on to the end
        rows = await ledger_rows(settings, key["id"])
    assert rows == [(3.0, "cancelled")]


async def ledger_rows(settings: Settings, key_id: str) -> list[tuple[float, str]]:
    """(audio seconds, outcome) of the key's ledger rows, once there are some (records reach the ledger a
    moment after their request ends)."""
    database = connect(settings)
    statement = select(USAGE.c.audio_seconds, USAGE.c.outcome).where(USAGE.c.key_id == key_id)

    def rows() -> list[tuple[float, str]]:
        with database.connect() as db:
            return [(row.audio_seconds, row.outcome) for row in db.execute(statement)]

    try:
        for _ in range(200):
            if rows():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # a second record of the request would have arrived by now
        return rows()
    finally:
        database.dispose()
