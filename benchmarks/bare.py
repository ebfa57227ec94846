"""The bare libraries, called as the platform's replicas call them, in a subprocess of their own.

    python -m benchmarks.bare < spec.json > result.json

A subprocess gets the catalog entry's ``engine_env`` (``OMP_NUM_THREADS``...) before torch or CTranslate2
load, as a replica does, and gives its memory and threads back when it ends. The spec names the model
folder, the engine arguments and the work; the result is ``{"seconds": [...]}``, one wall time per call.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run(spec: dict[str, Any], env: dict[str, str]) -> list[float]:
    """Runs ``spec`` in a fresh interpreter with ``env`` added; the wall time of each call, in seconds."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.bare"], input=json.dumps(spec), text=True,
                          capture_output=True, env={**os.environ, **env}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the bare {spec['kind']} run failed:\n{done.stderr[-4000:]}")
    return [float(s) for s in json.loads(done.stdout.strip().splitlines()[-1])["seconds"]]


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    seconds = []
    for call in calls:
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def embeddings(spec: dict[str, Any]) -> list[float]:
    """``spec["groups"]``: lists of texts, each encoded in one ``encode`` call (the replica's ``_encode``)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(spec["model_dir"], device="cpu")
    batch_size = int(spec["engine_args"].get("batch_size", 32))

    def encode(texts: list[str]) -> Callable[[], object]:
        return lambda: model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

    encode(spec["groups"][0])()  # warm-up
    return _timed([encode(group) for group in spec["groups"]])


def transcription(spec: dict[str, Any]) -> list[float]:
    """``spec["files"]``: audio files, each decoded in memory and transcribed as the Whisper replica does."""
    from faster_whisper import WhisperModel, decode_audio

    from deployments.whisper_engine import FALLBACK_TEMPERATURES

    args = spec["engine_args"]
    model = WhisperModel(spec["model_dir"], device="cpu", compute_type=args.get("compute_type", "int8"),
                         cpu_threads=int(args.get("cpu_threads", 0)), num_workers=int(args.get("num_workers", 1)))
    options = {"language": spec["language"], "task": "transcribe", "initial_prompt": None,
               "temperature": list(FALLBACK_TEMPERATURES), "beam_size": int(args.get("beam_size", 5))}

    def transcribe(path: str) -> Callable[[], object]:
        data = Path(path).read_bytes()

        def call() -> object:
            pieces, _ = model.transcribe(decode_audio(io.BytesIO(data)), **options)
            return [piece.text for piece in pieces]  # the generator decodes as it is consumed

        return call

    transcribe(spec["files"][0])()  # warm-up
    return _timed([transcribe(path) for path in spec["files"]])


def main() -> None:
    spec = json.loads(sys.stdin.read())
    seconds = {"embeddings": embeddings, "transcription": transcription}[spec["kind"]](spec)
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
