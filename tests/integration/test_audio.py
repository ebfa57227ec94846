"""Audio end to end: real Whisper models on faster-whisper behind Ray Serve, real speech from espeak-ng, the
official `openai` client over HTTP."""

from __future__ import annotations

import math
import random
import re
import shutil
import string
import subprocess
import time
import unicodedata
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import Platform
from tests.integration.test_governance import wait_for_rows

pytestmark = pytest.mark.integration
BASE = "whisper-base"
TINY_EN = "whisper-tiny.en"
ENGLISH = "The quick brown fox jumps over the lazy dog. I would like a cup of coffee with milk, please."
# espeak-ng's French voice is hard on Whisper base: slow speech (120 wpm) and longer word gaps help.
FRENCH = "Bonjour, je voudrais un café, s'il vous plaît. Nous avons acheté des tomates au marché."
LONG = (ENGLISH + " The weather is nice today, so we are going for a walk in the park. Paris is the capital of France "
        "and a very beautiful city. My brother bought a new car last week, and he drives it to work every morning. The "
        "library opens at nine o'clock and closes at six in the evening. Please remember to turn off the lights when "
        "you leave the office.")
# About 15 s of speech: six of them are more than a minute of audio.
MEDIUM = (ENGLISH + " The weather is nice today, so we are going for a walk in the park. Paris is the capital of "
          "France and a very beautiful city.")
MAX_WER = 0.35
SRT_CUE = re.compile(r"^\d+\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n\S.*$")
VTT_CUE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n\S.*$")


