"""Prompt-injection guardrails: normalisation, then multilingual detection, before the engine.

    guard = PromptGuard()                          # once per ingress replica
    verdict = guard.inspect([("system", ...), ("user", ...)])
    verdict.detected, verdict.categories, verdict.score

See :mod:`serve_app.guardrails.detector` for which roles are inspected and why, and
``benchmarks/guardrails.py`` for precision, recall and latency on the labelled corpus.
"""

from serve_app.guardrails.detector import GuardVerdict, PromptGuard

__all__ = ["GuardVerdict", "PromptGuard"]
