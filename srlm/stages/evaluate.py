"""Evaluation of one model M (run after every M_t and once for the SFT baseline, paper §6).

- ``answer_prompts``: M's answers to the held-out prompts and the AlpacaEval instructions
  (rows ``{id, prompt, output}``) and their lengths (the paper tracks length growth, §3.2.1).
- ``agreement``: M judges every response of the ranked evaluation set (k samples, mean) and the
  scores are compared with the human (or true) ranking: pairwise accuracy, 5-best %, exact
  match %, Spearman, Kendall tau.
- ``head_to_head``: M against another model, each pair judged in both orders, disagreement = tie.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from srlm.artifacts import RowLog
from srlm.data.synthetic import grade
from srlm.eval.agreement import agreement_metrics
from srlm.eval.evaluators import Evaluator
from srlm.eval.head_to_head import head_to_head_from_verdicts
from srlm.generation.base import Generator, Sampling
from srlm.judges import Judge
from srlm.stages.base import GENERATION, Context, StageDef
from srlm.stages.judge import JUDGING, judge_responses, parse_stats, warn_cut_off
from srlm.stages.sample import sample_candidates


def answer_prompts(
    generator: Generator,
    tokenizer,
    prompts: list[dict],
    sampling: Sampling,
    log: RowLog,
    oracle: bool,
) -> tuple[list[dict], dict[str, float]]:
    rows = sample_candidates(generator, tokenizer, prompts, sampling, log)
    outputs = [{"id": r["id"], "prompt": r["prompt"], "output": r["candidates"][0]} for r in rows]
    m: dict[str, float] = {}
    if outputs:
        m["eval/length/mean_chars"] = statistics.fmean(len(o["output"]) for o in outputs)
        m["eval/length/mean_tokens"] = statistics.fmean(
            len(tokenizer(o["output"], add_special_tokens=False)["input_ids"]) for o in outputs
        )
    if oracle:
        grades = [g for o in outputs if (g := grade(o["prompt"], o["output"])) is not None]
        if grades:
            m["eval/answer_accuracy"] = sum(g >= 4 for g in grades) / len(grades)
            m["eval/answer_exact"] = sum(g == 5 for g in grades) / len(grades)
            m["eval/mean_true_grade"] = statistics.fmean(grades)
    return outputs, m


def agreement(
    generator: Generator,
    tokenizer,
    judge: Judge,
    ranked: list[dict],
    options: dict[str, Any],
    log: RowLog,
    seed: int,
) -> dict[str, float]:
    items, meta = [], []
    for it in ranked:
        for i, r in enumerate(it["responses"]):
            rid = f"{it['prompt_id']}/{i}"
            items.append({"id": rid, "prompt": it["prompt"], "response": r["text"]})
            meta.append((it["prompt_id"], r["rank"]))
    rows = judge_responses(generator, tokenizer, judge, items, log, seed)
    metrics = agreement_metrics(
        [
            {"prompt_id": p, "human_rank": rank, "score": row["score"]}
            for (p, rank), row in zip(meta, rows)
        ],
        ties=options["ties"],
        correlation=options["correlation"],
        five_best=options["five_best"],
        top_score=judge.score_max,
    )
    out = {f"eval/agreement/{k}": v for k, v in metrics.items()}
    out.update(parse_stats(rows, judge.score_min, judge.score_max, prefix="eval/judge"))
    warn_cut_off(out, judge.max_new_tokens, prefix="eval/judge")
    return out


def head_to_head(
    evaluator: Evaluator,
    outputs_a: list[dict],
    outputs_b: list[dict],
    cache_path: Path | None = None,
) -> dict[str, float]:
    """A vs B on the prompts both answered; both orders unless the evaluator is order-free."""
    b_by_id = {o["id"]: o for o in outputs_b}
    shared = [(a, b_by_id[a["id"]]) for a in outputs_a if a["id"] in b_by_id]
    ab = evaluator.compare([(a["prompt"], a["output"], b["output"]) for a, b in shared], cache_path)
    if evaluator.order_independent:
        ba = [{"first": "second", "second": "first"}.get(v, v) if v else None for v in ab]
    else:
        ba = evaluator.compare(
            [(a["prompt"], b["output"], a["output"]) for a, b in shared], cache_path
        )
    return head_to_head_from_verdicts(zip(ab, ba))


# -- declared stages ------------------------------------------------------------------------------


def eval_sampling(ctx: Context) -> Sampling:
    """How a model answers held-out prompts (``eval.generation``; greedy by default)."""
    eg = ctx.cfg("eval.generation")
    return Sampling(
        n=1,
        temperature=eg["temperature"],
        top_p=eg["top_p"],
        max_new_tokens=eg["max_new_tokens"],
        seed=ctx.seed,
    )


def _eval_outputs(ctx: Context) -> dict[str, float]:
    gen, tok = ctx.generator(ctx.inputs["model"].model, "answers (eval)")
    sampling = eval_sampling(ctx)
    seed = ctx.inputs["seed_data"]
    oracle = ctx.cfg("data.kind") == "synthetic"
    log = ctx.row_log("outputs.jsonl")
    _, metrics = answer_prompts(gen, tok, seed.rows("eval_prompts"), sampling, log, oracle)
    alpaca = [
        {"id": f"alpaca/{i}", "prompt": r["instruction"], "dataset": r.get("dataset", "")}
        for i, r in enumerate(seed.rows("alpaca_eval"))
    ]
    sample_candidates(gen, tok, alpaca, sampling, ctx.row_log("alpaca_outputs.jsonl"))
    return metrics


EVAL_OUTPUTS = StageDef(
    "eval_outputs",
    version=1,
    reads=("eval.generation", "data.kind", *GENERATION),
    inputs=("model", "seed_data"),
    outputs=("outputs.jsonl", "alpaca_outputs.jsonl"),
    body=_eval_outputs,
    doc="M's answers to the held-out prompts and the AlpacaEval instructions, and their lengths",
)


def _eval_agreement(ctx: Context) -> dict[str, float]:
    gen, tok = ctx.generator(ctx.inputs["model"].model, "judging (agreement)")
    return agreement(
        gen,
        tok,
        ctx.components.judge,
        ctx.inputs["seed_data"].rows("ranked_eval"),
        ctx.cfg("eval.agreement"),
        ctx.row_log("judgments.jsonl"),
        ctx.seed,
    )


EVAL_AGREEMENT = StageDef(
    "eval_agreement",
    version=2,  # 2: judge rows carry cut_off flags; cut-offs counted apart
    reads=("eval.agreement", *JUDGING),
    inputs=("model", "seed_data"),
    outputs=("judgments.jsonl",),
    body=_eval_agreement,
    doc="M as a judge of the ranked evaluation set against the human (or true) ranking",
)


def model_outputs(eval_outputs) -> list[dict]:
    """``{id, prompt, output}`` rows of an ``eval_outputs`` stage."""
    return [
        {"id": r["id"], "prompt": r["prompt"], "output": r["candidates"][0]}
        for r in eval_outputs.rows("outputs")
    ]


def alpaca_outputs(eval_outputs, seed_data) -> list[dict]:
    """AlpacaEval's ``{instruction, output, dataset}`` rows of an ``eval_outputs`` stage."""
    datasets = [r.get("dataset") for r in seed_data.rows("alpaca_eval")]
    return [
        {"instruction": r["prompt"], "output": r["candidates"][0], "dataset": datasets[i]}
        for i, r in enumerate(eval_outputs.rows("alpaca_outputs"))
    ]


