"""The Batch API in-process (stand-in engines): the official ``openai`` SDK's files and batches calls, results
that match the requests sent one by one, the batch price in the ledger, files kept only sealed and gone once
downloaded, the key the client holds, and the limits."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from sqlalchemy import bindparam, text
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from serve_app.batches import worker
from serve_app.batches.blobs import Blobs
from serve_app.batches.crypto import KeyMismatchError, new_file_key
from serve_app.batches.store import BatchStore
from serve_app.catalog import Catalog
from serve_app.database import connect
from serve_app.governance.ledger import Ledger
from serve_app.governance.meter import MeterCore
from serve_app.governance.records import UsageRecord
from serve_app.guardrails import PromptGuard
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEmbedder, FakeEngine
from tests.support.batches import KEY_HEADER, check_store_under_races, download, wait_for_batch

MARKER = "zebra-marker-4471"


@pytest.fixture
def priced_catalog(catalog: Catalog) -> Catalog:
    models = [m.model_copy(update={"pricing": m.pricing.model_copy(update={"input_per_million": 10.0,
                                                                           "output_per_million": 30.0})})
              for m in catalog.models]
    return catalog.model_copy(update={"models": models})


@pytest.fixture
def batch_app(settings: Settings, priced_catalog: Catalog, engine: FakeEngine, embedder: FakeEmbedder,
              meter: MeterCore, prompt_guard: PromptGuard) -> ASGIApp:
    settings = settings.model_copy(update={"batch_max_in_flight": 2, "batch_max_requests": 50})
    return build_asgi_app(settings, priced_catalog, {"fake-chat": engine, "fake-embed": embedder}, meter,
                          guard=prompt_guard)


@pytest.fixture
def sdk(batch_app: ASGIApp) -> Iterator[openai.OpenAI]:
    with TestClient(batch_app) as http:
        created = http.post("/admin/v1/keys", json={"name": "batches"},
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        yield openai.OpenAI(api_key=created.json()["key"], base_url="http://testserver/v1", http_client=http,
                            max_retries=0)


def stored_records(settings: Settings, blob: str) -> int:
    with connect(settings).connect() as db:
        query = text("SELECT count(*) FROM batch_blob_records WHERE blob = :b")
        return int(db.execute(query, {"b": blob}).scalar_one())


def chat_line(custom_id: str, content: str = f"Say hello {MARKER}", **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "fake-chat", "messages": [{"role": "user", "content": content}], **body}}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def upload(sdk: openai.OpenAI, lines: list[dict[str, Any]]) -> tuple[str, str]:
    created = sdk.files.create(file=("requests.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
    assert created.purpose == "batch" and created.filename == "requests.jsonl"
    return created.id, created.model_extra["file_key"]  # type: ignore[index]


def run_batch(sdk: openai.OpenAI, lines: list[dict[str, Any]], endpoint: str = "/v1/chat/completions") -> Any:
    file_id, file_key = upload(sdk, lines)
    batch = sdk.batches.create(input_file_id=file_id, endpoint=endpoint, completion_window="24h",  # type: ignore[arg-type]
                               metadata={"job": "nightly"}, extra_headers={KEY_HEADER: file_key})
    assert batch.status == "validating" and batch.request_counts is not None
    assert batch.request_counts.total == len(lines)
    return wait_for_batch(sdk, batch.id, 30), file_key


def test_a_batch_answers_as_one_by_one_requests_do_and_is_billed_at_the_batch_price(
        sdk: openai.OpenAI, settings: Settings, engine: FakeEngine) -> None:
    lines = [chat_line(f"req-{i}", max_tokens=3 + i % 2) for i in range(6)]
    lines.append(chat_line("too-long", max_tokens=1000))  # more than the context: this line fails alone
    batch, file_key = run_batch(sdk, lines)
    assert batch.status == "completed" and batch.metadata == {"job": "nightly"}
    assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 1)
    output = download(sdk, batch.output_file_id, file_key)
    one_by_one = sdk.chat.completions.create(model="fake-chat", max_tokens=3,
                                             messages=[{"role": "user", "content": f"Say hello {MARKER}"}])
    answer = output["req-0"]["response"]
    assert [r.background for r in engine.requests] == [True] * 7 + [False]  # batch lines yield to interactive ones
    assert answer["status_code"] == 200 and answer["body"]["object"] == "chat.completion"
    assert answer["body"]["choices"][0]["message"]["content"] == one_by_one.choices[0].message.content
    errors = download(sdk, batch.error_file_id, file_key)
    assert errors["too-long"]["response"]["status_code"] == 400
    assert errors["too-long"]["response"]["body"]["error"]["code"] == "context_length_exceeded"
    tokens_in = sum(r["response"]["body"]["usage"]["prompt_tokens"] for r in output.values())
    tokens_out = sum(r["response"]["body"]["usage"]["completion_tokens"] for r in output.values())
    assert batch.usage is not None and (batch.usage.input_tokens, batch.usage.output_tokens) == (tokens_in, tokens_out)
    request_ids = [r["response"]["request_id"] for r in output.values()]
    with connect(settings).connect() as db:
        rows = db.execute(text("SELECT prompt_tokens, completion_tokens, cost_usd FROM usage_records WHERE "
                               "request_id LIKE :p"), {"p": batch.id + "-%"}).all()
        billed = db.execute(text("SELECT count(*) FROM usage_records WHERE request_id IN :ids").bindparams(
            bindparam("ids", expanding=True)), {"ids": request_ids}).scalar()
    completed = [row for row in rows if row[0] or row[1]]
    assert billed == 6 and sum(r[0] for r in completed) == tokens_in and sum(r[1] for r in completed) == tokens_out
    half_price = (tokens_in * 10.0 + tokens_out * 30.0) / 1e6 * 0.5
    assert sum(r[2] for r in rows) == pytest.approx(half_price)


def test_files_are_sealed_readable_only_with_the_clients_key_and_gone_once_downloaded(
        sdk: openai.OpenAI, settings: Settings) -> None:
    batch, file_key = run_batch(sdk, [chat_line("a"), chat_line("b")])
    stored = b"".join(path.read_bytes() for path in settings.data_dir.rglob("*") if path.is_file())
    assert MARKER.encode() not in stored and b"Paris" not in stored  # neither the prompts nor the answers
    other_key = "A" * 43
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.files.content(batch.output_file_id, extra_headers={KEY_HEADER: other_key})
    assert refused.value.code == "invalid_file_key"
    with pytest.raises(openai.BadRequestError) as missing:
        sdk.files.content(batch.output_file_id)
    assert missing.value.code == "missing_file_key"
    assert len(download(sdk, batch.output_file_id, file_key)) == 2
    with pytest.raises(openai.NotFoundError):  # read once: gone
        sdk.files.content(batch.output_file_id, extra_headers={KEY_HEADER: file_key})
    with pytest.raises(openai.NotFoundError):  # the input file went when the batch ended
        sdk.files.retrieve(batch.input_file_id)
    assert stored_records(settings, batch.id + "_output") == 0


def test_a_batch_needs_the_files_key(sdk: openai.OpenAI) -> None:
    file_id, file_key = upload(sdk, [chat_line("a")])
    with pytest.raises(openai.BadRequestError) as missing:
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert missing.value.code == "missing_file_key"
    wrong = new_file_key().hex()[:43]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                           extra_headers={KEY_HEADER: wrong})
    assert bad.value.code == "invalid_file_key"
    with pytest.raises(openai.BadRequestError) as endpoint:
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h",
                           extra_headers={KEY_HEADER: file_key})
    assert endpoint.value.param == "endpoint"


@pytest.mark.parametrize(("content", "code"), [
    (b"not json\n", "invalid_json_line"),
    (jsonl([chat_line("a"), chat_line("a")]), "duplicate_custom_id"),
    (jsonl([chat_line("a"), {**chat_line("b"), "url": "/v1/embeddings"}]), "mixed_endpoints"),
    (jsonl([chat_line("a", stream=True)]), "invalid_json_line"),
    (jsonl([{**chat_line("a"), "url": "/v1/audio/transcriptions"}]), "invalid_url"),
    (jsonl([chat_line(str(i)) for i in range(51)]), "too_many_requests"),
    (b"\n\n", "empty_file"),
    (b"\xff\xfe", "invalid_batch_file"),
    (jsonl([chat_line("a", content="x" * 70_000)]), "line_too_large"),  # the tests' request bodies: 64 KiB
])
def test_bad_batch_files_are_400s_naming_the_line(sdk: openai.OpenAI, content: bytes, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.files.create(file=("bad.jsonl", io.BytesIO(content)), purpose="batch")
    assert refused.value.code == code and refused.value.param == "file"


def test_a_key_holds_a_bounded_number_of_input_files(settings: Settings, priced_catalog: Catalog,
                                                     engine: FakeEngine, meter: MeterCore,
                                                     prompt_guard: PromptGuard) -> None:
    app = build_asgi_app(settings.model_copy(update={"batch_max_files": 2}), priced_catalog, {"fake-chat": engine},
                         meter, guard=prompt_guard)
    with TestClient(app) as http:
        key = http.post("/admin/v1/keys", json={"name": "files"},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["key"]
        sdk = openai.OpenAI(api_key=key, base_url="http://testserver/v1", http_client=http, max_retries=0)
        first, _ = upload(sdk, [chat_line("a")])
        upload(sdk, [chat_line("a")])
        with pytest.raises(openai.RateLimitError) as refused:
            upload(sdk, [chat_line("a")])
        assert refused.value.code == "too_many_files"
        sdk.files.delete(first)  # a deleted file gives its place back
        upload(sdk, [chat_line("a")])


def test_only_batch_files_are_taken(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.files.create(file=("a.jsonl", io.BytesIO(jsonl([chat_line("a")]))), purpose="fine-tune")
    assert refused.value.param == "purpose"


def test_embeddings_batches_and_listing(sdk: openai.OpenAI) -> None:
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "fake-embed", "input": f"text {i}"}} for i in range(3)]
    batch, file_key = run_batch(sdk, lines, endpoint="/v1/embeddings")
    assert batch.request_counts.completed == 3
    listed = sdk.batches.list(limit=5)
    assert batch.id in [b.id for b in listed.data]
    assert batch.output_file_id in [f.id for f in sdk.files.list(purpose="batch_output")]
    size = sdk.files.retrieve(batch.output_file_id).bytes
    content = sdk.files.content(batch.output_file_id, extra_headers={KEY_HEADER: file_key}).content
    assert size == len(content)  # the file object's bytes are those of the JSONL the client downloads
    output = {line["custom_id"]: line for line in map(json.loads, content.splitlines())}
    assert output["e1"]["response"]["body"]["object"] == "list"


def test_a_cancelled_batch_ends_with_its_unrun_lines_in_the_error_file(sdk: openai.OpenAI, engine: FakeEngine) -> None:
    engine.delay = 0.3
    file_id, file_key = upload(sdk, [chat_line(f"c{i}") for i in range(20)])
    batch = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_headers={KEY_HEADER: file_key})
    assert sdk.batches.cancel(batch.id).status in {"cancelling", "cancelled"}
    ended = wait_for_batch(sdk, batch.id, 30)
    assert ended.status == "cancelled" and ended.request_counts.completed < 20
    errors = download(sdk, ended.error_file_id, file_key)
    assert {e["error"]["code"] for e in errors.values() if e["error"]} == {"batch_cancelled"}
    assert ended.request_counts.completed + ended.request_counts.failed == 20


def test_a_keys_batches_in_flight_are_bounded(sdk: openai.OpenAI, engine: FakeEngine) -> None:
    engine.delay = 0.5
    created = []
    for _ in range(2):
        file_id, file_key = upload(sdk, [chat_line(f"x{i}") for i in range(5)])
        created.append(sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                          completion_window="24h", extra_headers={KEY_HEADER: file_key}))
    file_id, file_key = upload(sdk, [chat_line("y")])
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                           extra_headers={KEY_HEADER: file_key})
    assert refused.value.code == "batch_limit_reached"
    for batch in created:
        sdk.batches.cancel(batch.id)


def test_the_store_holds_under_racing_replicas(settings: Settings) -> None:
    check_store_under_races(BatchStore(connect(settings)), "key_race")


def test_sealed_records_open_only_with_their_key_in_their_place(settings: Settings) -> None:
    database = connect(settings)
    blobs = Blobs(database)
    key = new_file_key()
    blobs.write("in_1", key, [b"one", b"two"])
    assert list(blobs.read("in_1", key)) == [b"one", b"two"]
    with pytest.raises(KeyMismatchError):
        list(blobs.read("in_1", new_file_key()))
    assert blobs.plaintext_bytes("in_1") == len(b"onetwo")
    with pytest.raises(KeyMismatchError):
        blobs.check_key("in_1", new_file_key())
    blobs.appender("out_1", key).append(b"first")
    resumed = blobs.appender("out_1", key)  # a batch taken over: appends after what is there
    resumed.append(b"second")
    assert list(blobs.read("out_1", key)) == [b"first", b"second"] and resumed.count == 2
    with database.begin() as db:  # a record copied into another file, or moved within its own, does not open
        db.execute(text("INSERT INTO batch_blob_records (blob, position, sealed) SELECT 'in_2', position, sealed "
                        "FROM batch_blob_records WHERE blob = 'in_1'"))
        db.execute(text("UPDATE batch_blob_records SET position = 5 WHERE blob = 'out_1' AND position = 1"))
    for blob in ("in_2", "out_1"):
        with pytest.raises(KeyMismatchError):
            list(blobs.read(blob, key))
    blobs.delete("in_1")
    assert list(blobs.read("in_1", key)) == [] and blobs.names() == {"in_2", "out_1"}


def test_a_batchs_billed_runs_are_found_by_their_prefix(settings: Settings) -> None:
    ledger = Ledger(connect(settings))
    ledger.write([UsageRecord(request_id=rid, key_id="k", model="m", endpoint="chat.completions", outcome=outcome,
                              ended_at=time.time())
                  for rid, outcome in (("batch_x-1-aa", "completed"), ("batch_x-2-bb", "error"),
                                       ("batch_xy-1-cc", "completed"), ("batch%x-1-dd", "completed"))])
    assert ledger.completed_under("batch_x-") == ["batch_x-1-aa"]  # `_` and `%` are not wildcards


def test_an_expired_file_is_gone_from_the_database_and_the_disk(sdk: openai.OpenAI, settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "SWEEP_SECONDS", 0.1)
    file_id, _ = upload(sdk, [chat_line("a")])
    with connect(settings).begin() as db:
        (blob,) = db.execute(text("SELECT blob FROM batch_files WHERE id = :id"), {"id": file_id}).one()
        db.execute(text("UPDATE batch_files SET expires_at = 0 WHERE id = :id"), {"id": file_id})
    assert stored_records(settings, blob) == 1
    deadline = time.monotonic() + 10
    while stored_records(settings, blob) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_records(settings, blob) == 0
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(file_id)


def test_a_batch_past_its_window_expires_with_its_unrun_lines_in_the_error_file(
        sdk: openai.OpenAI, settings: Settings, engine: FakeEngine) -> None:
    engine.delay = 0.2
    file_id, file_key = upload(sdk, [chat_line(f"w{i}") for i in range(30)])
    batch = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_headers={KEY_HEADER: file_key})
    with connect(settings).begin() as db:  # its 24 hours have passed
        db.execute(text("UPDATE batches SET expires_at = 0 WHERE id = :id"), {"id": batch.id})
    ended = wait_for_batch(sdk, batch.id, 30)
    assert ended.status == "expired" and ended.expired_at is not None
    errors = download(sdk, ended.error_file_id, file_key)
    expired = [e for e in errors.values() if e["error"]]
    assert expired and {e["error"]["code"] for e in expired} == {"batch_expired"}
    assert ended.request_counts.completed + ended.request_counts.failed == 30


def test_another_keys_files_and_batches_are_not_there(sdk: openai.OpenAI) -> None:
    batch, file_key = run_batch(sdk, [chat_line("mine")])
    http = sdk._client
    secret = http.post("/admin/v1/keys", json={"name": "other"},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["key"]
    other = openai.OpenAI(api_key=secret, base_url="http://testserver/v1", http_client=http, max_retries=0)
    for call in (lambda: other.batches.retrieve(batch.id), lambda: other.batches.cancel(batch.id),
                 lambda: other.files.retrieve(batch.output_file_id),
                 lambda: other.files.content(batch.output_file_id, extra_headers={KEY_HEADER: file_key}),
                 lambda: other.files.delete(batch.output_file_id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert other.batches.list().data == [] and other.files.list().data == []
    assert len(download(sdk, batch.output_file_id, file_key)) == 1  # still there for its owner


def test_a_file_over_the_limit_is_refused_as_it_arrives(settings: Settings, priced_catalog: Catalog,
                                                       engine: FakeEngine, meter: MeterCore,
                                                       prompt_guard: PromptGuard) -> None:
    app = build_asgi_app(settings.model_copy(update={"batch_max_file_bytes": 4096}), priced_catalog,
                         {"fake-chat": engine}, meter, guard=prompt_guard)
    with TestClient(app) as http:
        key = http.post("/admin/v1/keys", json={"name": "big"},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["key"]
        sdk = openai.OpenAI(api_key=key, base_url="http://testserver/v1", http_client=http, max_retries=0)
        with pytest.raises(openai.APIStatusError) as refused:
            sdk.files.create(file=("big.jsonl", io.BytesIO(jsonl([chat_line(str(i)) for i in range(100)]))),
                             purpose="batch")
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"


def test_a_batch_whose_key_is_revoked_stops_and_fails(sdk: openai.OpenAI, engine: FakeEngine,
                                                       settings: Settings) -> None:
    engine.delay = 0.3
    file_id, file_key = upload(sdk, [chat_line(f"v{i}") for i in range(20)])
    batch = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_headers={KEY_HEADER: file_key})
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    http = sdk._client
    key_id = next(k["id"] for k in http.get("/admin/v1/keys", headers=admin).json()["data"] if k["name"] == "batches")
    deadline = time.monotonic() + 30
    while sdk.batches.retrieve(batch.id).request_counts.completed < 1:  # type: ignore[union-attr]  # running
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert http.delete(f"/admin/v1/keys/{key_id}", headers=admin).is_success
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the revoked key cannot read its batch any more: the store says
        with connect(settings).connect() as db:
            row = db.execute(text("SELECT status, completed, failed, errors FROM batches WHERE id = :id"),
                             {"id": batch.id}).one()
        if row[0] not in {"validating", "in_progress"}:
            break
        time.sleep(0.2)
    status, completed, failed, errors = row
    assert status == "failed" and 1 <= completed < 20 and completed + failed == 20
    assert "api_key_revoked" in str(errors)
