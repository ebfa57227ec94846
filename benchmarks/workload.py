"""What the benchmark sends: chat prompts of realistic lengths, embedding inputs, spoken audio clips.

Everything is generated from a fixed seed, so both systems get exactly the same requests. The prompts are
built from the paragraphs below (no dataset download: the machine may be offline); their lengths vary
uniformly around the asked mean, as ``vllm bench serve``'s random dataset does with its range ratio.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKENS_PER_WORD = 1.3  # English prose through a BPE tokenizer such as SmolLM2's, measured on the text below

PARAGRAPHS = (
    "The harbour town wakes before dawn. Fishing boats leave the quay one after another, their engines coughing "
    "in the cold air, while the bakery on the corner pulls the first loaves from the oven. By seven the market "
    "square is full of stalls selling cheese, apples, honey and smoked fish, and the ferry to the island sounds "
    "its horn twice before it casts off.",
    "A relational database stores data in tables of rows and columns. Each table has a primary key that "
    "identifies a row, and foreign keys link rows across tables. Queries are written in SQL; the planner "
    "chooses an execution plan using statistics about the data, and indexes let it find rows without scanning "
    "a whole table. Transactions group changes so that they apply entirely or not at all.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It happens in the chloroplasts "
    "of plant cells, where chlorophyll absorbs mostly red and blue light and reflects green. The light reactions "
    "split water and produce energy carriers; the Calvin cycle then uses them to fix carbon into molecules the "
    "plant can store, burn for energy or build into cellulose.",
    "Our quarterly review showed revenue up eight percent, driven by the new subscription plans, while support "
    "costs fell after the help centre was rewritten. Churn remained high among small customers in their first "
    "month. The team proposes a guided onboarding, a cheaper starter tier and a monthly webinar, and asks for "
    "two more engineers to finish the billing migration before the summer.",
    "To repair a puncture, remove the wheel and lever one side of the tyre off the rim. Pull out the inner tube, "
    "pump a little air into it and listen for the hiss, or pass it through a bowl of water and watch for "
    "bubbles. Roughen the area around the hole, apply the glue, wait a minute, press the patch on firmly, then "
    "check the tyre for the thorn or glass that caused it.",
    "The committee met on Tuesday to discuss the new library building. The architect presented three designs: a "
    "glass pavilion facing the park, a brick extension of the old town hall, and a timber building by the river. "
    "Members raised concerns about heating costs, access for wheelchairs and the loss of parking spaces. A "
    "public consultation will open next month, and a decision is expected in the autumn.",
    "Sourdough bread rises thanks to a starter, a living culture of wild yeast and lactic acid bacteria. The "
    "baker feeds it flour and water every day, mixes some into the dough, and lets the dough ferment slowly for "
    "many hours. Folding strengthens the gluten, a cold night in the fridge develops flavour, and a very hot "
    "oven with steam gives the crust its colour and crackle.",
    "In the eighteenth century, merchants crossed the mountains with mules loaded with salt, cloth and wine. "
    "The passes were open only in summer, and travellers stopped at hospices run by monks, who kept dogs to "
    "find those lost in the snow. Tolls paid at each bridge funded the roads, and towns at the foot of the "
    "passes grew rich on the trade, building the arcades and fountains still seen today.",
)
TASKS = (
    "Summarize these notes in a few paragraphs for a colleague who missed them.",
    "Write a detailed report based on these notes, with an introduction, the main points and a conclusion.",
    "Explain the ideas in these notes to a twelve-year-old, step by step.",
    "Write a story that takes place in the setting these notes describe.",
    "List the questions a careful reader might ask about these notes, and answer each one.",
)


def words(text: str) -> int:
    return len(text.split())


def prompt_lengths(count: int, mean_tokens: int, spread: float, seed: int) -> list[int]:
    """Prompt lengths in tokens, uniform in ``mean * (1 - spread) .. mean * (1 + spread)``."""
    if not 0 <= spread < 1:
        raise ValueError(f"length spread {spread} must be in [0, 1)")
    draw = random.Random(seed)
    low, high = max(1, round(mean_tokens * (1 - spread))), max(1, round(mean_tokens * (1 + spread)))
    return [draw.randint(low, high) for _ in range(count)]


def prompt_text(tokens: int, draw: random.Random) -> str:
    """A task over notes made of the paragraphs above, cut to about ``tokens`` tokens."""
    task = draw.choice(TASKS)
    budget = max(1, round(tokens / TOKENS_PER_WORD) - words(task) - 2)
    notes: list[list[str]] = []
    start = draw.randrange(len(PARAGRAPHS))
    while sum(map(len, notes)) < budget:
        notes.append(PARAGRAPHS[(start + len(notes)) % len(PARAGRAPHS)].split())
    kept = [word for paragraph in notes for word in paragraph][:budget]
    return f"Notes:\n{' '.join(kept)}\n\n{task}"


def chat_bodies(model: str, count: int, mean_tokens: int, spread: float, max_tokens: int,
                seed: int) -> list[dict[str, Any]]:
    """``count`` streamed chat requests (greedy, so both systems generate the same tokens)."""
    draw = random.Random(seed)
    return [{"model": model, "messages": [{"role": "user", "content": prompt_text(length, draw)}],
             "max_tokens": max_tokens, "temperature": 0, "stream": True,
             "stream_options": {"include_usage": True}}
            for length in prompt_lengths(count, mean_tokens, spread, seed)]


def sentences() -> list[str]:
    return [s.strip() + "." for paragraph in PARAGRAPHS for s in paragraph.split(".") if s.strip()]


def embedding_inputs(count: int, seed: int) -> list[str]:
    """Retrieval-sized inputs: one to four consecutive sentences (about 15 to 120 tokens)."""
    pool = sentences()
    draw = random.Random(seed)
    inputs = []
    for _ in range(count):
        start, size = draw.randrange(len(pool)), draw.randint(1, 4)
        inputs.append(" ".join(pool[(start + k) % len(pool)] for k in range(size)))
    return inputs


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    seconds: float


def speak(text: str, folder: Path, name: str) -> Clip:
    """English speech by espeak-ng, resampled by sox to 16 kHz mono WAV (as tests/integration do it)."""
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is missing: `make setup` installs it")
    raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(out)], check=True, capture_output=True)
    raw.unlink()
    with wave.open(str(out)) as audio:
        return Clip(name, out, audio.getnframes() / audio.getframerate())


def audio_clips(folder: Path) -> list[Clip]:
    """A short request (two sentences, about 10 s) and a long one (three paragraphs, about 65 s)."""
    pool = sentences()
    return [speak(" ".join(pool[:2]), folder, "short"), speak(" ".join(PARAGRAPHS[:3]), folder, "long")]
