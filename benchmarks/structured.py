"""What tool calls and structured outputs cost, against bare vLLM's OpenAI server with the same options.

1. Per-chunk cost of reading tool calls in the replica (no engine, in-process): the replica's output reader fed
   a Hermes tool call token by token, with ``tool_choice`` auto (vLLM's hermes parser), required, a named
   function, and without tools (the plain path), in microseconds per chunk.
2. Tokens/s with structured outputs, sequential requests, same run: bare vLLM (``--chat-template`` the catalog's,
   ``--enable-auto-tool-choice --tool-call-parser hermes``) and then the platform, each with a
   ``response_format`` JSON schema, with a forced (named) tool call, and plain (no constraint) for reference.
   Completion tokens over wall time per request, and the ratio platform / bare.

    .venv/bin/python -m benchmarks.structured --requests 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.servers import bare_vllm, platform
from benchmarks.stamp import stamp
from serve_app.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[1]
MODEL = "SmolLM2-135M-Instruct"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
                   "required": ["city"]}}}
CITY_SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                                "country": {"type": "string", "maxLength": 40}},
               "required": ["name", "country"], "additionalProperties": False}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
MODES: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Describe a city in France."}]},  # the same, unconstrained
    "json_schema": {"messages": [{"role": "user", "content": "Describe a city in France."}],
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True}}},
    "named_tool": {"messages": ASK, "tools": [WEATHER],
                   "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
}
CALL_TEXT = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", '
             '"details": "hourly forecast for the next three days"}}\n</tool_call>')


def parsing_cost(repeats: int) -> dict[str, float]:
    """Microseconds per chunk spent reading each token of a tool call, by ``tool_choice``."""
    from transformers import AutoTokenizer

    from deployments.llm_protocol import GenerationRequest, SamplingOptions, ToolCalling
    from deployments.output_reader import OutputReader

    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / ".models" / MODEL))
    ids = tokenizer.encode(CALL_TEXT, add_special_tokens=False)
    pieces = [(str(tokenizer.decode([token_id])), [token_id]) for token_id in ids]
    choices: dict[str, ToolCalling | None] = {
        "no tools": None, "auto (hermes parser)": ToolCalling([WEATHER], "auto"),
        "required": ToolCalling([WEATHER], "required"),
        "named": ToolCalling([WEATHER], {"type": "function", "function": {"name": "get_weather"}})}
    costs = {}
    for label, tools in choices.items():
        samples = []
        for _ in range(repeats):
            request = GenerationRequest("r", SamplingOptions(), messages=ASK, tools=tools)
            reader = OutputReader(request, MODEL, "hermes", None, tokenizer)
            started = time.perf_counter()
            for position, (text, token_ids) in enumerate(pieces, start=1):
                reader.delta(0, text, token_ids, "stop" if position == len(pieces) else None, ())
            samples.append((time.perf_counter() - started) / len(pieces) * 1e6)
        costs[label] = statistics.median(samples)
    return costs


def tokens_per_second(base_url: str, api_key: str, requests: int) -> dict[str, float]:
    """Median completion tokens per second of one request at a time, by mode."""
    result = {}
    with httpx.Client(base_url=base_url, timeout=300, headers={"Authorization": f"Bearer {api_key}"}) as http:
        for mode, fields in MODES.items():
            rates = []
            for index in range(requests + 2):
                body = {"model": MODEL, "max_tokens": 64, "temperature": 0.7, "seed": index, **fields}
                started = time.perf_counter()
                response = http.post("/v1/chat/completions", json=body)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if index >= 2:  # the first two warm up (grammar compilation, caches)
                    rates.append(response.json()["usage"]["completion_tokens"] / elapsed)
            result[mode] = statistics.median(rates)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="requests per mode and system")
    parser.add_argument("--repeats", type=int, default=50, help="tool-call streams read per tool_choice")
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "structured.json")
    args = parser.parse_args()
    parsing = parsing_cost(args.repeats)
    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    entry = next(model for model in catalog.models if model.id == MODEL)
    template = ROOT / "deployments" / "chat_templates" / str(entry.chat_template)
    flags = ["--chat-template", str(template), "--enable-auto-tool-choice",
             "--tool-call-parser", str(entry.tool_parser)]
    if entry.chat_template_kwargs:
        flags += ["--default-chat-template-kwargs", json.dumps(entry.chat_template_kwargs)]
    with bare_vllm(entry, args.models_dir.resolve(), flags) as bare_url:
        bare = tokens_per_second(bare_url, "none", args.requests)
    with platform(ROOT, args.models_dir.resolve()) as running:
        secret = running.deploy(Catalog(models=[entry]))
        ours = tokens_per_second(running.base_url, secret, args.requests)
    ratios = {mode: ours[mode] / bare[mode] for mode in MODES}
    result = {**stamp(ROOT, {"model": MODEL, "requests": args.requests, "max_tokens": 64, "concurrency": 1},
                      "python -m benchmarks.structured"),
              "tool_call_reading_us_per_chunk": parsing,
              "tokens_per_second": {"bare_vllm": bare, "platform": ours}, "platform_over_bare": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("tool-call reading, us per chunk:", ", ".join(f"{k} {v:.1f}" for k, v in parsing.items()))
    for mode in MODES:
        print(f"{mode:>12}: bare {bare[mode]:.1f} tok/s, platform {ours[mode]:.1f} tok/s, ratio {ratios[mode]:.2f}")


if __name__ == "__main__":
    main()
