"""The Batch API on the real platform (SmolLM2 on real vLLM, MiniLM on sentence-transformers), through the
official ``openai`` SDK: a few hundred requests in a chat batch and an embeddings batch; results equal to the same
requests sent one by one (temperature 0, a seed); the ledger equal to the batches' usage at the batch price;
interactive latency while a batch runs (test-artifacts/batch_interactive_latency.json); the ingress replicas
killed in the middle of a batch, which then completes with every line once and billed once; and the data
directory never holding a marker of the input, before or after the download."""

from __future__ import annotations

import io
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import ray
from sqlalchemy import text

from tests.integration.conftest import ARTIFACTS, ROOT, Platform
from tests.support.batches import KEY_HEADER, download, wait_for_batch

pytestmark = pytest.mark.integration
SMOL = "SmolLM2-135M-Instruct"
EMBED = "all-MiniLM-L6-v2"
MARKER = "quokka-7731"
TOPICS = ["the sea", "a mountain", "bread", "the moon", "a violin", "autumn", "a library", "rain", "a bicycle",
          "coffee"]
PRICE_IN, PRICE_OUT = 0.10, 0.20  # catalog.cpu.yaml's x-price-llm, per million tokens


def chat_body(index: int) -> dict[str, Any]:
    return {"model": SMOL, "temperature": 0, "seed": 7, "max_tokens": 6,
            "messages": [{"role": "user", "content": f"One word about {TOPICS[index % 10]} ({MARKER} {index})."}]}


def lines(url: str, bodies: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}) + "\n"
                   for i, body in enumerate(bodies)).encode()


def start(sdk: openai.OpenAI, url: str, bodies: list[dict[str, Any]]) -> tuple[str, str]:
    uploaded = sdk.files.create(file=("input.jsonl", io.BytesIO(lines(url, bodies))), purpose="batch")
    file_key = uploaded.model_extra["file_key"]  # type: ignore[index]
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint=url, completion_window="24h",  # type: ignore[arg-type]
                               extra_headers={KEY_HEADER: file_key})
    return batch.id, file_key


def data_dir_holds(platform: Platform, needle: bytes) -> bool:
    return any(needle in path.read_bytes() for path in Path(platform.settings.data_dir).rglob("*") if path.is_file())


def ledger(platform: Platform, batch_id: str) -> list[tuple[str, int, int, float, str]]:
    with platform.database.connect() as db:
        return [tuple(row) for row in db.execute(text(
            "SELECT request_id, prompt_tokens, completion_tokens, cost_usd, outcome FROM usage_records "
            "WHERE request_id LIKE :prefix"), {"prefix": batch_id + "-%"})]  # type: ignore[misc]


