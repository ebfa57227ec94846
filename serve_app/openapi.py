"""``GET /openapi.json``: the API's OpenAPI 3.1 description, built from the same pydantic schemas that
validate requests, so the description cannot drift from what the ingress accepts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from serve_app.admin import CreateKeyRequest, UpdateKeyRequest
from serve_app.apidocs import render_docs
from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.batches import apispec as batch_spec
from serve_app.batches.protocol import BatchCreateRequest
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.completions.protocol import CompletionRequest
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.organisations.model import CreateOrganisation, OrganisationFields
from serve_app.rerank.protocol import RERANK_PATHS, RerankCreateRequest
from serve_app.responses.protocol import ResponseCreateRequest
from serve_app.status.protocol import CreateIncidentUpdateRequest, CreateMaintenanceRequest, UpdateIncidentRequest

_ERROR = {"description": "OpenAI's error object", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/ErrorResponse"}}}}
_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
_JSON = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
_JSON_OR_CSV = {"description": "JSON, or CSV with `format=csv` (or `Accept: text/csv`)",
                "content": {"application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}}}}
# One server-sent event (OpenAPI 3.2's convention for `text/event-stream`): its `data` is a JSON chunk, an
# error object, or `[DONE]` at the end.
_EVENT = {"type": "object", "required": ["data"], "properties": {"data": {
    "type": "string", "description": "A JSON chunk, an error object, or `[DONE]` (the last event)."}}}
_STREAM_OR_JSON = {"description": "A JSON object, or server-sent events when `stream` is true",
                   "content": {"application/json": {"schema": {"type": "object"}},
                               "text/event-stream": {"schema": _EVENT}}}
_GENERATED = {**_STREAM_OR_JSON, "headers": {"x-llmaas-guardrail": {
    "description": "`flagged` when the prompt guard found a prompt injection and the key's guard mode is `flag` (in "
                   "`block` mode the request is a 400 with code `prompt_injection_detected`)",
    "schema": {"type": "string", "enum": ["flagged"]}}}}
_HEALTH = {"description": "`ok` (200) or `unavailable` (503): every model's state, those not up, and why", "content": {
    "application/json": {"schema": {"type": "object", "required": ["status", "models", "unavailable"], "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "models": {"type": "object", "additionalProperties": {"type": "string", "enum": ["up", "down", "starting"]}},
        "unavailable": {"type": "array", "items": {"type": "string"}},
        "reasons": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Only in a 503: a few words per model that is not up"}}}}}}
_TEXT_OR_JSON = {"description": "JSON for `json` and `verbose_json`; plain text for `text`, `srt` and `vtt`",
                 "content": {"application/json": {"schema": {"type": "object"}},
                             "text/plain": {"schema": {"type": "string"}}}}
_AUDIO_FILE = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
               "description": "The audio file: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav or webm."}
_KEY: list[dict[str, list[str]]] = [{"apiKey": []}]
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]


def _operation(summary: str, security: list[dict[str, list[str]]] | None, ok: dict[str, Any],
               body: type[BaseModel] | None = None, errors: tuple[int, ...] = (400, 401)) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **{str(c): _ERROR for c in errors}}}
    if security is not None:
        operation["security"] = security
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{body.__name__}"}}}}
    return operation


_AUDIO_BILLING = ("Billed by the audio's duration, in whole seconds rounded up (`usage.seconds`). The duration read "
                  "from the file's container is reserved against the key's `audio_minutes_per_month` at admission, "
                  "and the model transcribes no more than that; a request whose client disconnects is billed for "
                  "the audio the model transcribed (outcome `cancelled`).")
_AUDIO_ERRORS = {
    "400": {**_ERROR, "description": "OpenAI's error object. A bad file has `param` `file` and code `invalid_audio`, "
                                     "`empty_audio`, `audio_too_long` (beyond the model's `max_audio_seconds`) or "
                                     "`audio_duration_mismatch` (it decodes to more audio than its container says)"},
    "429": {**_ERROR, "description": "OpenAI's error object: a rate limit (`rate_limit_exceeded`), or the key's "
                                     "audio minutes or budget spent, this file's duration included "
                                     "(`insufficient_quota`)"},
}


_BOUNDS = ("Bounds on the body's shape, checked before any validation (400 `array_above_max_length`, `param` "
           "naming the array): at most `LLMAAS_MAX_MESSAGES` (2048) `messages`, `LLMAAS_MAX_CONTENT_PARTS` (512) "
           "content parts per message, 128 `tools`, 1000 rerank `documents`, 2048 items in a `prompt` or `input` "
           "list, and "
           "`LLMAAS_MAX_PROMPT_CHARS` token ids in all. Images: at most `LLMAAS_MAX_IMAGE_PIXELS` pixels, read from "
           "the header (400 `image_too_large`). A client address with more than 30 failed authentications a minute "
           "gets 429 `too_many_failed_authentications` for unknown keys.")


def _bounded(operation: dict[str, Any]) -> dict[str, Any]:
    return {**operation, "description": _BOUNDS}


def _audio_operation(summary: str, body: type[BaseModel]) -> dict[str, Any]:
    operation = _operation(summary, _KEY, _TEXT_OR_JSON, errors=(400, 401, 403, 404, 408, 413, 429, 500, 503))
    operation["description"] = _AUDIO_BILLING
    operation["responses"].update(_AUDIO_ERRORS)
    operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
        "$ref": f"#/components/schemas/{body.__name__}"}}}}
    return operation


def _with_file(schema: dict[str, Any]) -> dict[str, Any]:
    """A form's schema with the audio ``file`` part, which the pydantic model of its text fields leaves out.
    A form field cannot be ``null`` (a part holds text or a file): an optional field is left out instead."""
    fields = {name: _not_null(field) for name, field in schema["properties"].items()}
    return {**schema, "properties": {"file": _AUDIO_FILE, **fields}, "required": ["file", *schema.get("required", [])]}


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    members = [member for member in field.get("anyOf", []) if member != {"type": "null"}]
    if len(members) != 1:
        return field
    rest = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
    return {**rest, **members[0]}


def _sets_as_lists(schema: Any) -> Any:
    """Sets (``allowed_models``) take a list whose duplicates count once: ``uniqueItems`` would say that
    duplicates are refused."""
    if isinstance(schema, dict):
        return {key: _sets_as_lists(value) for key, value in schema.items() if key != "uniqueItems"}
    if isinstance(schema, list):
        return [_sets_as_lists(value) for value in schema]
    return schema


_STATUS_BODIES: list[type[BaseModel]] = [UpdateIncidentRequest, CreateIncidentUpdateRequest, CreateMaintenanceRequest]


def _status_paths() -> dict[str, Any]:
    """The status page, metrics, and the admin API of incidents and maintenance windows."""
    html = {"description": "The status page (HTML, no script, no external asset)",
            "content": {"text/html": {"schema": {"type": "string"}}}}
    text = {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    incident = [{"name": "incident_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    window = [{"name": "window_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/status": {"get": _operation("Public status page: models, uptime, TTFB, throughput, incidents", None, html,
                                      errors=())},
        "/status.json": {"get": _operation("The status page as data, with each model's availability per calendar month "
                                           "against the 99% SLO (`slo`, `models[].monthly`)", None, _JSON, errors=())},
        "/metrics": {"get": _operation("Cluster-wide metrics in Prometheus format (the nodes are scraped at most "
                                       "every 2 s)", None, text, errors=())},
        "/admin/v1/incidents/{incident_id}": {"patch": {
            **_operation("Set an incident's title", _ADMIN, _JSON, UpdateIncidentRequest, (400, 401, 404)),
            "parameters": incident}},
        "/admin/v1/incidents/{incident_id}/updates": {"post": {
            **_operation("Post an update on an incident", _ADMIN, _JSON, CreateIncidentUpdateRequest,
                         (400, 401, 404)), "parameters": incident}},
        "/admin/v1/maintenance": {
            "post": _operation("Schedule a maintenance window", _ADMIN, _JSON, CreateMaintenanceRequest),
            "get": _operation("Scheduled, current and recent maintenance windows", _ADMIN, _JSON, errors=(401,)),
        },
        "/admin/v1/maintenance/{window_id}": {"delete": {
            **_operation("End a maintenance window now (or cancel one not started)", _ADMIN, _JSON,
                         errors=(401, 404)), "parameters": window}},
    }


def _console_paths() -> dict[str, Any]:
    html = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
    redirect = {"description": "A redirect (to the issuer, or back to the console)"}
    query = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
             for name in ("organisation", "operator")]

    def page(summary: str, response: dict[str, Any] = html, status: str = "200") -> dict[str, Any]:
        return {"summary": summary, "responses": {status: response}}

    return {
        "/console": {"get": page("The console (a page of the platform's own, no asset from elsewhere)")},
        "/console/": {"get": page("Redirects to /console", redirect, "308")},
        "/console/static/{file}": {"get": {**page("The console's script and style sheet"), "parameters": [
            {"name": "file", "in": "path", "required": True, "schema": {"type": "string"}}]}},
        "/console/session": {"get": page("The signed-in session: role, organisation, CSRF token (401 when signed "
                                         "out)", _JSON)},
        "/console/login": {"get": {**page("Starts the OpenID Connect sign-in (code + PKCE) at the organisation's "
                                          "issuer (`organisation`), or the operator's (`operator=1`)", redirect, "302"),
                                   "parameters": query}},
        "/console/callback": {"get": page("The issuer's redirect back: checks state, nonce, the ID token and the "
                                          "organisation's rules, then opens a session", redirect, "303")},
        "/console/logout": {"post": page("Signs out (CSRF token as `x-csrf-token` or form field `csrf_token`)",
                                         redirect, "303")},
    }


def _organisation_paths() -> dict[str, Any]:
    org = [{"name": "organisation_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/admin/v1/me": {"get": _operation(
            "Who is signed in: `role` (`operator` or `organisation_admin`) and, for an organisation's administrator, "
            "the organisation", _ADMIN, _JSON, errors=(401, 403))},
        "/admin/v1/organisations": {
            "post": _operation("Create an organisation: contract (organisation-wide limits), its administrators' "
                               "OpenID Connect issuer and MFA rule, budget alerts (operators)", _ADMIN, _JSON,
                               CreateOrganisation, (400, 401, 403, 409)),
            "get": _operation("List organisations (an organisation's administrators see their own)", _ADMIN, _JSON,
                              errors=(401, 403)),
        },
        "/admin/v1/organisations/{organisation_id}": {
            "get": {**_operation("Retrieve an organisation (the SSO client secret is never shown)", _ADMIN, _JSON,
                                 errors=(401, 403, 404)), "parameters": org},
            "patch": {**_operation("Update an organisation (operators: any field; its administrators: `alerts`)",
                                   _ADMIN, _JSON, OrganisationFields, (400, 401, 403, 404)), "parameters": org},
        },
        "/admin/v1/organisations/{organisation_id}/budget": {"get": {**_operation(
            "The organisation's spend this month against its monthly budget, and the alerts fired", _ADMIN, _JSON,
            errors=(401, 403, 404)), "parameters": org}},
    }


def build_openapi() -> dict[str, Any]:
    bodies: list[type[BaseModel]] = [ChatCompletionRequest, CompletionRequest, ResponseCreateRequest,
                                     EmbeddingCreateRequest, RerankCreateRequest, BatchCreateRequest, CreateKeyRequest,
                                     UpdateKeyRequest, CreateOrganisation, OrganisationFields, *_STATUS_BODIES]
    forms: list[type[BaseModel]] = [CreateTranscriptionRequest, CreateTranslationRequest]
    _, schemas = models_json_schema([(m, "validation") for m in [*bodies, *forms]],
                                    ref_template="#/components/schemas/{model}")
    for form in forms:
        schemas["$defs"][form.__name__] = _with_file(schemas["$defs"][form.__name__])
    schemas = _sets_as_lists(schemas)
    model_param = [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}]
    key_param = [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    period = [{"name": name, "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
               "description": f"{name} (UTC day, inclusive); default: the current month"}
              for name in ("start_date", "end_date")]
    usage_filters = [*period, *({"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                                for name in ("key_id", "model", "organisation")),
                     {"name": "group_by", "in": "query", "required": False, "schema": {"type": "string"},
                      "description": "Comma-separated: key_id, model, day, endpoint, organisation_id (default "
                                     "key_id,model)"},
                     {"name": "format", "in": "query", "required": False,
                      "schema": {"type": "string", "enum": ["json", "csv"]}}]
    # 503: the metering actor did not answer, or the database cannot be reached (README, "When the database is down")
    limited = (400, 401, 403, 404, 408, 413, 429, 500, 503)
    paths: dict[str, Any] = {
        "/v1/models": {"get": _operation("List the catalog's models", _KEY, _JSON, errors=(401, 503))},
        "/v1/models/{model}": {"get": {**_operation("Retrieve a model", _KEY, _JSON, errors=(401, 404, 503)),
                                       "parameters": model_param}},
        "/v1/chat/completions": {"post": _bounded(_operation("Create a chat completion", _KEY, _GENERATED,
                                                             ChatCompletionRequest, (*limited, 504)))},
        "/v1/completions": {"post": _bounded(_operation("Create a completion", _KEY, _GENERATED, CompletionRequest,
                                                        (*limited, 504)))},
        "/v1/responses": {"post": _bounded(_operation(
            "Create a model response (OpenAI's Responses API, stateless: `store` is always false, "
            "`previous_response_id` a 400)", _KEY, _GENERATED, ResponseCreateRequest, (*limited, 504)))},
        "/v1/embeddings": {"post": _bounded(_operation("Create embeddings", _KEY, _JSON, EmbeddingCreateRequest,
                                                       limited))},
        **{path: {"post": {**_bounded(_operation(
            "Rerank documents by relevance to a query (Cohere's shape: `results` sorted, each with `index` and "
            "`relevance_score` from 0 to 1)", _KEY, _JSON, RerankCreateRequest, limited))}} for path in RERANK_PATHS},
        "/v1/audio/transcriptions": {"post": _audio_operation("Transcribe audio", CreateTranscriptionRequest)},
        "/v1/audio/translations": {"post": _audio_operation("Translate audio into English",
                                                             CreateTranslationRequest)},
        "/lifecycle": {"get": _operation("The published lifecycle: every model's dates, upcoming retirements",
                                         None, _JSON, errors=())},
        "/health": {"get": {"summary": "Health of every catalog model, from checks made in the background (answers "
                                       "at once)", "responses": {"200": _HEALTH, "503": _HEALTH}}},
        "/openapi.json": {"get": _operation("This description (OpenAPI 3.1)", None, _JSON, errors=())},
        "/docs": {"get": _operation("The API reference as an HTML page (no script)", None, {
            "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, errors=())},
        "/admin/v1/keys": {
            "post": _operation("Create an API key (the secret is returned once) in an organisation (an organisation's "
                               "administrators: their own), its quotas within the organisation's contract", _ADMIN,
                               _JSON, CreateKeyRequest, (400, 401, 403, 404)),
            "get": {**_operation("List API keys, without secrets (an organisation's administrators: their own)",
                                 _ADMIN, _JSON, errors=(401, 404)), "parameters": [
                {"name": "organisation", "in": "query", "required": False, "schema": {"type": "string"}}]},
        },
        "/admin/v1/keys/{key_id}": {
            "get": {**_operation("Retrieve an API key", _ADMIN, _JSON, errors=(401, 404)), "parameters": key_param},
            "post": {**_operation("Update a key's name, owner, tier or quota overrides", _ADMIN, _JSON,
                                  UpdateKeyRequest, (400, 401, 403, 404)), "parameters": key_param},
            "patch": {**_operation("Update a key (as POST)", _ADMIN, _JSON, UpdateKeyRequest, (400, 401, 403, 404)),
                      "parameters": key_param},
            "delete": {**_operation("Revoke an API key", _ADMIN, _JSON, errors=(401, 404)), "parameters": key_param},
        },
        "/admin/v1/keys/{key_id}/rotate": {"post": {
            **_operation("Rotate a key: a new secret, same id and history", _ADMIN, _JSON, errors=(400, 401, 404)),
            "parameters": key_param}},
        "/admin/v1/audit": {"get": {**_operation(
            "The audit log of admin actions, newest first: who (`admin-token`, or the JWT's issuer and email or "
            "subject), what (method and route), when, from where, on what (ids), in which organisation; never a "
            "secret or a body. Operators see all; an organisation's administrators their own", _ADMIN,
            _JSON, errors=(400, 401, 404)), "parameters": [
                {"name": "organisation", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                               "maximum": 1000}},
                {"name": "before", "in": "query", "required": False, "schema": {"type": "number"},
                 "description": "Entries before this UNIX time (the next page)"}]}},
        "/v1/usage": {"get": {**_operation("The calling key's usage: totals, per model, per day, budget", _KEY,
                                           _JSON, errors=(400, 401, 503)), "parameters": period}},
        "/admin/v1/usage": {"get": {**_operation("Usage of every key, filtered and grouped (JSON or CSV); an "
                                                 "organisation's administrators see their own", _ADMIN, _JSON_OR_CSV,
                                                 errors=(400, 401, 403, 404, 503)), "parameters": usage_filters}},
    }
    paths.update(_organisation_paths())
    paths.update(_console_paths())
    paths.update(_status_paths())
    paths.update(batch_spec.paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "llmaas", "version": "0.1.0",
                 "description": "An OpenAI-compatible API over the operator's catalog of open models. Every "
                                "response carries `x-request-id`, the platform's own id of the request (`req_` and 32 "
                                "hex digits, fresh for every request); a client's `X-Client-Request-Id` (or "
                                "`X-Request-ID`), printable ASCII of at most 512 characters, is only echoed in "
                                "`x-client-request-id`."},
        "paths": paths,
        "components": {
            "schemas": {**schemas.get("$defs", {}), "ErrorResponse": _ERROR_SCHEMA,
                        "BatchFile": batch_spec.FILE_OBJECT},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key, sk-..."},
                                "adminToken": {"type": "http", "scheme": "bearer",
                                               "description": "LLMAAS_ADMIN_TOKEN, or a JWT from the OIDC issuer"}},
        },
    }


# The docs page loads nothing: no script, no style sheet, no image from anywhere.
DOCS_HEADERS = {"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"}


def routes() -> list[Route]:
    document = build_openapi()
    page = render_docs(document)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers=DOCS_HEADERS)

    return [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]
