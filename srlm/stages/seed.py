"""Seed data: M0's IFT and EFT sets, ranked evaluation sets and held-out prompts.

Outputs (JSONL): ``ift``, ``eft`` (synthetic only; OASST's EFT needs the SFT baseline, see
``srlm.stages.eft``), ``ranked_train`` (OASST), ``ranked_eval``, ``eval_prompts``, ``alpaca_eval``.
"""

from __future__ import annotations

import logging
from typing import Any

from srlm.data import oasst, synthetic
from srlm.stages.base import Context, StageDef

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
    "eft_near_miss",
    "eft_bias",
)


def build_seed_data(data_cfg: dict[str, Any]) -> dict[str, list[dict]]:
    kind = data_cfg["kind"]
    if kind == "synthetic":
        wrong = data_cfg.get("misconceptions") or {}
        return synthetic.build_synthetic(
            **{k: data_cfg[k] for k in SYNTHETIC_KEYS},
            misconception_families=tuple(wrong.get("families") or ()),
            misconception_rate=float(wrong.get("rate") or 0.0),
        )
    if kind == "oasst":
        return _oasst_seed(data_cfg)
    raise ValueError(f"data.kind must be 'synthetic' or 'oasst', got {kind!r}")


def _oasst_seed(cfg: dict[str, Any]) -> dict[str, list[dict]]:
    """IFT and EFT-train from ``data.source``; the ranked eval set and the IFT-test prompts from
    ``data.eval_source`` when it is set (paper preset: OASST1 train / validation), else carved
    out of ``data.source`` by ``data.eval_fraction``. The log says which split plays which role."""
    from srlm.eval.alpaca import load_alpaca_instructions

    filters = {
        "lang": cfg.get("lang", "en"),
        "drop_deleted": cfg["drop_deleted"],
        "require_review": cfg["require_review"],
    }
    train_split = cfg.get("split", "train")
    train_side = _side(cfg["source"], train_split)
    messages = oasst.load_oasst_messages(cfg["source"], split=train_split)
    eval_source = cfg.get("eval_source")
    seed = oasst.build_oasst_seed(
        messages,
        eval_fraction=0.0 if eval_source else cfg["eval_fraction"],
        ift_disjoint_from_ranked=cfg["ift_disjoint_from_ranked"],
        ift_share=cfg["ift_share"],
        max_ift=cfg.get("max_ift"),
        seed=cfg["seed"],
        **filters,
    )
    if eval_source:
        eval_split = cfg.get("eval_split") or "validation"
        eval_side = oasst.build_oasst_eval(
            oasst.load_oasst_messages(eval_source, split=eval_split), seed=cfg["seed"], **filters
        )
        eval_side, dropped = oasst.drop_overlap(eval_side, seed)
        if any(dropped.values()):
            log.warning(
                "oasst: %d ranked eval sets and %d eval prompts of %s share a prompt with the "
                "training side (%s) and are dropped",
                dropped["ranked_eval"],
                dropped["eval_prompts"],
                _side(eval_source, eval_split),
                train_side,
            )
        seed["ranked_eval"] = eval_side["ranked_eval"]
        own_prompts = eval_side["eval_prompts"]
        log.info(
            "oasst roles: %s -> IFT + EFT-train (ranked_train); %s -> ranked eval set + "
            "IFT-test prompts (data.eval_source; data.eval_fraction unused)",
            train_side,
            _side(eval_source, eval_split),
        )
    else:
        own_prompts = [{"id": r["prompt_id"], "prompt": r["prompt"]} for r in seed["ranked_eval"]]
        log.info(
            "oasst roles: %s -> IFT + EFT-train, and, carved out of it (data.eval_fraction=%s), "
            "the ranked eval set, whose prompts are the IFT-test prompts (data.eval_source=null)",
            train_side,
            cfg["eval_fraction"],
        )
    alpaca = []
    if cfg.get("alpaca_eval_source"):
        try:
            alpaca = load_alpaca_instructions(cfg["alpaca_eval_source"])
        except Exception as e:  # the hub may be out of reach; AlpacaEval export is then skipped
            if cfg.get("eval_prompts_source") == "alpaca_eval":
                raise ValueError(
                    f"data.eval_prompts_source=alpaca_eval: AlpacaEval's instructions not loaded "
                    f"from data.alpaca_eval_source={cfg['alpaca_eval_source']} ({e})"
                ) from e
            log.warning(
                "AlpacaEval instructions not loaded from %s: %s", cfg["alpaca_eval_source"], e
            )
    limit = cfg.get("max_eval_prompts") or None
    if cfg.get("eval_prompts_source") == "alpaca_eval":
        # The paper's 256 IFT-test prompts (Humpback's sources) are not public as such: a fixed,
        # seeded sample of AlpacaEval's instructions, none of the seed data's (docs/protocol.md).
        from srlm.stages.select import alpaca_test_prompts

        eval_prompts = alpaca_test_prompts(alpaca, seed, limit, cfg["seed"])
    elif cfg.get("eval_prompts_source"):
        from srlm.artifacts import read_jsonl

        eval_prompts = [
            {"id": str(r.get("id", i)), "prompt": r["prompt"]}
            for i, r in enumerate(read_jsonl(cfg["eval_prompts_source"]))
        ][:limit]
    else:
        eval_prompts = own_prompts[:limit]
    log.info(
        "oasst seed: ift=%d ranked_train=%d ranked_eval=%d eval_prompts=%d alpaca=%d",
        len(seed["ift"]),
        len(seed["ranked_train"]),
        len(seed["ranked_eval"]),
        len(eval_prompts),
        len(alpaca),
    )
    return {**seed, "eval_prompts": eval_prompts, "alpaca_eval": alpaca}


