"""``GET /docs``: the API reference as one HTML page, rendered on the server from the OpenAPI description.

No script and no external asset (a sovereign platform's docs load nothing from the internet): every
operation with its authentication, parameters, request body fields and their bounds, and responses.
"""

from __future__ import annotations

from html import escape
from typing import Any

SECURITY = {"apiKey": "API key (<code>Authorization: Bearer sk-...</code>)",
            "adminToken": "admin token or OIDC JWT (<code>Authorization: Bearer ...</code>)"}
CONSTRAINTS = {"minimum": "&ge; {}", "maximum": "&le; {}", "exclusiveMinimum": "&gt; {}", "exclusiveMaximum": "&lt; {}",
               "minLength": "at least {} characters", "maxLength": "at most {} characters",
               "minItems": "at least {} items", "maxItems": "at most {} items", "maxProperties": "at most {} entries",
               "pattern": "matches <code>{}</code>", "default": "default <code>{}</code>"}
STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.op{border-top:2px solid #444;margin-top:1.5rem}.method{font-weight:bold;text-transform:uppercase}"""


def render_docs(document: dict[str, Any]) -> str:
    info = document["info"]
    operations = [(path, method, operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    toc = "".join(f'<li><a href="#{_anchor(method, path)}"><span class="method">{method}</span> {escape(path)}</a>'
                  f" &mdash; {escape(op.get('summary', ''))}</li>" for path, method, op in operations)
    body = "".join(_operation(path, method, op) for path, method, op in operations)
    schemas = "".join(_schema_section(name, schema)
                      for name, schema in document["components"]["schemas"].items())
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(info['title'])} API</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(info['title'])} API {escape(info['version'])}</h1>"
            f"<p>{escape(info.get('description', ''))} The machine-readable description is "
            f'<a href="/openapi.json">/openapi.json</a> (OpenAPI {escape(document["openapi"])}). Errors are '
            "OpenAI's error object, <code>{\"error\": {\"message\", \"type\", \"param\", \"code\"}}</code>.</p>"
            f"<h2>Operations</h2><ul>{toc}</ul>{body}<h2>Schemas</h2>{schemas}</body></html>")


def _anchor(method: str, path: str) -> str:
    return method + "-" + "".join(c if c.isalnum() else "-" for c in path).strip("-")


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    security = operation.get("security")
    auth = " or ".join(SECURITY.get(name, escape(name)) for item in security for name in item) if security else "none"
    parts = [f'<div class="op" id="{_anchor(method, path)}"><h3><span class="method">{method}</span> '
             f"<code>{escape(path)}</code></h3><p>{escape(operation.get('summary', ''))}</p>"
             f"<p>Authentication: {auth}</p>"]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
                       f"<td>{_type(p.get('schema', {}))}</td><td>{'yes' if p.get('required') else 'no'}</td>"
                       f"<td>{escape(p.get('description', ''))}</td></tr>" for p in parameters)
        parts.append("<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th>"
                     f"<th>Description</th></tr>{rows}</table>")
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        parts.append(f"<h4>Request body</h4><p><code>{escape(media_type)}</code>: {_type(content['schema'])}</p>")
    responses = ", ".join(f"<code>{escape(code)}</code> {escape(r.get('description', ''))}"
                          for code, r in operation.get("responses", {}).items())
    parts.append(f"<p>Responses: {responses}</p></div>")
    return "".join(parts)


def _schema_section(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(f"<tr><td><code>{escape(field)}</code></td><td>{_type(prop)}</td>"
                   f"<td>{'yes' if field in required else 'no'}</td><td>{_constraints(prop)}</td>"
                   f"<td>{escape(prop.get('description', ''))}</td></tr>"
                   for field, prop in schema.get("properties", {}).items())
    extra = "" if schema.get("additionalProperties", True) is not False else " Other fields are refused (400)."
    table = ("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Bounds</th><th>Description</th></tr>"
             f"{rows}</table>") if rows else ""
    return (f'<div id="schema-{escape(name)}"><h3>{escape(name)}</h3><p>{escape(schema.get("description", ""))}'
            f"{extra}</p>{table}</div>")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = escape(schema["$ref"].rsplit("/", 1)[-1])
        return f'<a href="#schema-{name}">{name}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(member) for member in schema[key])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(_json(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(_json(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    if isinstance(kind, list):
        kind = " | ".join(kind)
    return escape(f"{kind} ({schema['format']})" if "format" in schema else str(kind))


def _constraints(schema: dict[str, Any]) -> str:
    found = [text.format(escape(_json(schema[key]))) for key, text in CONSTRAINTS.items() if key in schema]
    for member in schema.get("anyOf", []):
        found += [text.format(escape(_json(member[key]))) for key, text in CONSTRAINTS.items() if key in member]
    return ", ".join(found)


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
