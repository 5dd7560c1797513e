"""Candidates: N responses per prompt sampled from M_t (T=0.7, top-p 0.9; paper §3.2).

Input: prompts ``{id, prompt}``. Output rows: ``{id, prompt, candidates: [text x N]}``, appended
row by row so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from srlm.artifacts import RowLog, resumable_map
from srlm.generation.base import Generator, Sampling
from srlm.models.loading import chat_prompt
from srlm.stages.base import GENERATION, Context, StageDef


def sample_candidates(
    generator: Generator,
    tokenizer,
    prompts: list[dict],
    sampling: Sampling,
    log: RowLog,
    chunk_size: int = 256,
) -> list[dict]:
    def batch(items: list[dict]) -> list[dict]:
        outs = generator.generate([chat_prompt(tokenizer, it["prompt"]) for it in items], sampling)
        return [
            {"id": it["id"], "prompt": it["prompt"], "candidates": o} for it, o in zip(items, outs)
        ]

    return resumable_map(prompts, batch, log, chunk_size)


def _candidates(ctx: Context) -> dict[str, float]:
    gen, tok = ctx.generator(ctx.inputs["model"].model, "candidates")
    sampling = Sampling(
        n=ctx.cfg("loop.candidates"),
        temperature=ctx.cfg("loop.temperature"),
        top_p=ctx.cfg("loop.top_p"),
        max_new_tokens=ctx.cfg("loop.max_new_tokens"),
        seed=ctx.seed * 100 + ctx.params["t"],
    )
    prompts = ctx.inputs["prompts"].rows("prompts")
    log = ctx.row_log("candidates.jsonl")
    sample_candidates(gen, tok, prompts, sampling, log, ctx.cfg("loop.chunk_size"))
    return {}


CANDIDATES = StageDef(
    "candidates",
    version=1,
    reads=(
        "loop.candidates",
        "loop.temperature",
        "loop.top_p",
        "loop.max_new_tokens",
        "loop.chunk_size",  # the chunk is the sampling batch
        *GENERATION,
    ),
    inputs=("model", "prompts"),
    outputs=("candidates.jsonl",),
    body=_candidates,
    doc="N candidates per prompt sampled from M_t",
)