def _eval_h2h(ctx: Context) -> dict[str, float]:
    a, b = (model_outputs(ctx.inputs[side]) for side in ("a", "b"))
    return head_to_head(ctx.components.evaluator, a, b, ctx.path("evaluator_cache.jsonl"))


EVAL_H2H = StageDef(
    "eval_h2h",
    version=1,
    reads=("evaluator",),
    inputs=("a", "b"),
    outputs=(),
    body=_eval_h2h,
    doc="A vs B on the held-out prompts, judged in both orders by the configured evaluator",
)


def h2h_metrics(result, prefix: str) -> dict[str, float]:
    r = result.metrics
    return {
        f"{prefix}/win": r["win"],
        f"{prefix}/tie": r["tie"],
        f"{prefix}/loss": r["loss"],
        f"{prefix}/n": float(r["n"]),
        f"{prefix}/judge_failures": float(r.get("n_judge_failures", 0)),
    }


def _alpaca_eval(ctx: Context) -> dict[str, float]:
    """alpaca_eval's annotator on M's outputs: paid API calls, so stored and reused like any stage."""
    from srlm.eval.alpaca import run_alpaca_eval, write_model_outputs

    options = ctx.cfg("eval.alpaca_eval")
    rows = alpaca_outputs(ctx.inputs["outputs"], ctx.inputs["seed_data"])
    path = write_model_outputs(ctx.path("model_outputs.json"), rows, f"srlm-{ctx.label}")
    result = run_alpaca_eval(
        path,
        options["annotators_config"],
        ctx.path("alpaca_eval"),
        reference_outputs=options["reference_outputs"],
        fn_metric=options["fn_metric"],
    )
    return {f"eval/alpaca/{k}": v for k, v in (result or {}).items() if isinstance(v, int | float)}


ALPACA_EVAL = StageDef(
    "alpaca_eval",
    version=1,
    reads=("eval.alpaca_eval",),  # a local annotator config or reference is keyed by content
    inputs=("outputs", "seed_data"),
    outputs=("model_outputs.json",),
    body=_alpaca_eval,
    doc="AlpacaEval's annotator (GPT-4 Turbo or any endpoint) on M's AlpacaEval outputs",
)
