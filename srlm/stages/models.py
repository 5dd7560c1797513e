"""The stages that make a model: M0, the SFT baseline, M1 = SFT(M0, IFT+EFT), M_{t+1} from AIFT(M_t).

Training runs in this process or, with ``loop.isolation=subprocess``, in child processes (the
loaded generator is released first, so a GPU holds one model at a time).
"""

from __future__ import annotations

import logging
import random
import shutil
from typing import Any

from srlm.stages.base import Context, StageDef

log = logging.getLogger("srlm")

# What every training stage reads besides its own hyperparameters.
TRAINING = (
    "train.lora",
    "train.deepspeed",
    "train.num_processes",
    "model.chat_template",
    "loop.isolation",
    "seed",
)
# The judge prompt as it is rendered into EFT examples (its sampling values do not matter here).
JUDGE_RENDERING = ("judge.template", "judge.instruction_placeholder", "judge.response_placeholder")


def chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def train(ctx: Context, kind: str, base: str, data: list) -> dict[str, float]:
    """SFT or DPO of ``base`` on ``data`` into this stage's ``model`` output."""
    cfg = dict(ctx.cfg(f"train.{kind}"))
    cfg["lora"] = ctx.cfg("train.lora")
    cfg["deepspeed"] = ctx.cfg("train.deepspeed")
    cfg["chat_template"] = ctx.cfg("model.chat_template")
    cfg["progress_desc"] = ctx.desc(f"{kind.upper()} training")
    cfg["keep_checkpoints"] = getattr(ctx, "keep_checkpoints", False)  # srlm.stages.select
    processes = int(ctx.cfg("train.num_processes") or 1)
    from srlm.training import batch_plan

    # batch_size is global: fail before launching when it does not split over the processes
    micro, accumulation = batch_plan(
        cfg["batch_size"], processes, cfg.get("max_micro_batch"), f"train.{kind}"
    )
    log.info(
        "%s: global batch %d = %d process(es) x micro-batch %d x %d accumulation step(s)",
        ctx.desc(kind.upper()),
        cfg["batch_size"],
        processes,
        micro,
        accumulation,
    )
    out = ctx.partial("model")
    if ctx.cfg("loop.isolation") == "subprocess":
        from srlm.train_worker import run_isolated

        ctx.models.close()
        return run_isolated(kind, base, data, out, cfg, ctx.seed, processes)
    if cfg["deepspeed"] or processes > 1:
        raise ValueError("train.deepspeed / train.num_processes>1 need loop.isolation=subprocess")
    from srlm.training import train_dpo, train_sft

    return (train_sft if kind == "sft" else train_dpo)(base, data, out, cfg, seed=ctx.seed)


# -- M0 -------------------------------------------------------------------------------------------


def _m0_tiny(ctx: Context) -> dict[str, float]:
    from srlm.models.tiny import build_tiny_model

    shutil.rmtree(ctx.partial("model"), ignore_errors=True)
    build_tiny_model(ctx.partial("model"), **ctx.cfg("model.recipe"))
    return {}


def pretrained(config_path: str) -> StageDef:
    """A model given by a hub id or a local directory (keyed by its files): nothing to build,
    but it must be readable now, not minutes later."""

    def body(ctx: Context) -> dict[str, float]:
        from transformers import AutoConfig

        path = ctx.cfg(config_path)
        if not path:
            raise ValueError(f"{config_path} is required (a hub id or a local model directory)")
        AutoConfig.from_pretrained(str(path))
        ctx.info["model_path"] = str(path)
        return {}

    return StageDef(
        "pretrained",
        version=1,
        reads=(config_path,),
        inputs=(),
        outputs=(),
        body=body,
        doc=f"the pretrained model named by {config_path}",
    )


M0_TINY = StageDef(
    "m0",
    version=1,
    reads=("model.recipe",),
    inputs=(),
    outputs=("model",),
    body=_m0_tiny,
    doc="the tiny base model, built and pretrained locally (its corpus and code: params)",
)


# -- SFT: the SFT baseline and M1 -----------------------------------------------------------------


