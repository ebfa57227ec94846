"""vLLM's OpenAI server with its pooling runner on the embeddings model's folder: a peer in ``python -m benchmarks``.

The server an operator would start instead of the platform to serve the same sentence-transformers folder
(``python -m vllm.entrypoints.openai.api_server --model DIR --runner pooling``; vLLM reads the folder's
``modules.json`` for the pooling and normalisation, as sentence-transformers does). It gets the catalog entry's
folder, context length (``--max-model-len``) and environment (its threads); on CPU, vLLM's CPU settings as the
catalog's chat models run (float32, eager mode, the KV cache size, loopback sockets, the in-process engine
core); on a GPU, vLLM's defaults. No keys. Started in the bare phase, alone on the machine, like the others.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.servers import free_port, stop, wait_ready
from serve_app.catalog import ModelEntry

NAME = "vllm-pooling"
CPU_FLAGS = ("--dtype", "float32", "--enforce-eager")
CPU_ENV = {  # as catalog.cpu.yaml's x-cpu-env runs vLLM
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_NO_USAGE_STATS": "1",
}


def available() -> bool:
    """Whether vLLM is installed (found without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def command(entry: ModelEntry, models_dir: Path, port: int) -> list[str]:
    """The server's command line for the catalog entry."""
    on_cpu = not entry.resources.num_gpus
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(models_dir / entry.source),
            "--runner", "pooling", "--served-model-name", entry.id, "--max-model-len", str(entry.context_length),
            "--disable-log-stats", *(CPU_FLAGS if on_cpu else ()), "--host", "127.0.0.1", "--port", str(port)]


def environment(entry: ModelEntry) -> dict[str, str]:
    """What the server gets on top of the harness's environment: vLLM's CPU settings on CPU, then the entry's."""
    return {**(CPU_ENV if not entry.resources.num_gpus else {}), **entry.engine_env}


@contextmanager
def server(entry: ModelEntry, models_dir: Path) -> Iterator[str]:
    """The server on a free port until the block ends; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(command(entry, models_dir, port), env={**os.environ, **environment(entry)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
