"""The spine end to end: real Ray Serve, real vLLM on CPU, the official `openai` client over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import openai
import pytest
import ray

from serve_app.catalog import load_catalog
from tests.integration.conftest import ROOT, Platform

pytestmark = pytest.mark.integration
SMOL = "SmolLM2-135M-Instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]



def test_models_are_listed_with_capabilities(sdk: openai.OpenAI) -> None:
    models = {m.id: m for m in sdk.models.list()}
    assert set(models) == {entry.id for entry in load_catalog(ROOT / "catalog.cpu.yaml").models}
    assert models[SMOL].model_extra is not None
    assert models[SMOL].model_extra["capabilities"] == ["chat", "completions", "tools"]
    assert models[SMOL].model_extra["context_length"] == 2048


def test_chat_answers_the_capital_of_france(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model=SMOL, messages=QUESTION, temperature=0,  # type: ignore[arg-type]
                                         max_tokens=30)
    assert "Paris" in (answer.choices[0].message.content or "")
    assert answer.choices[0].finish_reason in {"stop", "length"}
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_matches_and_counts_tokens_like_the_engine(sdk: openai.OpenAI) -> None:
    whole = sdk.chat.completions.create(model=SMOL, messages=QUESTION, temperature=0,  # type: ignore[arg-type]
                                        max_tokens=20)
    stream = sdk.chat.completions.create(model=SMOL, messages=QUESTION, temperature=0,  # type: ignore[arg-type]
                                         max_tokens=20, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert text == whole.choices[0].message.content
    usage = chunks[-1].usage
    assert usage is not None and whole.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1  # tokens arrive as they are produced, not in one piece


def test_usage_matches_the_models_own_tokenizer(sdk: openai.OpenAI, platform: Platform) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(platform.settings.models_dir / SMOL))
    answer = sdk.chat.completions.create(model=SMOL, messages=QUESTION, temperature=0,  # type: ignore[arg-type]
                                         max_tokens=12)
    prompt_text = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == len(prompt_ids)
    completion_ids = tokenizer(answer.choices[0].message.content or "", add_special_tokens=False)["input_ids"]
    # The engine's count includes a final end-of-turn token when it stops by itself.
    assert answer.usage.completion_tokens - len(completion_ids) in {0, 1}


def test_completions_with_a_list_of_prompts(sdk: openai.OpenAI) -> None:
    result = sdk.completions.create(model="tiny-llama", prompt=["def main():", "import os"], max_tokens=5,
                                    temperature=0)
    assert [c.index for c in result.choices] == [0, 1]
    assert result.usage is not None and result.usage.completion_tokens == 10


def test_sampling_options_are_honoured(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model="tiny-llama", messages=QUESTION, n=2,  # type: ignore[arg-type]
                                         max_completion_tokens=4, seed=1, temperature=1.0)
    assert [c.index for c in answer.choices] == [0, 1]
    assert all(c.finish_reason == "length" for c in answer.choices)
    assert answer.usage is not None and answer.usage.completion_tokens == 8


def test_json_mode_returns_json(sdk: openai.OpenAI) -> None:
    import json

    answer = sdk.chat.completions.create(
        model=SMOL, temperature=0, max_tokens=60, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give the capital of France as JSON with key capital."}])
    content = answer.choices[0].message.content or ""
    if answer.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)
    else:
        assert content.lstrip().startswith("{")


def test_errors_are_the_sdks_own_types(sdk: openai.OpenAI, platform: Platform) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk.chat.completions.create(model="gpt-4o", messages=QUESTION)  # type: ignore[arg-type]
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.chat.completions.create(model="tiny-llama", messages=QUESTION, max_tokens=100_000)  # type: ignore[arg-type]
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=SMOL, messages=QUESTION, temperature=5)  # type: ignore[arg-type]
    bad = openai.OpenAI(api_key="sk-nope", base_url=f"{platform.base_url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_every_response_has_a_request_id(platform: Platform) -> None:
    for response in (httpx.get(f"{platform.base_url}/v1/models"), httpx.get(f"{platform.base_url}/health")):
        assert len(response.headers.get_list("x-request-id")) == 1
        assert response.headers["x-request-id"]


def test_health_reports_every_model_up(platform: Platform) -> None:
    body = httpx.get(f"{platform.base_url}/health", timeout=30).json()
    catalog_ids = {entry.id for entry in load_catalog(ROOT / "catalog.cpu.yaml").models}
    assert body == {"status": "ok", "models": dict.fromkeys(catalog_ids, "up"), "unavailable": []}


def test_a_revoked_key_stops_working(platform: Platform) -> None:
    key_id, key = platform.create_key("to-revoke")
    client = openai.OpenAI(api_key=key, base_url=f"{platform.base_url}/v1", max_retries=0)
    assert client.models.list().data
    httpx.delete(f"{platform.base_url}/admin/v1/keys/{key_id}", headers=platform.admin_headers).raise_for_status()
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_prompt_is_written_to_no_file(sdk: openai.OpenAI, platform: Platform) -> None:
    marker = f"zebra-{uuid.uuid4().hex}"
    prompt = [{"role": "user", "content": f"Repeat after me: {marker}"}]
    sdk.chat.completions.create(model=SMOL, messages=prompt, max_tokens=40)  # type: ignore[arg-type]
    list(sdk.chat.completions.create(model="tiny-llama", messages=prompt, max_tokens=5, stream=True))  # type: ignore[arg-type]
    sdk.completions.create(model="tiny-llama", prompt=marker, max_tokens=5)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="tiny-llama", messages=prompt, max_tokens=100_000)  # type: ignore[arg-type]
    session_dir = Path(_session_dir())
    searched = _files_containing(marker.encode(), [platform.settings.data_dir, session_dir])
    assert searched.hits == [], searched.hits
    assert searched.files > 10  # Ray's logs were really searched


def _session_dir() -> str:
    return str(ray._private.worker._global_node.get_session_dir_path())


class _Search:
    def __init__(self) -> None:
        self.files = 0
        self.hits: list[Path] = []


def _files_containing(needle: bytes, roots: list[Path]) -> _Search:
    search = _Search()
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                search.files += 1
                try:
                    if needle in path.read_bytes():
                        search.hits.append(path)
                except OSError:
                    continue
    return search


def test_keys_survive_a_restart_of_the_app(platform: Platform) -> None:
    _, key = platform.create_key("survivor")
    platform.undeploy()
    platform.deploy()
    client = openai.OpenAI(api_key=key, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=120)
    answer = client.chat.completions.create(model=SMOL, messages=QUESTION, max_tokens=5)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