def settled_ledger(platform: Platform, batch_id: str, completed: int) -> list[tuple[str, int, int, float, str]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = ledger(platform, batch_id)
        if sum(1 for row in rows if row[4] == "completed") >= completed:
            return rows
        time.sleep(0.5)
    return ledger(platform, batch_id)


def interactive_latency(sdk: openai.OpenAI, rounds: int = 8) -> list[float]:
    seconds = []
    for index in range(rounds):
        began = time.perf_counter()
        sdk.chat.completions.create(**chat_body(100 + index))
        seconds.append(time.perf_counter() - began)
    return seconds


def test_a_chat_batch_matches_one_by_one_answers_and_is_billed_at_the_batch_price(
        platform: Platform, sdk: openai.OpenAI) -> None:
    bodies = [chat_body(i) for i in range(120)]
    alone = interactive_latency(sdk)
    batch_id, file_key = start(sdk, "/v1/chat/completions", bodies)
    time.sleep(3)
    during = interactive_latency(sdk)
    assert not data_dir_holds(platform, MARKER.encode())  # the input is kept sealed
    batch = wait_for_batch(sdk, batch_id, 400)
    assert batch.status == "completed", batch
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (120, 120, 0)
    output = download(sdk, batch.output_file_id, file_key)
    assert sorted(output) == sorted(f"r{i}" for i in range(120))
    for index in (0, 57, 113):
        one_by_one = sdk.chat.completions.create(**chat_body(index))
        body = output[f"r{index}"]["response"]["body"]
        assert body["choices"][0]["message"]["content"] == one_by_one.choices[0].message.content
        assert body["usage"]["prompt_tokens"] == one_by_one.usage.prompt_tokens  # type: ignore[union-attr]
    tokens_in = sum(r["response"]["body"]["usage"]["prompt_tokens"] for r in output.values())
    tokens_out = sum(r["response"]["body"]["usage"]["completion_tokens"] for r in output.values())
    assert (batch.usage.input_tokens, batch.usage.output_tokens) == (tokens_in, tokens_out)
    rows = settled_ledger(platform, batch_id, 120)
    completed = [row for row in rows if row[4] == "completed"]
    assert len(completed) == 120
    assert (sum(r[1] for r in completed), sum(r[2] for r in completed)) == (tokens_in, tokens_out)
    batch_price = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1e6 * 0.5
    assert sum(r[3] for r in rows) == pytest.approx(batch_price, rel=1e-9)
    assert not data_dir_holds(platform, MARKER.encode())
    figures = {"interactive_seconds_alone_p50": statistics.median(alone),
               "interactive_seconds_during_batch_p50": statistics.median(during),
               "ratio": statistics.median(during) / statistics.median(alone), "batch_requests": 120,
               "batch_concurrency": platform.settings.batch_concurrency}
    (ARTIFACTS / "batch_interactive_latency.json").write_text(json.dumps(figures, indent=2))
    print("interactive latency during a batch:", figures)
    assert max(during) < 30  # a bound against stalls, not a timing target


def test_an_embeddings_batch(platform: Platform, sdk: openai.OpenAI) -> None:
    bodies = [{"model": EMBED, "input": f"{TOPICS[i % 10]} {MARKER} {i}"} for i in range(150)]
    batch_id, file_key = start(sdk, "/v1/embeddings", bodies)
    batch = wait_for_batch(sdk, batch_id, 400)
    assert (batch.status, batch.request_counts.completed) == ("completed", 150)
    output = download(sdk, batch.output_file_id, file_key)
    one = sdk.embeddings.create(model=EMBED, input=bodies[42]["input"])
    batched = output["r42"]["response"]["body"]["data"][0]["embedding"]
    assert batched == pytest.approx(one.data[0].embedding, abs=1e-5)
    with pytest.raises(openai.NotFoundError):  # downloaded once: gone
        sdk.files.content(batch.output_file_id, extra_headers={KEY_HEADER: file_key})


def test_a_batch_survives_its_ingress_replicas_being_killed(platform: Platform, sdk: openai.OpenAI) -> None:
    total = 60
    batch_id, file_key = start(sdk, "/v1/chat/completions", [chat_body(i) for i in range(total)])
    deadline = time.monotonic() + 120
    while sdk.batches.retrieve(batch_id).request_counts.completed < 10:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.5)
    killed = [name for name in ray.util.list_named_actors(all_namespaces=True)
              if isinstance(name, dict) and "Ingress" in name["name"] and name["name"].startswith("SERVE_REPLICA")]
    assert len(killed) == 2, killed
    for actor in killed:
        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
    batch = wait_for_batch(sdk, batch_id, 400)
    assert batch.status == "completed" and batch.request_counts.completed == total, batch
    output = download(sdk, batch.output_file_id, file_key)
    assert sorted(output) == sorted(f"r{i}" for i in range(total))  # every line once
    rows = settled_ledger(platform, batch_id, total)
    completed_per_line: dict[str, int] = {}
    for request_id, *_rest, outcome in rows:
        if outcome == "completed":
            line = request_id.removeprefix(batch_id + "-").split("-")[0]
            completed_per_line[line] = completed_per_line.get(line, 0) + 1
    assert completed_per_line == {str(i): 1 for i in range(total)}  # billed once each, none lost
    billed_ids = {row[0] for row in rows if row[4] == "completed"}
    assert {r["response"]["request_id"] for r in output.values()} <= billed_ids
    health = httpx.get(f"{platform.base_url}/health", timeout=30)
    assert health.status_code == 200


def test_the_readmes_batch_example_runs_as_written(platform: Platform, api_key: str) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Batches", 1)[1].split("\n### ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    client = openai.OpenAI(api_key=api_key, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=120)
    scope: dict[str, Any] = {"client": client}
    exec(example, scope)  # the README's own example, run as a user would paste it
    answers = [json.loads(line) for line in scope["results"].splitlines()]
    assert sorted(a["custom_id"] for a in answers) == ["q0", "q1", "q2"]
    assert all(a["response"]["status_code"] == 200 for a in answers)
