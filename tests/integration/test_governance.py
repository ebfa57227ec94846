"""Governance on the real stack: quotas across two ingress replicas, the metering actor and its ledger
(including a restart of the actor), forbidden models, and admin access by OIDC."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import ray
from ray import serve
from sqlalchemy import select

from serve_app.governance.ledger import USAGE
from serve_app.governance.meter import NAMESPACE, actor_name
from tests.integration.conftest import APP_NAME, Platform
from tests.support.oidc_issuer import new_rsa_key

MODEL = "tiny-llama"
WHISPER = "whisper-tiny.en"


def client_for(platform: Platform, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=300)


def ledger_rows(platform: Platform, key_id: str) -> list[dict[str, Any]]:
    """The key's rows in the platform's ledger (SQLite or PostgreSQL, as the session runs it)."""
    with platform.database.connect() as db:
        return [dict(row._mapping) for row in db.execute(select(USAGE).where(USAGE.c.key_id == key_id))]


def wait_for_rows(platform: Platform, key_id: str, count: int, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows = ledger_rows(platform, key_id)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = ledger_rows(platform, key_id)
    return rows


def wait_for_a_fresh_minute(seconds_needed: float = 20) -> None:
    """Per-minute limits reset at the top of the minute: start where the whole test fits in one minute."""
    into_minute = time.time() % 60
    if into_minute > 60 - seconds_needed:
        time.sleep(60 - into_minute + 0.2)


def test_both_ingress_replicas_are_running(platform: Platform) -> None:
    status = serve.status().applications[APP_NAME].deployments["Ingress"]
    assert status.replica_states.get("RUNNING") == 2


def test_a_tiny_token_budget_is_refused_once_spent_and_not_before(platform: Platform) -> None:
    _, secret = platform.create_key("tiny-budget", quotas={"tokens_per_day": 120})
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 8}
    spent = 0
    lease = float(platform.env.get("LLMAAS_ADMISSION_LEASE_SECONDS", "2"))
    with httpx.Client(base_url=platform.base_url, timeout=120) as http:
        while spent < 120:
            answer = http.post("/v1/chat/completions", json=body, headers=headers)
            if answer.status_code == 429:
                # The other ingress replica may still hold a lease on what is left (README: a key near its limit
                # may be refused for a lease's lifetime): once it has expired, what is left must be served.
                time.sleep(lease + 1)
                answer = http.post("/v1/chat/completions", json=body, headers=headers)
            assert answer.status_code == 200, (spent, answer.text)
            assert answer.headers["x-ratelimit-limit-tokens"] == "120"
            spent += answer.json()["usage"]["total_tokens"]
        refused = http.post("/v1/chat/completions", json=body, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
    for name in ("limit", "remaining", "reset"):
        assert f"x-ratelimit-{name}-tokens" in refused.headers
    with pytest.raises(openai.RateLimitError):  # and the SDK sees OpenAI's error
        client_for(platform, secret).chat.completions.create(model=MODEL, messages=body["messages"], max_tokens=8)


def test_two_ingress_replicas_respect_one_request_limit(platform: Platform) -> None:
    _, secret = platform.create_key("rpm", quotas={"requests_per_minute": 6})
    wait_for_a_fresh_minute()
    with httpx.Client(base_url=platform.base_url, timeout=60,
                      limits=httpx.Limits(max_connections=12, max_keepalive_connections=0)) as http:
        def call(_: int) -> int:
            return http.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(call, range(2)))  # listing models is not metered: warm the connections
        body = {"model": "all-MiniLM-L6-v2", "input": "hello"}

        def embed(_: int) -> int:
            return http.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {secret}"}).status_code
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(embed, range(24)))
    assert codes.count(200) == 6, codes
    assert codes.count(429) == 18, codes


def test_a_model_outside_the_keys_set_is_forbidden(platform: Platform) -> None:
    _, secret = platform.create_key("only-tiny", quotas={"allowed_models": [MODEL]})
    sdk = client_for(platform, secret)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        sdk.chat.completions.create(model="SmolLM2-135M-Instruct", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 403
    assert [model.id for model in sdk.models.list()] == [MODEL]
    assert sdk.completions.create(model=MODEL, prompt="Hello", max_tokens=2).usage is not None


def test_admin_calls_accept_a_jwt_from_the_issuer(platform: Platform) -> None:
    def keys(token: str) -> int:
        return httpx.get(f"{platform.base_url}/admin/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code

    assert keys(platform.issuer.token()) == 200
    assert keys(platform.issuer.token(expires_in=-300)) == 401
    assert keys(platform.issuer.token(key=new_rsa_key())) == 401
    assert keys(platform.issuer.token(role="reader")) == 403
    created = httpx.post(f"{platform.base_url}/admin/v1/keys", json={"name": "by-jwt"},
                         headers={"Authorization": f"Bearer {platform.issuer.token()}"})
    assert created.status_code == 200
    audit = httpx.get(f"{platform.base_url}/admin/v1/audit", headers=platform.admin_headers).json()["data"]
    entry = next(e for e in audit if e["target"] == created.json()["id"])  # the audit log names the person
    assert (entry["actor"], entry["action"]) == (f"{platform.issuer.url} admin@example.org", "POST /admin/v1/keys")


def speak(folder: Path, text: str) -> bytes:
    raw, out = folder / "raw.wav", folder / "speech.wav"
    assert shutil.which("espeak-ng") and shutil.which("sox"), "`make test-packages` installs espeak-ng and sox"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(out)], check=True)
    return out.read_bytes()


def test_the_ledger_equals_what_clients_were_told_across_a_meter_restart(
        platform: Platform, tmp_path: Path) -> None:
    key_id, secret = platform.create_key("ledger")
    headers = {"Authorization": f"Bearer {secret}"}
    audio = speak(tmp_path, "The ledger counts every second of audio.")
    rng = random.Random(7)
    kinds = ["chat"] * 50 + ["stream"] * 50 + ["completion"] * 40 + ["cut"] * 30 + ["embed"] * 30 + ["audio"] * 8
    rng.shuffle(kinds)

    def one(kind: str) -> tuple[str, str, dict[str, float]]:
        """(kind, request id, what the client was told: tokens and audio seconds)."""
        content = f"Say something about the number {rng.randint(1, 10_000)}."
        with httpx.Client(base_url=platform.base_url, timeout=300, headers=headers) as http:
            if kind == "audio":
                answer = http.post("/v1/audio/transcriptions", data={"model": WHISPER},
                                   files={"file": ("speech.wav", audio, "audio/wav")})
                assert answer.status_code == 200, answer.text
                return kind, answer.headers["x-request-id"], {"audio": answer.json()["usage"]["seconds"]}
            if kind == "embed":
                answer = http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": [content, "x"]})
                assert answer.status_code == 200, answer.text
                return kind, answer.headers["x-request-id"], {"prompt": answer.json()["usage"]["prompt_tokens"]}
            if kind in ("chat", "completion"):
                path, body = (("/v1/chat/completions", {"messages": [{"role": "user", "content": content}]})
                              if kind == "chat" else ("/v1/completions", {"prompt": content}))
                answer = http.post(path, json={"model": MODEL, "max_tokens": rng.randint(1, 12), **body})
                assert answer.status_code == 200, answer.text
                usage = answer.json()["usage"]
                return kind, answer.headers["x-request-id"], {"prompt": usage["prompt_tokens"],
                                                              "completion": usage["completion_tokens"]}
            body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True,
                    "max_tokens": 64 if kind == "cut" else 10, "stream_options": {"include_usage": True}}
            with http.stream("POST", "/v1/chat/completions", json=body) as stream:
                assert stream.status_code == 200
                events = []
                for line in stream.iter_lines():
                    if line.startswith("data: {"):
                        events.append(json.loads(line.removeprefix("data: ")))
                    if kind == "cut" and len(events) == 3:
                        break  # the client goes away mid-stream
                request_id = stream.headers["x-request-id"]
            if kind == "cut":
                return kind, request_id, {"seen_chunks": len(events)}
            usage = events[-1]["usage"]
            return kind, request_id, {"prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"]}

    with ThreadPoolExecutor(4) as pool:
        first_half = list(pool.map(one, kinds[:100]))
        meter = ray.get_actor(actor_name(platform.settings), namespace=NAMESPACE)
        ray.kill(meter, no_restart=False)  # the actor restarts; batches in flight are sent again
        second_half = list(pool.map(one, kinds[100:]))
    results = first_half + second_half
    rows = {row["request_id"]: row for row in wait_for_rows(platform, key_id, len(results))}
    assert len(rows) == len(results)
    told = [r for r in results if r[0] != "cut"]
    assert sum(rows[rid]["prompt_tokens"] for _, rid, _ in told) == sum(t.get("prompt", 0) for *_, t in told)
    assert sum(rows[rid]["completion_tokens"] for _, rid, _ in told) == sum(t.get("completion", 0) for *_, t in told)
    assert sum(rows[rid]["audio_seconds"] for _, rid, _ in told) == sum(t.get("audio", 0) for *_, t in told)
    assert all(rows[rid]["outcome"] == "completed" for _, rid, _ in told)
    for _, rid, seen in (r for r in results if r[0] == "cut"):
        row = rows[rid]
        # The stream was cut after 3 events (role, then 2 with content): billed for what the engine made.
        assert row["outcome"] in ("cancelled", "completed")
        assert seen["seen_chunks"] - 1 <= row["completion_tokens"] <= 64
        assert row["prompt_tokens"] > 0
    assert any(rows[rid]["outcome"] == "cancelled" for kind, rid, _ in results if kind == "cut")
    usage = httpx.get(f"{platform.base_url}/v1/usage", headers=headers).json()
    assert usage["totals"]["requests"] == len(results)
    assert usage["totals"]["cost_usd"] > 0


def test_a_repeated_or_huge_client_request_id_is_a_label_and_every_request_is_billed(platform: Platform) -> None:
    """A client's X-Request-ID never becomes the id usage is metered by (serve_app/request_ids.py)."""
    key_id, secret = platform.create_key("repeated-request-id")
    other_id, other = platform.create_key("bystander")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 3}
    labels = ["same-id"] * 6 + ["x" * 600, "a" * 250]
    served: list[httpx.Response] = []
    with httpx.Client(base_url=platform.base_url, timeout=120) as http:
        for label in labels:
            served.append(http.post("/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {secret}", "X-Request-ID": label}))
        bystander = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {other}"})
    assert all(response.status_code == 200 for response in served) and bystander.status_code == 200
    ids = [response.headers["x-request-id"] for response in served]
    assert len(set(ids)) == len(labels) and all(i.startswith("req_") and "," not in i for i in ids)
    assert [r.headers.get("x-client-request-id") for r in served] == ["same-id"] * 6 + [None, "a" * 250]
    rows = wait_for_rows(platform, key_id, len(labels))
    assert sorted(row["request_id"] for row in rows) == sorted(ids)
    usage = sum(response.json()["usage"]["total_tokens"] for response in served)
    assert sum(row["prompt_tokens"] + row["completion_tokens"] for row in rows) == usage
    assert len(wait_for_rows(platform, other_id, 1)) == 1
