"""The catalogs' tool-calling settings name what vLLM and this repository have."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_app.catalog import Capability, load_catalog
from serve_app.catalog.schema import ModelEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("catalog", ["catalog.cpu.yaml", "catalog.gpu.yaml"])
def test_every_tool_parser_and_chat_template_exists(catalog: str) -> None:
    from vllm.tool_parsers import ToolParserManager

    from deployments.vllm_engine import read_chat_template

    entries = [entry for entry in load_catalog(ROOT / catalog).models if entry.supports(Capability.TOOLS)]
    assert entries
    for entry in entries:
        assert entry.tool_parser is not None
        ToolParserManager.get_tool_parser(entry.tool_parser)  # raises KeyError for an unknown name
        if entry.chat_template is not None:
            assert "tools" in (read_chat_template(entry.chat_template) or "")


def _entry(**fields: object) -> dict[str, object]:
    return {"id": "m", "family": "f", "engine": "vllm", "source": "s", "context_length": 8, **fields}


@pytest.mark.parametrize(("fields", "message"), [
    ({"capabilities": ["chat", "tools"]}, "needs a tool_parser"),
    ({"capabilities": ["completions", "tools"], "tool_parser": "hermes"}, "needs the chat capability"),
    ({"capabilities": ["chat"], "tool_parser": "hermes"}, "tools capability is not listed"),
])
def test_tools_settings_that_contradict_each_other_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelEntry.model_validate(_entry(**fields))
