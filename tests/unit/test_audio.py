"""``/v1/audio/transcriptions`` and ``/v1/audio/translations`` in-process, with a stand-in transcriber."""

from __future__ import annotations

import io
import re
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from starlette.datastructures import Headers, UploadFile
from starlette.testclient import TestClient

from serve_app.audio.formats import timestamp
from serve_app.audio.languages import LANGUAGES
from serve_app.audio.routes import InMemoryMultiPartParser
from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeTranscriber

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
SRT_CUE = re.compile(r"^\d+\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n.+$")
VTT_CUE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n.+$")


def wav(seconds: float = 2.0, rate: int = 4000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


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

    parser = InMemoryMultiPartParser(Headers(dict(request.headers)), stream(), max_file_bytes=4 << 20)
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


@pytest.mark.parametrize(("seconds", "code"), [(0, "empty_audio"), (7201, "audio_too_long")])
def test_durations_the_engine_refuses(seconds: float, code: str) -> None:
    from deployments.whisper_engine import check_duration
    from serve_app.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError) as refused:
        check_duration(seconds, 7200)
    assert refused.value.code == code and refused.value.param == "file"
    check_duration(7200, 7200)
