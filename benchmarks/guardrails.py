"""Prompt-injection guard on the labelled corpus: precision, recall, false-positive rate and latency.

    .venv/bin/python -m benchmarks.guardrails [--json PATH] [--rounds 5] [--errors]

The corpus (``benchmarks/data/prompt_injection_corpus.jsonl``) holds one conversation per line:
``{"id", "lang", "label": "attack"|"benign", "category", "messages": [{"role", "content"}],
"obfuscation"?, "split"?}``. Items with ``"split": "holdout"`` have never been used to tune the guard;
their figures are printed apart. Latency is the time of one ``PromptGuard.inspect`` call per conversation
(wall clock and this thread's CPU time), over ``--rounds`` passes of the whole corpus, in this process.

How well the rules generalise: the corpus grew in four slices. The first was written before the detector;
each later one after a round of tuning, and each was scored once before it was tuned on:

    slice (attacks/benign)           precision  recall  false-positive rate
    1, before the detector (30/30)     1.000     0.800        0.000
    2, after round 1 (40/40)           0.943     0.825        0.050
    3, after round 2 (30/40)           0.952     0.667        0.025

On phrasings it has not seen, expect recall around 0.7-0.8 at a false-positive rate of a few percent; the
figures on the whole corpus measure what it was tuned on. Add new slices with ``"split": "holdout"``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from serve_app.guardrails import PromptGuard

CORPUS = Path(__file__).resolve().parent / "data" / "prompt_injection_corpus.jsonl"


@dataclass(frozen=True)
class Item:
    id: str
    lang: str
    label: str
    category: str
    messages: tuple[tuple[str, str], ...]
    obfuscation: str = "none"
    holdout: bool = False


@dataclass
class Scores:
    attacks: int = 0
    benign: int = 0
    true_positives: int = 0
    false_positives: int = 0

    @property
    def recall(self) -> float:
        return self.true_positives / self.attacks if self.attacks else float("nan")

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.benign if self.benign else float("nan")

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else float("nan")

    def add(self, item: Item, detected: bool) -> None:
        if item.label == "attack":
            self.attacks += 1
            self.true_positives += detected
        else:
            self.benign += 1
            self.false_positives += detected

    def summary(self) -> dict[str, float | int | None]:
        """Counts and rates; a rate with nothing to count is ``None`` (JSON ``null``)."""
        rates = {"precision": self.precision, "recall": self.recall, "false_positive_rate": self.false_positive_rate}
        return {"attacks": self.attacks, "benign": self.benign,
                **{name: None if math.isnan(value) else round(value, 4) for name, value in rates.items()}}


@dataclass
class Report:
    overall: Scores = field(default_factory=Scores)
    dev: Scores = field(default_factory=Scores)
    holdout: Scores = field(default_factory=Scores)
    by_lang: dict[str, Scores] = field(default_factory=dict)
    by_category: dict[str, Scores] = field(default_factory=dict)
    by_obfuscation: dict[str, Scores] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, item: Item, detected: bool) -> None:
        for scores in (self.overall, self.holdout if item.holdout else self.dev,
                       self.by_lang.setdefault(item.lang, Scores()),
                       self.by_category.setdefault(item.category, Scores()),
                       self.by_obfuscation.setdefault(item.obfuscation, Scores())):
            scores.add(item, detected)
        if detected != (item.label == "attack"):
            self.errors.append(f"{'missed' if item.label == 'attack' else 'false positive'}: {item.id}")

    def latency(self) -> dict[str, float]:
        wall, cpu = sorted(self.latencies_ms), sorted(self.cpu_ms)
        return {"p50_ms": round(statistics.median(wall), 4), "p99_ms": round(_p99(wall), 4),
                "max_ms": round(wall[-1], 4), "cpu_p50_ms": round(statistics.median(cpu), 4),
                "cpu_p99_ms": round(_p99(cpu), 4), "calls": len(wall)}

    def as_dict(self) -> dict[str, object]:
        return {"overall": self.overall.summary(), "dev": self.dev.summary(), "holdout": self.holdout.summary(),
                "by_lang": {k: v.summary() for k, v in sorted(self.by_lang.items())},
                "by_category": {k: v.summary() for k, v in sorted(self.by_category.items())},
                "by_obfuscation": {k: v.summary() for k, v in sorted(self.by_obfuscation.items())},
                "latency": self.latency(), "errors": self.errors}


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def load(path: Path = CORPUS) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(Item(id=raw["id"], lang=raw["lang"], label=raw["label"], category=raw["category"],
                              messages=tuple((m["role"], m["content"]) for m in raw["messages"]),
                              obfuscation=raw.get("obfuscation", "none"), holdout=raw.get("split") == "holdout"))
    return items


def evaluate(guard: PromptGuard, items: Iterable[Item], rounds: int = 1) -> Report:
    """Runs the guard over the items ``rounds`` times; scores come from the first pass."""
    items = list(items)
    report = Report()
    for round_ in range(rounds):
        for item in items:
            start, cpu_start = time.perf_counter(), time.thread_time()
            verdict = guard.inspect(item.messages)
            report.cpu_ms.append((time.thread_time() - cpu_start) * 1000)
            report.latencies_ms.append((time.perf_counter() - start) * 1000)
            if round_ == 0:
                report.add(item, verdict.detected)
    return report


def _row(name: str, scores: Scores) -> str:
    return (f"{name:<24} {scores.attacks:>7} {scores.benign:>6} {scores.precision:>9.3f} {scores.recall:>7.3f} "
            f"{scores.false_positive_rate:>6.3f}")


def print_report(report: Report, show_errors: bool) -> None:
    header = f"{'':<24} {'attacks':>7} {'benign':>6} {'precision':>9} {'recall':>7} {'FPR':>6}"
    print(header)
    print(_row("overall", report.overall))
    if report.holdout.attacks or report.holdout.benign:
        print(_row("  tuned on", report.dev))
        print(_row("  held out", report.holdout))
    for title, table in (("language", report.by_lang), ("category", report.by_category),
                         ("obfuscation", report.by_obfuscation)):
        print(f"-- by {title}")
        for name, scores in sorted(table.items()):
            print(_row(name, scores))
    latency = report.latency()
    print(f"latency per conversation: p50 {latency['p50_ms']:.3f} ms, p99 {latency['p99_ms']:.3f} ms, "
          f"max {latency['max_ms']:.3f} ms (CPU time: p50 {latency['cpu_p50_ms']:.3f} ms, "
          f"p99 {latency['cpu_p99_ms']:.3f} ms) over {latency['calls']} calls")
    if show_errors:
        print("\n".join(report.errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the corpus for the latency figures")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--errors", action="store_true", help="list the misclassified items")
    args = parser.parse_args()
    guard = PromptGuard()
    report = evaluate(guard, load(args.corpus), rounds=args.rounds)
    print_report(report, args.errors)
    if args.json:
        payload = {"corpus": str(args.corpus), "host": platform.platform(), "python": platform.python_version(),
                   "rounds": args.rounds, "guard": report.as_dict()}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