def words(text: str) -> list[str]:
    """Lowercased words, without punctuation or accents."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return folded.translate(str.maketrans(string.punctuation, " " * len(string.punctuation))).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[len(hyp)] / len(ref)


def speak(text: str, folder: Path, name: str, *voice: str) -> Path:
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is missing: `make test-packages` installs it"
    raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", *voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(out)], check=True)
    return out


def seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    return {"en": speak(ENGLISH, folder, "en"), "fr": speak(FRENCH, folder, "fr", "-v", "fr", "-s", "120", "-g", "4"),
            "long": speak(LONG, folder, "long")}


def test_english_is_transcribed_with_and_without_a_language(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    start = time.perf_counter()
    given = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], language="en")
    elapsed = time.perf_counter() - start
    detected = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], response_format="verbose_json")
    print(f"\nwhisper-base en: WER {wer(ENGLISH, given.text):.3f} {given.text!r}; "
          f"{seconds(speech['en']) / elapsed:.1f} audio s per wall s")
    assert wer(ENGLISH, given.text) < MAX_WER
    assert detected.language == "english"
    assert wer(ENGLISH, detected.text) < MAX_WER


def test_french_is_transcribed_with_and_without_a_language(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    given = sdk.audio.transcriptions.create(model=BASE, file=speech["fr"], language="fr")
    detected = sdk.audio.transcriptions.create(model=BASE, file=speech["fr"], response_format="verbose_json")
    print(f"\nwhisper-base fr: WER {wer(FRENCH, given.text):.3f} {given.text!r}; "
          f"detected {detected.language}: WER {wer(FRENCH, detected.text):.3f}")
    assert wer(FRENCH, given.text) < MAX_WER
    assert detected.language == "french"
    assert wer(FRENCH, detected.text) < MAX_WER


def test_verbose_json_has_the_real_duration_and_segments(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    verbose = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], language="en",
                                              response_format="verbose_json", timestamp_granularities=["segment"])
    assert verbose.duration == pytest.approx(seconds(speech["en"]), abs=0.01)
    assert verbose.usage is not None and verbose.usage.seconds == math.ceil(verbose.duration)
    segments = verbose.segments or []
    assert segments and [s.id for s in segments] == list(range(len(segments)))
    assert all(0 <= s.start < s.end <= verbose.duration + 0.5 for s in segments)
    assert "".join(s.text for s in segments).strip() == verbose.text
    assert all(s.tokens and s.avg_logprob < 0 for s in segments)


def test_srt_and_vtt_are_well_formed(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    srt = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], language="en", response_format="srt")
    cues = srt.strip("\n").split("\n\n")
    assert cues and all(SRT_CUE.match(cue) for cue in cues), srt
    assert [cue.split("\n")[0] for cue in cues] == [str(n) for n in range(1, len(cues) + 1)]
    vtt = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], language="en", response_format="vtt")
    header, *vtt_cues = vtt.strip("\n").split("\n\n")
    assert header == "WEBVTT" and vtt_cues and all(VTT_CUE.match(cue) for cue in vtt_cues), vtt


def test_tiny_en_transcribes_english_only(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    text = sdk.audio.transcriptions.create(model=TINY_EN, file=speech["en"], response_format="text")
    print(f"\nwhisper-tiny.en en: WER {wer(ENGLISH, text):.3f} {text!r}")
    assert wer(ENGLISH, text) < MAX_WER
    with pytest.raises(openai.BadRequestError) as french:
        sdk.audio.transcriptions.create(model=TINY_EN, file=speech["fr"], language="fr")
    assert french.value.param == "language"
    with pytest.raises(openai.BadRequestError) as translation:
        sdk.audio.translations.create(model=TINY_EN, file=speech["fr"])
    assert translation.value.param == "model"


def test_french_is_translated_into_english(sdk: openai.OpenAI, speech: dict[str, Path]) -> None:
    translation = sdk.audio.translations.create(model=BASE, file=speech["fr"], response_format="verbose_json")
    print(f"\nwhisper-base fr -> en: {translation.text!r}")
    assert translation.language == "english" and translation.text
    assert sum(c.isascii() for c in translation.text) / len(translation.text) > 0.95


def test_bad_inputs_are_refused_and_the_model_still_works(platform: Platform, api_key: str, sdk: openai.OpenAI,
                                                         speech: dict[str, Path]) -> None:
    def post(content: bytes) -> httpx.Response:
        return httpx.post(f"{platform.base_url}/v1/audio/transcriptions",
                          headers={"Authorization": f"Bearer {api_key}"},
                          data={"model": BASE}, files={"file": ("x.wav", content, "audio/wav")}, timeout=120)

    noise = random.Random(0).randbytes(50_000)
    limit = platform.settings.max_audio_bytes
    for content, status, code in [(noise, 400, "invalid_audio"), (b"", 400, "empty_audio"),
                                  (speech["en"].read_bytes()[:44], 400, "empty_audio"),  # a WAV header alone
                                  (b"\0" * (limit + 1), 413, "request_too_large")]:
        response = post(content)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    text = sdk.audio.transcriptions.create(model=BASE, file=speech["en"], language="en", response_format="text")
    assert wer(ENGLISH, text) < MAX_WER


def test_the_replica_answers_health_checks_while_it_transcribes(platform: Platform, sdk: openai.OpenAI,
                                                              speech: dict[str, Path]) -> None:
    long = speech["long"]
    with ThreadPoolExecutor(1) as pool:
        start = time.perf_counter()
        running = pool.submit(sdk.audio.transcriptions.create, model=BASE, file=long, language="en",
                              response_format="text")
        time.sleep(0.3)
        asked = time.perf_counter()
        health = httpx.get(f"{platform.base_url}/health", timeout=30)
        health_seconds, still_running = time.perf_counter() - asked, not running.done()
        text = running.result()
        elapsed = time.perf_counter() - start
    print(f"\nwhisper-base: {seconds(long):.1f} s of audio in {elapsed:.1f} s ({seconds(long) / elapsed:.1f}x), "
          f"WER {wer(LONG, text):.3f}; /health answered in {health_seconds:.2f} s meanwhile")
    assert health.status_code == 200 and still_running, health.text
    assert wer(LONG, text) < MAX_WER


def test_tiny_en_folder_is_a_real_copy(platform: Platform) -> None:
    folder = platform.settings.models_dir / TINY_EN
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"}
    assert not any(p.is_symlink() for p in (folder, *folder.iterdir()))


def test_a_client_that_disconnects_during_a_transcription_is_billed_its_seconds(platform: Platform,
                                                                                  speech: dict[str, Path]) -> None:
    key_id, secret = platform.create_key("audio-disconnect")
    long = speech["long"]
    with pytest.raises(httpx.ReadTimeout):  # the client leaves half a second after its upload
        httpx.post(f"{platform.base_url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {secret}"},
                   data={"model": BASE, "language": "en"}, files={"file": ("long.wav", long.read_bytes(), "audio/wav")},
                   timeout=httpx.Timeout(60, read=0.5))
    # The replica transcribes to the end, and the request is billed for it (its record is written then).
    rows = wait_for_rows(platform, key_id, 1)
    assert [(row["audio_seconds"], row["outcome"]) for row in rows] == [(math.ceil(seconds(long)), "cancelled")]


def test_concurrent_uploads_cross_an_audio_quota_by_one_file_at_most(platform: Platform, tmp_path: Path) -> None:
    """Each upload reserves its duration (read from the file's container) at admission, across both ingress
    replicas: six files at once against one minute of audio are served up to the one that crosses it."""
    key_id, secret = platform.create_key("audio-quota", quotas={"audio_minutes_per_month": 1})
    audio = speak(MEDIUM, tmp_path, "medium")
    file_seconds = math.ceil(seconds(audio))
    content = audio.read_bytes()

    def upload(_: int) -> httpx.Response:
        return httpx.post(f"{platform.base_url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {secret}"},
                          data={"model": TINY_EN}, files={"file": ("medium.wav", content, "audio/wav")}, timeout=300)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(upload, range(6)))
    told = {a.headers["x-request-id"]: a.json()["usage"]["seconds"] for a in answers if a.status_code == 200}
    refused = [a for a in answers if a.status_code != 200]
    print(f"\n{file_seconds} s files against 60 s: {len(told)} served, {len(refused)} refused")
    assert told and sum(told.values()) <= 60 + file_seconds
    assert refused and all((a.status_code, a.json()["error"]["code"]) == (429, "insufficient_quota") for a in refused)
    rows = wait_for_rows(platform, key_id, len(told))
    assert {row["request_id"]: row["audio_seconds"] for row in rows} == told  # refusals are not metered
    assert all(row["outcome"] == "completed" for row in rows)
