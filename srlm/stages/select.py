"""Checkpoint selection (paper §3.1.3) and the fixed held-out prompt samples it and head to head use.

The paper saves a checkpoint every 200 steps, generates with each on 253 validation prompts and
has Claude 2 compare them pairwise with the previous step's generations (AlpacaEval prompt
format), stopping when a checkpoint no longer improves. ``selecting(stage, config)`` gives a
training stage that does the same when ``eval.checkpoint_selection.enabled`` (and returns the
stage itself, with its store key unchanged, when not):

- the training keeps every checkpoint (``train.{sft,dpo}.save_steps`` apart, plus the final
  weights);
- each candidate answers a fixed sample of the ranked-eval prompts (``max_prompts``, held out
  from training and from the head-to-head test prompts), greedily as evaluated models answer
  (``eval.generation``);
- ``against: previous`` (the paper's rule): checkpoint k against checkpoint k-1, kept while its
  win - loss (points of %) is above ``min_margin``; the walk stops at the first that is not, and
  the last kept one is chosen. The first checkpoint has no previous step: it is kept, and its
  figures against the model training started from (M0 for the SFT baseline and M1, M_t for
  M_{t+1}) are recorded. ``against: start``: every checkpoint against the start model, the best
  win - loss (the earliest on a tie);
- the judge is the configured head-to-head evaluator (``evaluator=``; the paper used Claude 2 here
  and GPT-4 for its evaluation);
- the chosen checkpoint's weights become the stage's ``model``; ``selection.jsonl`` and the metrics
  ``train/selected_step``, ``train/selection/<step>/{win,tie,loss,n,vs_step}`` say which and why.

srlm trains the configured epochs to the end and then walks the checkpoints, where the paper
stops training early: the same choice (the learning-rate schedule does not depend on where
training stops), more compute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from srlm.artifacts import RowLog
from srlm.stages.base import GENERATION, Context, StageDef
from srlm.stages.evaluate import eval_sampling

log = logging.getLogger("srlm")

# What a selecting stage reads besides the training stage's own paths.
SELECTION = ("eval.checkpoint_selection", "eval.generation", "evaluator", "data.kind", *GENERATION)
# Files of a Trainer checkpoint that are training state, not the model.
TRAINER_STATE = (
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "training_args.bin",
    "global_step*",
    "latest",
    "zero_to_fp32.py",
)


def held_out_sample(rows: list[dict], n: int | None, seed: int, key: str = "prompt") -> list[dict]:
    """A fixed sample of ``n`` rows (all of them when ``n`` is None or larger), in their order.

    The rows whose sha256 of ``(seed, row[key])`` is smallest: the same seed and rows give the same
    sample on any machine, and adding rows to the pool changes it only where a new row ranks in.
    """
    if n is None or n >= len(rows):
        return list(rows)

    def rank(row: dict) -> str:
        return hashlib.sha256(f"{seed}\0{row[key]}".encode()).hexdigest()

    chosen = {id(r) for r in sorted(rows, key=rank)[: max(n, 0)]}
    return [r for r in rows if id(r) in chosen]


def selection_prompts(seed_data, n: int | None, seed: int) -> list[dict]:
    """The held-out prompts checkpoints answer: ranked-eval prompts, not the head-to-head ones."""
    test = {r["prompt"] for r in seed_data.rows("eval_prompts")}
    rows, seen = [], set()
    for r in seed_data.rows("ranked_eval"):
        if r["prompt"] not in seen and r["prompt"] not in test:
            seen.add(r["prompt"])
            rows.append({"id": f"select/{r['prompt_id']}", "prompt": r["prompt"]})
    return held_out_sample(rows, n, seed)


def alpaca_test_prompts(
    alpaca: list[dict], seed_data: dict[str, list[dict]], n: int | None, seed: int
) -> list[dict]:
    """Head-to-head prompts for ``data.eval_prompts_source=alpaca_eval``: a fixed sample of ``n``
    AlpacaEval instructions (the paper's 256 IFT-test prompts came from Humpback's sources, not
    public as such; AlpacaEval's 805 come from five of them), none of which the seed data trains
    on (IFT, EFT). Ranked-eval prompts may be among them (they are only judged); checkpoint
    selection leaves these out of its own prompts instead (``selection_prompts``)."""
    if not alpaca:
        raise ValueError(
            "data.eval_prompts_source=alpaca_eval needs AlpacaEval's instructions "
            "(data.alpaca_eval_source: a hub id or a local model_outputs.json)"
        )
    trained = {
        r["prompt"] for name in ("ift", "eft", "ranked_train") for r in seed_data.get(name, [])
    }
    rows = [
        {"id": f"ift_test/{i}", "prompt": r["instruction"], "dataset": r.get("dataset") or ""}
        for i, r in enumerate(alpaca)
        if r["instruction"] not in trained
    ]
    return held_out_sample(rows, n, seed)


# -- the choice -------------------------------------------------------------------------------


def improved(h2h: dict[str, Any], min_margin: float) -> bool:
    """A checkpoint beats its rival when its win - loss (points of %) is above ``min_margin``."""
    if not h2h.get("n"):
        return False
    return h2h["win"] - h2h["loss"] > min_margin


def choose(
    steps: list[int], compare, against: str = "previous", min_margin: float = 0.0
) -> tuple[int, list[dict]]:
    """(the chosen step, one record per comparison made); ``compare(a, b)`` is A's head to head
    against B, step 0 being the model training started from."""
    if not steps:
        raise ValueError("no checkpoint to choose from")
    records: list[dict] = []

    def record(step: int, rival: int) -> dict:
        h2h = compare(step, rival)
        row = {"step": step, "vs_step": rival, **{k: h2h.get(k) for k in ("win", "tie", "loss")}}
        row.update(n=h2h.get("n", 0), judge_failures=h2h.get("n_judge_failures", 0))
        records.append(row)
        return row

    if against == "previous":
        # The first checkpoint has no previous step: kept, its figures against the start model
        # recorded. Then each against the one before it, while it wins.
        record(steps[0], 0)["kept"] = True
        chosen = steps[0]
        for previous, step in zip(steps, steps[1:]):
            row = record(step, previous)
            row["kept"] = improved(row, min_margin)
            if not row["kept"]:
                break
            chosen = step
        return chosen, records
    if against == "start":
        rows = [record(step, 0) for step in steps]
        best = max(rows, key=lambda r: ((r["win"] or 0) - (r["loss"] or 0), -r["step"]))
        for r in rows:
            r["kept"] = r is best
        return best["step"], records
    raise ValueError(
        f"eval.checkpoint_selection.against must be previous or start, got {against!r}"
    )


# -- checkpoints on disk ----------------------------------------------------------------------


def checkpoints(model_partial: Path) -> dict[int, Path]:
    """step -> checkpoint folder of a training run into ``model_partial`` (srlm.training writes
    them to ``<model>.checkpoints/checkpoint-<step>``), whole ones only."""
    folder = model_partial.parent / (model_partial.name + ".checkpoints")
    found = {}
    for path in folder.glob("checkpoint-*") if folder.is_dir() else ():
        step = path.name.rsplit("-", 1)[-1]
        if step.isdigit() and (path / "trainer_state.json").exists():
            found[int(step)] = path
    return dict(sorted(found.items()))


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").exists() and not (path / "config.json").exists()


def merge_adapter(adapter: Path, out: Path) -> Path:
    """A LoRA checkpoint as a plain model (its base resized to the tokenizer, as training did)."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from srlm.models.loading import load_model

    base_path = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    tok = AutoTokenizer.from_pretrained(str(adapter))
    base = load_model(base_path, for_training=True)  # on the CPU, as it is: merged, then saved
    if base.get_input_embeddings().num_embeddings < len(tok):
        base.resize_token_embeddings(len(tok))
    model = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def install(checkpoint: Path, model_partial: Path) -> None:
    """Make ``checkpoint``'s weights (without its trainer state) the stage's model."""
    staged = model_partial.with_name(model_partial.name + ".chosen")
    shutil.rmtree(staged, ignore_errors=True)
    if _is_adapter(checkpoint):
        merge_adapter(checkpoint, staged)
    else:
        shutil.copytree(checkpoint, staged, ignore=shutil.ignore_patterns(*TRAINER_STATE))
    shutil.rmtree(model_partial, ignore_errors=True)
    os.replace(staged, model_partial)


# -- the stage --------------------------------------------------------------------------------


def check_config(config: dict[str, Any]) -> None:
    """Before any work: selection needs a head-to-head judge and checkpoints to choose from."""
    if not config["eval"]["checkpoint_selection"]["enabled"]:
        return
    if str(config["evaluator"].get("_target_", "")).endswith("NoEvaluator"):
        raise ValueError(
            "eval.checkpoint_selection.enabled=true needs a head-to-head judge: set evaluator= "
            "(openai, local, or oracle on the synthetic tasks)"
        )
    for kind in ("sft", "dpo"):
        steps = config["train"][kind].get("save_steps")
        if not steps or steps < 1:
            raise ValueError(
                f"train.{kind}.save_steps={steps}: checkpoint selection saves a checkpoint every "
                "save_steps steps (>= 1)"
            )


def selecting(stage: StageDef, config: dict[str, Any]) -> StageDef:
    """``stage`` with checkpoint selection when the config asks for it, else ``stage`` itself.

    The selecting stage also takes ``seed_data`` (its held-out prompts), which the pipeline
    passes when ``"seed_data" in stage.inputs``.
    """
    if not config["eval"]["checkpoint_selection"]["enabled"]:
        return stage
    check_config(config)
    inner = stage.body

    def body(ctx: Context) -> dict[str, float]:
        ctx.keep_checkpoints = True  # read by srlm.stages.models.train
        metrics = dict(inner(ctx) or {})
        metrics.update(select_checkpoint(ctx, metrics))
        return metrics

    return StageDef(
        stage.name,
        stage.version,
        reads=tuple(dict.fromkeys((*stage.reads, *SELECTION))),
        inputs=tuple(dict.fromkeys((*stage.inputs, "seed_data"))),
        outputs=("selection.jsonl", *stage.outputs),
        body=body,
        doc=f"{stage.doc}; its checkpoint chosen by head to head (eval.checkpoint_selection)",
    )


def _start_model(ctx: Context) -> str:
    """The model this training started from: M_t for M_{t+1}, M0 for the SFT stages."""
    return ctx.inputs["model"].model if "model" in ctx.inputs else ctx.inputs["m0"].model


def select_checkpoint(ctx: Context, train_metrics: dict[str, float]) -> dict[str, float]:
    """Walk the checkpoints of this stage's training, install the chosen one, say why."""
    from srlm.stages.evaluate import answer_prompts, head_to_head

    options = ctx.cfg("eval.checkpoint_selection")
    final = ctx.partial("model")
    candidates = checkpoints(final)
    last = int(train_metrics.get("train/steps") or max(candidates, default=0))
    if last > 0:
        candidates[last] = final  # the final weights (a checkpoint of the last step is the same)
    candidates = dict(sorted(candidates.items()))
    if not candidates:  # nothing was trained (an empty AIFT): nothing to choose
        ctx.write_rows("selection.jsonl", [])
        return {}
    prompts = selection_prompts(ctx.inputs["seed_data"], options["max_prompts"], ctx.seed)
    sampling = eval_sampling(ctx)
    oracle = ctx.cfg("data.kind") == "synthetic"
    outputs: dict[int, list[dict]] = {}
    answers: dict[int, dict[str, float]] = {}
    paths: dict[int, Path] = {0: Path(_start_model(ctx)), **candidates}

    def answers_of(step: int) -> list[dict]:
        if step not in outputs:
            if _is_adapter(paths[step]):  # a LoRA checkpoint: merged once, to answer and install
                paths[step] = merge_adapter(paths[step], ctx.path(f"selection/merged-{step}"))
            what = "answers (start model)" if step == 0 else f"answers (checkpoint {step})"
            gen, tok = ctx.generator(str(paths[step]), what)
            log_rows = RowLog(ctx.path(f"selection/step-{step}.jsonl"))
            outputs[step], answers[step] = answer_prompts(
                gen, tok, prompts, sampling, log_rows, oracle
            )
        return outputs[step]

    cache = ctx.path("selection/evaluator_cache.jsonl")

    def compare(a: int, b: int) -> dict[str, Any]:
        result = head_to_head(ctx.components.evaluator, answers_of(a), answers_of(b), cache)
        log.info(
            "%s: checkpoint %d vs %s: win %.1f / tie %.1f / loss %.1f %% (%d prompts)",
            ctx.label,
            a,
            f"checkpoint {b}" if b else "the start model",
            *(result[k] or 0.0 for k in ("win", "tie", "loss")),
            result["n"],
        )
        return result

    chosen, records = choose(
        sorted(candidates), compare, str(options["against"]), float(options["min_margin"])
    )
    ctx.models.close()  # the checkpoint folders go once the stage is published
    if paths[chosen] != final:
        install(paths[chosen], final)
    for name in (f"merged-{s}" for s in candidates):
        shutil.rmtree(ctx.path(f"selection/{name}"), ignore_errors=True)
    log.info(
        "%s: checkpoint %d of %d steps chosen (%s)", ctx.label, chosen, last, options["against"]
    )
    for r in records:
        r["answers"] = answers.get(r["step"], {})  # lengths, and the true grades if synthetic
    ctx.write_rows("selection.jsonl", records)
    ctx.info["selection"] = {
        "chosen_step": chosen,
        "steps": sorted(candidates),
        "prompts": len(prompts),
    }
    metrics: dict[str, float] = {
        "train/selected_step": float(chosen),
        "train/selection/checkpoints": float(len(candidates)),
        "train/selection/prompts": float(len(prompts)),
    }
    for r in records:
        prefix = f"train/selection/{r['step']}"
        for k in ("win", "tie", "loss"):
            metrics[f"{prefix}/{k}"] = r[k]
        metrics[f"{prefix}/n"] = float(r["n"])
        metrics[f"{prefix}/vs_step"] = float(r["vs_step"])
        if "eval/answer_accuracy" in r["answers"]:
            metrics[f"{prefix}/answer_accuracy"] = r["answers"]["eval/answer_accuracy"]
    return metrics
