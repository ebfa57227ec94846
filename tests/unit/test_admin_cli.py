"""`make key` (serve_app.admin_cli) and what `make serve` prints once healthy (serve_app.welcome)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_app.admin_cli import create_key, main
from serve_app.settings import Settings
from serve_app.welcome import banner


def test_a_key_needs_the_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert create_key(Settings(), "my-app", None, None) == 2
    assert "LLMAAS_ADMIN_TOKEN" in capsys.readouterr().err


def test_a_platform_that_does_not_answer_is_named(capsys: pytest.CaptureFixture[str], unused_port: int) -> None:
    settings = Settings(admin_token="t", http_port=unused_port)
    assert create_key(settings, "my-app", None, None) == 1
    assert f"does not answer at http://127.0.0.1:{unused_port}" in capsys.readouterr().err


def test_the_command_line_reads_the_name_and_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, str | None, str | None]] = []
    monkeypatch.setattr("serve_app.admin_cli.create_key", lambda settings, *args: calls.append(args) or 0)
    assert main(["create-key", "my-app", "--tier", "business"]) == 0
    assert main(["create-key", "acme-app", "--organisation", "org_acme"]) == 0
    assert calls == [("my-app", "business", None, None), ("acme-app", None, None, "org_acme")]


def test_the_banner_says_where_everything_is() -> None:
    text = banner(Settings(admin_token="t", http_port=8123, catalog=Path("catalog.cpu.yaml")))
    for line in ("http://127.0.0.1:8123/v1", "http://127.0.0.1:8123/docs", "http://127.0.0.1:8123/status",
                 "make key NAME=my-app"):
        assert line in text
    assert "set LLMAAS_ADMIN_TOKEN" in banner(Settings())


def test_the_platforms_own_address_follows_host_port_and_tls(tmp_path: Path) -> None:
    assert Settings().own_url == "http://127.0.0.1:8000"
    assert Settings(http_host="0.0.0.0", http_port=9000).own_url == "http://127.0.0.1:9000"
    assert Settings(http_host="::1").own_url == "http://[::1]:8000"
    with_tls = Settings(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    assert with_tls.own_url == "https://127.0.0.1:8000"


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
