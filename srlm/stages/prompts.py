"""New prompts for iteration t: 8-shot Self-Instruct with a fixed generator or M_t (§3.1.3).

``generator``: "base" (M0, fixed across iterations, the analogue of the paper's fixed Llama 2-Chat
70B), "current" (M_t), a hub id or path (any fixed model), or "synthetic" (the synthetic world's
task sampler, no model: for runs that isolate the rest of the loop from prompt quality).
Output rows ``{id, prompt, round}`` plus Self-Instruct filter counts.
"""

from __future__ import annotations

import random
from typing import Any

from srlm import self_instruct
from srlm.data.synthetic import SyntheticWorld
from srlm.generation.base import Generator, Sampling


def generate_prompts(
    si_cfg: dict[str, Any],
    generator: Generator | None,
    seed_prompts: list[str],
    existing: list[str],
    target: int,
    seed: int,
    data_cfg: dict[str, Any] | None = None,
) -> tuple[list[dict], dict[str, float]]:
    if si_cfg["generator"] == "synthetic":
        return _synthetic_prompts(seed_prompts, existing, target, seed, data_cfg or {})
    assert generator is not None
    shots = si_cfg["num_seed_shots"] + si_cfg["num_generated_shots"]
    sampling = Sampling(
        n=1,
        temperature=si_cfg["temperature"],
        top_p=si_cfg["top_p"],
        max_new_tokens=si_cfg["max_new_tokens"],
        seed=seed,
        stop=self_instruct.stop_sequences(shots),
    )
    calls = iter(range(10**9))

    def generate(texts: list[str]) -> list[str]:
        # a fresh seed per round, so rounds do not repeat each other
        s = Sampling(**{**sampling.__dict__, "seed": seed * 1000 + next(calls)})
        return [o[0] for o in generator.generate(texts, s)]

    records, stats = self_instruct.generate_prompts(
        generate,
        seed_prompts,
        target,
        rng=random.Random(seed),
        num_seed_shots=si_cfg["num_seed_shots"],
        num_generated_shots=si_cfg["num_generated_shots"],
        batch_size=si_cfg["batch_size"],
        max_rounds=si_cfg["max_rounds"],
        rouge_threshold=si_cfg["rouge_threshold"],
        existing=existing,
    )
    metrics = {
        "self_instruct/accepted": float(stats["accepted"]),
        "self_instruct/generated": float(stats["generated"]),
        "self_instruct/rounds": float(stats["rounds"]),
    }
    metrics.update({f"self_instruct/rejected/{k}": float(v) for k, v in stats["rejected"].items()})
    return records, metrics


def _synthetic_prompts(seed_prompts, existing, target, seed, data_cfg):
    world = SyntheticWorld(seed + 104729, data_cfg.get("min_len", 2), data_cfg.get("max_len", 5))
    world._seen.update(seed_prompts, existing)
    tasks = [world.task() for _ in range(target)]
    records = [
        {"id": self_instruct.prompt_id(t.prompt), "prompt": t.prompt, "round": 0} for t in tasks
    ]
    return records, {"self_instruct/accepted": float(len(records))}
