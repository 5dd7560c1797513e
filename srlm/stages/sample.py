"""Candidates: N responses per prompt sampled from M_t (T=0.7, top-p 0.9; paper §3.2).

Input: prompts ``{id, prompt}``. Output rows: ``{id, prompt, candidates: [text x N]}``, appended
row by row so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from srlm.artifacts import RowLog, resumable_map
from srlm.generation.base import Generator, Sampling
from srlm.models.loading import chat_prompt


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
