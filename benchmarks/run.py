"""The platform against the bare engines, in one run: chat (vLLM), embeddings, transcription.

    .venv/bin/python -m benchmarks                      # everything, ~10-15 min on 2 cores
    .venv/bin/python -m benchmarks --quick              # a short run: fewer, shorter requests
    .venv/bin/python -m benchmarks --families chat --concurrency 1 4 16 64 --rate 0.5 1

First the bare engines, one after the other: vLLM's OpenAI server (then LiteLLM's proxy in front of it),
then sentence-transformers (then the embeddings peer: vLLM's OpenAI server with its pooling runner on the
same folder) and faster-whisper, each in a subprocess. Then the platform (Ray Serve, the ingress with
API-key auth, one model deployment at a time) gets the same requests, and Ray Serve LLM's OpenAI app
after the platform's chat levels, on the same Ray cluster. Writes JSON and a PNG under
benchmarks/results/ and the tables into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    chat,
    embeddings,
    litellm_peer,
    paired,
    plot,
    profile,
    rayllm_peer,
    report,
    servers,
    stats,
    transcription,
    vllm_embed_peer,
    workload,
)
from benchmarks.stamp import stamp
from serve_app.catalog import EMBEDDING_ENGINES, Catalog, ModelEntry, load_catalog

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("chat", "embeddings", "transcription")
CHAT_PEERS = {"litellm": lambda: litellm_peer.available(ROOT), "rayllm": rayllm_peer.available}
EMBEDDING_PEERS = {vllm_embed_peer.NAME: vllm_embed_peer.available}
PEERS = {**CHAT_PEERS, **EMBEDDING_PEERS}
QUICK = {"concurrency": [1, 4], "rate": [], "requests": 4, "max_tokens": 32, "prompt_tokens": 128,
         "embedding_inputs": 128, "embedding_levels": ["1x8", "32x2"], "audio_repeats": 1, "pairs": 8}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    add("--catalog", type=Path, default=ROOT / "catalog.cpu.yaml")
    add("--models-dir", type=Path, default=ROOT / ".models")
    add("--chat-model", default="SmolLM2-135M-Instruct")
    add("--embedding-model", default="all-MiniLM-L6-v2")
    add("--transcription-model", default="whisper-base")
    add("--concurrency", type=int, nargs="*", default=[1, 4, 16, 64], help="closed-loop levels: concurrent streams")
    add("--rate", type=float, nargs="*", default=[0.5], help="open-loop levels: Poisson arrivals per second")
    add("--requests", type=int, default=16, help="requests per chat level (closed loops: at least 2 per stream)")
    add("--prompt-tokens", type=int, default=256, help="mean prompt length")
    add("--length-spread", type=float, default=0.5, help="prompt lengths uniform in mean * (1 +- spread)")
    add("--max-tokens", type=int, default=128, help="output tokens asked per chat request")
    add("--pairs", type=int, default=40, help="paired TTFT at c=1: requests to each system, both up at once, "
        "alternating (0: none)")
    add("--embedding-inputs", type=int, default=512)
    add("--embedding-levels", nargs="+", default=["1x16", "32x4"], help="INPUTS_PER_REQUESTxCONCURRENCY")
    add("--audio-repeats", type=int, default=2, help="how many times each clip is transcribed per level")
    add("--transcription-concurrency", type=int, nargs="+", default=[1])
    add("--peers", nargs="*", choices=sorted(PEERS), default=None, help="peers in the same run: for chat LiteLLM's "
        "proxy in front of bare vLLM and Ray Serve LLM's OpenAI app, for embeddings vLLM's OpenAI server with its "
        "pooling runner (default: those installed; `make bench-peers` builds LiteLLM's virtualenv)")
    add("--seed", type=int, default=0)
    add("--quick", action="store_true", help="short levels for a smoke run: " + json.dumps(QUICK))
    add("--entry", choices=["direct", "proxy"], default="direct",
        help="reach the platform on its ingress replica's own port (Serve's direct ingress, on with "
        "RAY_SERVE_THROUGHPUT_OPTIMIZED=1) or through Serve's proxy")
    add("--profile", action="store_true", help="py-spy the platform's replicas during its chat levels "
        "(slows them: do not quote those figures)")
    add("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    add("--readme", type=Path, default=ROOT / "benchmarks" / "README.md", help="where the tables go")
    add("--no-readme", dest="readme", action="store_const", const=None, help="leave the README alone")
    args = parser.parse_args(argv)
    if args.peers is None:
        args.peers = [name for name, installed in PEERS.items() if installed()]
    if args.quick:
        defaults = {name: parser.get_default(name) for name in QUICK}
        for name, value in QUICK.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    return args


def entry(catalog: Catalog, model_id: str, *engines: str) -> ModelEntry:
    found = catalog.get(model_id)
    if found is None or found.engine not in engines:
        raise SystemExit(f"{model_id} is not a {' or '.join(engines)} model of the catalog")
    return found


class Bench:
    """One run: the plan from the arguments, the bare phase, the platform phase, the results."""

    def __init__(self, args: argparse.Namespace, clips_dir: Path) -> None:
        self.args = args
        catalog = load_catalog(args.catalog)
        self.entries = {"chat": entry(catalog, args.chat_model, "vllm"),
                        "embeddings": entry(catalog, args.embedding_model, *EMBEDDING_ENGINES),
                        "transcription": entry(catalog, args.transcription_model, "faster-whisper")}
        self.families = [family for family in FAMILIES if family in args.families]
        self.work = chat.Workload(args.chat_model, args.prompt_tokens, args.length_spread, args.max_tokens, args.seed)
        self.chat_plan = chat.levels(args.concurrency, args.rate, args.requests)
        self.embedding_plan = [embeddings.parse_level(text) for text in args.embedding_levels]
        self.inputs = workload.embedding_inputs(args.embedding_inputs, args.seed)
        self.clips = workload.audio_clips(clips_dir) * args.audio_repeats if "transcription" in self.families else []
        self.results: dict[str, Any] = {}
        self.stem = "bench-" + time.strftime("%Y%m%dT%H%M%S")

    def family(self, name: str) -> dict[str, Any]:
        model = self.entries[name]
        return self.results.setdefault(name, {"model": model.id, "engine": model.engine,
                                              "engine_args": model.engine_args, "engine_env": model.engine_env})

    def _chat(self, system: str, measured: chat.Measured) -> None:
        family = self.family("chat")
        family[system] = measured.levels
        family.setdefault("idle_cpu_cores", {})[system] = measured.idle_cpu_cores
        family.setdefault("short_requests", {})[system] = measured.short_requests

    def bare(self) -> None:
        models_dir = self.args.models_dir
        if "chat" in self.families:
            with servers.bare_vllm(self.entries["chat"], models_dir) as base_url:
                self._chat("bare", chat.measure("bare", base_url, "none", self.work, self.chat_plan))
            if "litellm" in self.args.peers:  # a vLLM server of its own: the first one's prefix cache holds the prompts
                with (servers.bare_vllm(self.entries["chat"], models_dir) as upstream,
                      litellm_peer.proxy(ROOT, self.entries["chat"].id, upstream) as (proxy_url, key)):
                    self._chat("litellm", chat.measure("litellm", proxy_url, key, self.work, self.chat_plan))
        if "embeddings" in self.families:
            self.family("embeddings")["bare"] = embeddings.measure_bare(self.entries["embeddings"], models_dir,
                                                                        self.inputs, self.embedding_plan)
            self._embedding_peers()
        if "transcription" in self.families:
            self.family("transcription")["bare"] = transcription.measure_bare(self.entries["transcription"],
                                                                              models_dir, self.clips)

    def _embedding_peers(self) -> None:
        model = self.entries["embeddings"]
        if vllm_embed_peer.NAME in self.args.peers:
            with vllm_embed_peer.server(model, self.args.models_dir) as base_url:
                self.family("embeddings")[vllm_embed_peer.NAME] = embeddings.measure_server(
                    vllm_embed_peer.NAME, base_url, "none", model.id, self.inputs, self.embedding_plan)

    def platform(self) -> None:
        with servers.platform(ROOT, self.args.models_dir) as running:
            for name in self.families:
                api_key = running.deploy(Catalog(models=[self.entries[name]]))
                base_url = self._entry(name, running.base_url)
                if name == "chat":
                    with self._profiled():
                        self._chat("platform", chat.measure("platform", base_url, api_key, self.work,
                                                            self.chat_plan))
                    self._paired(base_url, api_key)
                    self._rayllm(running)
                elif name == "embeddings":
                    self.family(name)["platform"] = embeddings.measure_platform(
                        base_url, api_key, self.entries[name].id, self.inputs, self.embedding_plan)
                else:
                    self.family(name)["platform"] = transcription.measure_platform(
                        base_url, api_key, self.entries[name].id, self.clips, self.args.transcription_concurrency)

    def _paired(self, platform_url: str, api_key: str) -> None:
        """TTFT at c=1 with bare vLLM started beside the platform, requests alternating (benchmarks/paired.py)."""
        if self.args.pairs <= 0:
            return
        with servers.bare_vllm(self.entries["chat"], self.args.models_dir) as bare_url:
            self.family("chat")["paired"] = paired.measure(bare_url, platform_url, api_key, self.work,
                                                           self.args.pairs)

    def _rayllm(self, running: servers.Platform) -> None:
        """Ray Serve LLM's OpenAI app in the platform's place on the same cluster, reached the same way."""
        if "rayllm" not in self.args.peers:
            return
        running.remove()
        rayllm_peer.deploy(self.entries["chat"], self.args.models_dir)
        try:
            direct = (servers.direct_ingress_url(rayllm_peer.APP_NAME, rayllm_peer.INGRESS_DEPLOYMENT)
                      if self.args.entry == "direct" else None)
            base_url = direct or running.base_url
            servers.wait_ready(f"{base_url}/v1/models")
            self._chat("rayllm", chat.measure("rayllm", base_url, "none", self.work, self.chat_plan))
        finally:
            rayllm_peer.delete()

    def _entry(self, family: str, proxy_url: str) -> str:
        """Where the client reaches the platform: the ingress replica's own port, or Serve's proxy."""
        direct = servers.direct_ingress_url(servers.APP_NAME) if self.args.entry == "direct" else None
        if direct:
            servers.wait_ready(f"{direct}/health")
        self.family(family)["platform_entry"] = "direct ingress" if direct else "Serve proxy"
        return direct or proxy_url

    def _profiled(self) -> contextlib.AbstractContextManager[object]:
        if not self.args.profile:
            return contextlib.nullcontext()
        pids = servers.replica_pids(servers.APP_NAME)
        return profile.recording(pids, self.args.results_dir / "profiles", self.stem)

    def ratios(self) -> None:
        if "chat" in self.results:
            family = self.results["chat"]
            family["ratios"] = {bare["load"]: stats.compare(bare, ours)
                                for bare, ours in zip(family["bare"], family["platform"], strict=True)}
            family["peer_ratios"] = {peer: {theirs["load"]: stats.compare(theirs, ours)
                                            for theirs, ours in zip(family[peer], family["platform"], strict=True)}
                                     for peer in CHAT_PEERS if family.get(peer)}
        if "embeddings" in self.results:
            family = self.results["embeddings"]
            family["inputs"] = len(self.inputs)
            family["ratios"] = {ours["load"]: stats.ratio(ours["units_per_s"], bare["units_per_s"])
                                for bare, ours in zip(family["bare"], family["platform"], strict=True)}
            family["peer_ratios"] = {peer: {ours["load"]: stats.ratio(ours["units_per_s"], theirs["units_per_s"])
                                            for theirs, ours in zip(family[peer], family["platform"], strict=True)}
                                     for peer in EMBEDDING_PEERS if family.get(peer)}
        if "transcription" in self.results:
            family = self.results["transcription"]
            family["audio_seconds"] = sum(clip.seconds for clip in self.clips)
            family["ratios"] = {ours["load"]: stats.ratio(ours["units_per_s"], family["bare"]["units_per_s"])
                                for ours in family["platform"]}
        self.results["targets"] = report.targets(self.results)


def _settings(args: argparse.Namespace) -> dict[str, object]:
    skip = {"catalog", "models_dir", "results_dir", "readme", "quick", "families"}
    settings = {name: value for name, value in vars(args).items() if name not in skip}
    return {"families": args.families, "catalog": args.catalog.name, **settings}


def _finite(value: Any) -> Any:
    """The results with NaN as null (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    started = dt.datetime.now(dt.UTC)
    load_average = {"start": os.getloadavg()[0]}  # other work on the machine skews the figures: record it
    with tempfile.TemporaryDirectory(prefix="llmaas-bench-audio-") as clips_dir:
        bench = Bench(args, Path(clips_dir))
        bench.bare()
        load_average["after_bare"] = os.getloadavg()[0]
        bench.platform()
    load_average["end"] = os.getloadavg()[0]
    bench.ratios()
    results = {"started_at": started.isoformat(timespec="seconds"),
               "duration_s": (dt.datetime.now(dt.UTC) - started).total_seconds(), "load_average": load_average,
               "stamp": stamp(ROOT, _settings(args), shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])),
               **bench.results}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    plot_file = None
    if "chat" in results:
        cores = results["stamp"]["machine"]["cores"]
        title = f"{results['chat']['model']}: platform vs bare vLLM and peers ({cores} cores)"
        plot_file = plot.plot_chat(results["chat"], title, args.results_dir / f"{bench.stem}.png")
    (args.results_dir / f"{bench.stem}.json").write_text(json.dumps(_finite(results), indent=2) + "\n")
    text = report.markdown(results, os.path.relpath(plot_file, args.readme.parent) if plot_file and args.readme
                           else None)
    print(text)
    if args.readme:
        args.readme.write_text(report.replace_section(args.readme.read_text(), text))
    if args.profile:
        folded = sorted((args.results_dir / "profiles").glob(f"{bench.stem}-*.folded"))
        for summary_file in profile.summarize_files(folded):
            print(f"profile: {summary_file}")