def _side(source: str, split: str) -> str:
    """How the log names one side: a hub id with its split, or a local file."""
    text = str(source)
    return text if oasst.is_local(text) else f"{text}[{split}]"


def seed_report(cfg: dict[str, Any], data: dict[str, list[dict]]) -> dict[str, float]:
    """Reply counts and, against ``data.targets`` / ``data.eft.target`` (the paper's sizes),
    shortfalls: each a ``seed/<name>_shortfall`` metric (0 when met) and a warning, never silent.

    EFT-train's target counts EFT examples after the agreement filter (``srlm.stages.eft``
    checks it); here the ranked training replies, an upper bound on them, are checked early.
    """
    metrics: dict[str, float] = {}
    for name in ("ranked_train", "ranked_eval"):
        if name in data:
            metrics[f"seed/{name}_replies"] = float(oasst.ranked_replies(data[name]))
    targets = cfg.get("targets") or {}
    checks = [
        ("ift", len(data.get("ift", [])), targets.get("ift"), "IFT examples", "data.targets.ift"),
        (
            "ranked_eval_replies",
            metrics.get("seed/ranked_eval_replies", 0),
            targets.get("eval_replies"),
            "ranked replies in the eval set",
            "data.targets.eval_replies",
        ),
        (
            "ranked_train_replies",
            metrics.get("seed/ranked_train_replies", 0),
            (cfg.get("eft") or {}).get("target"),
            "ranked training replies (EFT examples can only be fewer)",
            "data.eft.target",
        ),
    ]
    for name, n, target, what, key in checks:
        if target is None:
            continue
        short = max(0, int(target) - int(n))
        metrics[f"seed/{name}_shortfall"] = float(short)
        if short:
            log.warning(
                "seed data: %d %s, %d short of the target %d (%s)", n, what, short, target, key
            )
    return metrics


SEED_FILES = ("ift", "eft", "ranked_train", "ranked_eval", "eval_prompts", "alpaca_eval")


def _seed_data(ctx: Context) -> dict[str, float]:
    data = build_seed_data(ctx.cfg("data"))
    counts = {k: len(v) for k, v in data.items()}
    if not counts.get("ift") or not counts.get("ranked_eval"):
        source = ctx.cfg("data.source", None) or "data=synthetic"
        raise ValueError(
            f"{source}: too little seed data to run the loop "
            f"({', '.join(f'{k} {n}' for k, n in counts.items())}; need IFT and ranked eval sets)"
        )
    for name in SEED_FILES:
        ctx.write_rows(f"{name}.jsonl", data.get(name, []))
    metrics = {f"seed/{k}": float(len(v)) for k, v in data.items()}
    return {**metrics, **seed_report(ctx.cfg("data"), data)}


SEED_DATA = StageDef(
    "seed_data",
    version=1,
    reads=("data", "!data.use_eft"),  # local files named under data.* are keyed by content
    inputs=(),
    outputs=tuple(f"{n}.jsonl" for n in SEED_FILES),
    body=_seed_data,
    doc="IFT, EFT (synthetic), ranked sets, held-out prompts, AlpacaEval instructions",
)


def seed_params(kind: str) -> dict[str, Any]:
    """The synthetic world's version: its code decides the data as much as its config does."""
    return {"world": synthetic.WORLD_VERSION} if kind == "synthetic" else {}