def _sft(ctx: Context) -> dict[str, float]:
    seed = ctx.inputs["seed_data"]
    examples = [chat(r["prompt"], r["response"]) for r in seed.rows("ift")]
    eft = ctx.inputs.get("eft")
    if eft is not None:
        judge = ctx.components.judge
        examples += [
            chat(judge.render(r["prompt"], r["response"]), r["judgment"]) for r in eft.rows("eft")
        ]
    random.Random(ctx.seed).shuffle(examples)
    metrics = train(ctx, "sft", ctx.inputs["m0"].model, examples)
    return {**metrics, "train/num_examples": float(len(examples))}


SFT_BASELINE = StageDef(
    "sft",
    version=1,
    reads=("train.sft", *TRAINING),
    inputs=("m0", "seed_data"),
    outputs=("model",),
    body=_sft,
    doc="the SFT baseline: SFT(M0, IFT)",
)
SFT_M1 = StageDef(
    "sft",
    version=1,
    reads=("train.sft", *TRAINING, *JUDGE_RENDERING),
    inputs=("m0", "seed_data", "eft"),
    outputs=("model",),
    body=_sft,
    doc="M1 = SFT(M0, IFT + EFT), EFT rendered with the judge prompt",
)


# -- M_{t+1} from AIFT(M_t) ----------------------------------------------------------------------


def _next_model(ctx: Context) -> dict[str, float]:
    kind = ctx.cfg("pairs.train_with")
    m_t = ctx.inputs["model"].model
    rows = ctx.inputs["pairs"].rows("pairs")
    if not rows:
        # Nothing to learn from (every prompt tied): M_{t+1} = M_t, said loudly.
        log.warning("AIFT is empty: %s is a copy of the model it starts from", ctx.label)
        shutil.copytree(m_t, ctx.partial("model"), dirs_exist_ok=True)
        return {"train/steps": 0.0}
    if kind == "dpo":
        return train(ctx, "dpo", m_t, rows)
    return _top_only_sft(ctx, m_t, rows)


def _top_only_sft(ctx: Context, m_t: str, rows: list[dict]) -> dict[str, float]:
    """A.4: the selected responses added back into the seed IFT data with a mixing weight."""
    from srlm.pairs import mix_with_seed

    mix = ctx.cfg("pairs.mix", None) or {}
    seed_rows = ctx.inputs["seed_data"].rows("ift") if mix.get("seed_ift", False) else []
    data = mix_with_seed(rows, seed_rows, float(mix.get("weight", 1.0)), ctx.seed)
    examples = [chat(r["prompt"], r["response"]) for r in data]
    random.Random(ctx.seed).shuffle(examples)
    metrics = train(ctx, "sft", m_t, examples)
    return {
        **metrics,
        "train/num_examples": float(len(examples)),
        "train/num_seed_examples": float(len(seed_rows)),
        "train/num_selected_examples": float(len(examples) - len(seed_rows)),
    }


DPO = StageDef(
    "train",
    version=1,
    reads=("pairs.train_with", "train.dpo", *TRAINING),
    inputs=("model", "pairs"),
    outputs=("model",),
    body=_next_model,
    doc="M_{t+1} = DPO(M_t, AIFT(M_t)), M_t as the reference",
)
TOP_ONLY_SFT = StageDef(
    "train",
    version=2,  # 2: the selected responses mixed into the seed IFT data (pairs.mix)
    reads=("pairs", "train.sft", *TRAINING),  # pairs.train_with and pairs.mix
    inputs=("model", "pairs", "seed_data"),
    outputs=("model",),
    body=_next_model,
    doc="M_{t+1} = SFT(M_t, seed IFT + the top-scored candidates) (the positive-only ablation)",
)


def base_model_stage(builder: str) -> StageDef:
    if builder == "tiny":
        return M0_TINY
    if builder == "pretrained":
        return pretrained("model.name_or_path")
    raise ValueError(f"model.builder must be 'tiny' or 'pretrained', got {builder!r}")


def m0_params(builder: str) -> dict[str, Any]:
    """What M0's build depends on besides its recipe: the corpus and the tokenizer's texts."""
    if builder != "tiny":
        return {}
    from srlm.data.synthetic import CORPUS_VERSION
    from srlm.keys import stable_hash
    from srlm.models.tiny import tokenizer_prompts

    return {"corpus": CORPUS_VERSION, "tokenizer_texts": stable_hash(tokenizer_prompts())}
