"""Every detection rule, by family."""

from __future__ import annotations

from serve_app.guardrails.rule import Rule
from serve_app.guardrails.rules import extraction, override, roleplay, smuggling

ALL_RULES: tuple[Rule, ...] = (
    *override.RULES, *extraction.RULES, *roleplay.RULES, *smuggling.TEMPLATE_RULES, *smuggling.TOOL_RULES,
    *smuggling.INDIRECT_RULES, *smuggling.OBFUSCATION_RULES, *smuggling.COMPACT_RULES,
)
