"""EFT from Open Assistant (paper §4.2): the SFT baseline judges the ranked training replies; the
judgments whose scores agree with the human ranking become EFT examples.

(Synthetic seed data brings its EFT examples with it: this stage runs only for ``data=oasst``.)
"""

from __future__ import annotations

from srlm.stages.base import Context, StageDef
from srlm.stages.judge import JUDGING, judge_responses, parse_stats, warn_cut_off


def _eft(ctx: Context) -> dict[str, float]:
    from srlm.data.oasst import build_eft

    ranked = ctx.inputs["seed_data"].rows("ranked_train")
    items = [
        {"id": f"{it['prompt_id']}/{i}", "prompt": it["prompt"], "response": r["text"]}
        for it in ranked
        for i, r in enumerate(it["responses"])
    ]
    gen, tok = ctx.generator(ctx.inputs["judge_model"].model, "EFT judging")
    rows = judge_responses(
        gen, tok, ctx.components.judge, items, ctx.row_log("judgments.jsonl"), ctx.seed
    )
    first = {r["id"]: (r["samples"][0], r["scores"][0]) for r in rows}
    judged = {
        it["prompt_id"]: [first[f"{it['prompt_id']}/{i}"] for i in range(len(it["responses"]))]
        for it in ranked
    }
    examples, stats = build_eft(ranked, judged, seed=ctx.seed, **ctx.cfg("data.eft"))
    ctx.write_rows("eft.jsonl", examples)
    judge = ctx.components.judge
    health = parse_stats(rows, judge.score_min, judge.score_max, prefix="eft/judge")
    warn_cut_off(health, judge.max_new_tokens, ctx.label, prefix="eft/judge")
    return {
        **health,
        "eft/num_examples": float(len(examples)),
        **{f"eft/{k}": v for k, v in stats.items() if isinstance(v, int | float)},
    }


EFT = StageDef(
    "eft",
    version=2,  # 2: judge rows carry cut_off flags; parse stats in its metrics
    reads=("data.eft", *JUDGING),
    inputs=("seed_data", "judge_model"),
    outputs=("judgments.jsonl", "eft.jsonl"),
    body=_eft,
    doc="EFT examples: the SFT baseline's judgments that agree with the human ranking",
)
