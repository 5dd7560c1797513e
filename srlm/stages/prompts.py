"""New prompts for iteration t: 8-shot Self-Instruct with a fixed generator or M_t (§3.1.3).

``generator``: "base" (M0, fixed across iterations, the analogue of the paper's fixed Llama 2-Chat
70B), "current" (M_t), a hub id or path (any fixed model), or "synthetic" (the synthetic world's
task sampler, no model: for runs that isolate the rest of the loop from prompt quality).
Output rows ``{id, prompt, round}`` plus Self-Instruct filter counts. Continuations cut off by
``self_instruct.max_new_tokens`` are dropped (``self_instruct/rejected/cut_off``); fewer prompts
than ``loop.prompts_per_iteration`` is a warning and ``self_instruct/shortfall``.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from srlm import self_instruct
from srlm.data.synthetic import SyntheticWorld
from srlm.generation.base import Generator, Sampling
from srlm.stages.base import GENERATION, Context, StageDef

log = logging.getLogger("srlm")


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
        world = {"min_len": 2, "max_len": 5, **(data_cfg or {})}
        return _synthetic_prompts(seed_prompts, existing, target, seed, world)
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
        "self_instruct/shortfall": float(max(0, target - stats["accepted"])),
    }
    metrics.update({f"self_instruct/rejected/{k}": float(v) for k, v in stats["rejected"].items()})
    if stats["accepted"] < target:
        top = sorted(stats["rejected"].items(), key=lambda kv: -kv[1])[:3]
        log.warning(
            "Self-Instruct: %d of %d prompts after %d rounds (self_instruct.max_rounds=%d), "
            "%d short; most rejected: %s (of %d continuations, %d cut off at "
            "self_instruct.max_new_tokens=%d)",
            stats["accepted"],
            target,
            stats["rounds"],
            si_cfg["max_rounds"],
            target - stats["accepted"],
            ", ".join(f"{k} {v}" for k, v in top),
            stats["continuations"],
            stats["rejected"]["cut_off"],
            si_cfg["max_new_tokens"],
        )
    return records, metrics


def _synthetic_prompts(seed_prompts, existing, target, seed, data_cfg):
    world = SyntheticWorld(seed + 104729, data_cfg["min_len"], data_cfg["max_len"])
    world._seen.update(seed_prompts, existing)
    tasks = [world.task() for _ in range(target)]
    records = [
        {"id": self_instruct.prompt_id(t.prompt), "prompt": t.prompt, "round": 0} for t in tasks
    ]
    return records, {"self_instruct/accepted": float(len(records))}


def _prompts(ctx: Context) -> dict[str, float]:
    si = ctx.cfg("self_instruct")
    source = ctx.inputs["generator"]
    gen = ctx.generator(source.model, "Self-Instruct")[0] if source is not None else None
    existing = [r["prompt"] for prev in ctx.inputs["previous"] for r in prev.rows("prompts")]
    records, metrics = generate_prompts(
        si,
        gen,
        [r["prompt"] for r in ctx.inputs["seed_data"].rows("ift")],
        existing,
        ctx.cfg("loop.prompts_per_iteration"),
        seed=ctx.seed * 100 + ctx.params["t"],
        data_cfg={"min_len": ctx.cfg("data.min_len", 2), "max_len": ctx.cfg("data.max_len", 5)},
    )
    ctx.write_rows("prompts.jsonl", records)
    return metrics


PROMPTS = StageDef(
    "prompts",
    version=2,  # 2: continuations cut off at the token limit are dropped
    reads=(
        "self_instruct",  # a local generator directory is keyed by its files
        "loop.prompts_per_iteration",
        "data.min_len",
        "data.max_len",
        *GENERATION,
    ),
    inputs=("seed_data", "generator", "previous"),
    outputs=("prompts.jsonl",),
    body=_prompts,
    doc="new prompts for iteration t, none repeating an earlier iteration's",
)
