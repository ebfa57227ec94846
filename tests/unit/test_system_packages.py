"""`make test`'s system packages: a missing one is installed, or named with how to get it; never a silent exit."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "support" / "system_packages.sh"


def run(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/bash", str(SCRIPT)], env={"PATH": path}, capture_output=True, text=True,
                          timeout=60, check=False)


def test_missing_packages_that_cannot_be_installed_are_named_with_the_command_to_install_them(tmp_path: Path) -> None:
    done = run(str(tmp_path))  # no espeak-ng, sox, chromium, apt-get or sudo on this PATH
    assert done.returncode == 1
    assert "missing: espeak-ng sox chromium" in done.stderr
    assert "sudo apt-get install espeak-ng sox chromium" in done.stderr


def test_nothing_is_installed_when_nothing_is_missing(tmp_path: Path) -> None:
    for command in ("espeak-ng", "sox", "chromium", "promtool"):
        (tmp_path / command).write_text("#!/bin/sh\n")
        (tmp_path / command).chmod(0o755)
    done = run(str(tmp_path))
    if "postgresql" in done.stderr:  # a machine without PostgreSQL's server: it must be named, alone
        assert done.returncode == 1 and "missing: postgresql" in done.stderr
    else:
        assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
