"""What a benchmark run sends and how it is set up: workloads, levels, engine flags, options, profiles."""

from __future__ import annotations

import os

import pytest

from benchmarks import chat, cpu, embeddings, profile, run, servers, workload


def test_prompt_lengths_are_reproducible_and_within_the_spread() -> None:
    lengths = workload.prompt_lengths(500, 200, 0.5, seed=3)
    assert lengths == workload.prompt_lengths(500, 200, 0.5, seed=3)
    assert min(lengths) >= 100 and max(lengths) <= 300
    assert 180 < sum(lengths) / len(lengths) < 220
    assert set(workload.prompt_lengths(20, 200, 0, seed=3)) == {200}
    with pytest.raises(ValueError, match="spread"):
        workload.prompt_lengths(1, 200, 1.0, seed=0)


def test_chat_bodies_are_streamed_greedy_requests_of_about_the_asked_length() -> None:
    bodies = workload.chat_bodies("m", 8, 300, 0.0, 64, seed=1)
    assert bodies == workload.chat_bodies("m", 8, 300, 0.0, 64, seed=1)
    for body in bodies:
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert body["temperature"] == 0 and body["max_tokens"] == 64
        words = workload.words(body["messages"][0]["content"])
        assert abs(words * workload.TOKENS_PER_WORD - 300) < 10
    assert len({body["messages"][0]["content"] for body in bodies}) > 1


def test_embedding_inputs_are_reproducible_sentences() -> None:
    inputs = workload.embedding_inputs(50, seed=2)
    assert inputs == workload.embedding_inputs(50, seed=2)
    assert len(inputs) == 50 and all(text.endswith(".") for text in inputs)
    assert max(workload.words(text) for text in inputs) < 200  # within MiniLM's 256 tokens


def test_chat_levels_give_each_stream_at_least_two_requests() -> None:
    plan = chat.levels([1, 16], [0.5], requests=8)
    assert [(level.kind, level.value, level.requests) for level in plan] == [
        ("concurrency", 1, 8), ("concurrency", 16, 32), ("rate", 0.5, 8)]
    assert [level.label for level in plan] == ["c=1", "c=16", "0.5 req/s"]


def test_embedding_levels_and_the_bare_batching_that_matches_them() -> None:
    level = embeddings.parse_level("2x3")
    inputs = [str(i) for i in range(10)]
    assert level.requests(inputs) == [["0", "1"], ["2", "3"], ["4", "5"], ["6", "7"], ["8", "9"]]
    assert level.bare_groups(inputs) == [inputs[:6], inputs[6:]]
    assert embeddings.parse_level("1x64").bare_groups(inputs * 10)[0] == (inputs * 10)[:32]  # serve.batch's cap
    with pytest.raises(ValueError, match="positive"):
        embeddings.parse_level("0x4")


def test_engine_args_become_the_same_vllm_server_flags() -> None:
    flags = servers.vllm_flags({"dtype": "float32", "enforce_eager": True, "enable_prefix_caching": False,
                                "max_num_seqs": 32, "limit_mm_per_prompt": {"image": 2}})
    assert flags == ["--dtype", "float32", "--enforce-eager", "--no-enable-prefix-caching", "--max-num-seqs", "32",
                     "--limit-mm-per-prompt", '{"image": 2}']


def test_quick_shortens_only_what_was_not_given() -> None:
    args = run.arguments(["--quick", "--concurrency", "2"])
    assert args.concurrency == [2]
    assert args.requests == run.QUICK["requests"]
    assert args.rate == []
    full = run.arguments([])
    assert full.concurrency == [1, 4, 16, 64] and full.rate == [0.5] and full.pairs == 40
    assert run.arguments(["--quick"]).pairs == run.QUICK["pairs"]


def test_a_profile_summary_ranks_functions_by_self_and_inclusive_samples() -> None:
    stacks = profile.parse_folded(["main;serve;encode 30", "main;serve;json 10", "main;idle 60", "garbage"])
    assert stacks == [(["main", "serve", "encode"], 30), (["main", "serve", "json"], 10), (["main", "idle"], 60)]
    text = profile.summary(stacks, top=2)
    assert text.splitlines()[0] == "100 samples"
    assert " 60.0%  idle" in text and " 30.0%  encode" in text
    assert "100.0%  main\n 60.0%  idle" in text  # inclusive: main is on every stack


def test_processes_are_grouped_by_their_part_of_the_system() -> None:
    assert cpu.group("ray::ServeReplica:bench:Ingress", ours=True) == "ingress replica"
    assert cpu.group("ray::ServeReplica:bench:model-SmolLM2-135M-Instruct", ours=True) == "model replica"
    assert cpu.group("ray::ServeReplica:bench:StatusProber", ours=True) == "other Serve replicas"
    assert cpu.group("python -m vllm.entrypoints.openai.api_server --model m", ours=True) == "vLLM server"
    assert cpu.group("ray::MeterCore.admit", ours=True) == "metering actor"
    assert cpu.group("VLLM::EngineCore", ours=True) == "vLLM engine core"
    assert cpu.group("/venv/ray/core/src/ray/raylet/raylet --flags", ours=True) == "Ray raylet"
    assert cpu.group("ray::ServeController", ours=True) == "Serve controller"
    assert cpu.group("ray::IDLE", ours=True) == "Ray: ray::IDLE"
    assert cpu.group("/venv/bin/python -u /venv/ray/_private/log_monitor.py --x", ours=True) == "Ray log monitor"
    assert cpu.group("/venv/bin/python3.11 -m ray.thing --x", ours=True) == "Ray: ray.thing"
    assert cpu.group("python -m vllm.entrypoints.openai.api_server", ours=False) == cpu.OTHER


def test_cores_used_are_cpu_seconds_over_wall_seconds_per_group() -> None:
    before = {1: ("model replica", 10.0), 2: ("ingress replica", 5.0), 3: (cpu.OTHER, 1.0)}
    after = {1: ("model replica", 13.0), 2: ("ingress replica", 5.5), 4: (cpu.OTHER, 0.5)}  # 3 ended, 4 started
    assert cpu.cores(before, after, wall_s=2.0) == {"model replica": 1.5, "ingress replica": 0.25, cpu.OTHER: 0.25}
    assert list(cpu.cores(before, after, wall_s=2.0)) == ["model replica", "ingress replica", cpu.OTHER]
    assert cpu.cores(before, after, wall_s=0) == {}


def test_a_snapshot_finds_this_process_as_the_client() -> None:
    assert cpu.snapshot()[os.getpid()][0] == cpu.CLIENT
