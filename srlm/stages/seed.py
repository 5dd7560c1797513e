"""Seed data: M0's IFT and EFT sets, ranked evaluation sets and held-out prompts.

Outputs (JSONL): ``ift``, ``eft`` (synthetic only; OASST's EFT needs the SFT baseline, see
``build_oasst_eft``), ``ranked_train`` (OASST), ``ranked_eval``, ``eval_prompts``, ``alpaca_eval``.
"""

from __future__ import annotations

import logging
from typing import Any

from srlm.data import oasst, synthetic

log = logging.getLogger(__name__)

SYNTHETIC_KEYS = (
    "seed",
    "n_ift",
    "n_eft",
    "n_ranked_eval",
    "n_eval_prompts",
    "n_alpaca_eval",
    "padded_fraction",
    "responses_per_ranked_prompt",
    "min_len",
    "max_len",
)


def build_seed_data(data_cfg: dict[str, Any]) -> dict[str, list[dict]]:
    kind = data_cfg["kind"]
    if kind == "synthetic":
        return synthetic.build_synthetic(**{k: data_cfg[k] for k in SYNTHETIC_KEYS})
    if kind == "oasst":
        return _oasst_seed(data_cfg)
    raise ValueError(f"data.kind must be 'synthetic' or 'oasst', got {kind!r}")


def _oasst_seed(cfg: dict[str, Any]) -> dict[str, list[dict]]:
    from srlm.eval.alpaca import load_alpaca_instructions

    messages = oasst.load_oasst_messages(cfg["source"], split=cfg.get("split", "train"))
    seed = oasst.build_oasst_seed(
        messages,
        lang=cfg.get("lang", "en"),
        eval_fraction=cfg["eval_fraction"],
        ift_disjoint_from_ranked=cfg["ift_disjoint_from_ranked"],
        ift_share=cfg["ift_share"],
        max_ift=cfg.get("max_ift"),
        seed=cfg["seed"],
        drop_deleted=cfg["drop_deleted"],
        require_review=cfg["require_review"],
    )
    if cfg.get("eval_prompts_source"):
        from srlm.artifacts import read_jsonl

        eval_prompts = [
            {"id": str(r.get("id", i)), "prompt": r["prompt"]}
            for i, r in enumerate(read_jsonl(cfg["eval_prompts_source"]))
        ]
    else:
        eval_prompts = [{"id": r["prompt_id"], "prompt": r["prompt"]} for r in seed["ranked_eval"]]
    eval_prompts = eval_prompts[: cfg.get("max_eval_prompts") or None]
    alpaca = []
    if cfg.get("alpaca_eval_source"):
        try:
            alpaca = load_alpaca_instructions(cfg["alpaca_eval_source"])
        except Exception as e:  # the hub may be out of reach; AlpacaEval export is then skipped
            log.warning(
                "AlpacaEval instructions not loaded from %s: %s", cfg["alpaca_eval_source"], e
            )
    log.info(
        "oasst seed: ift=%d ranked_train=%d ranked_eval=%d eval_prompts=%d alpaca=%d",
        len(seed["ift"]),
        len(seed["ranked_train"]),
        len(seed["ranked_eval"]),
        len(eval_prompts),
        len(alpaca),
    )
    return {**seed, "eval_prompts": eval_prompts, "alpaca_eval": alpaca}
