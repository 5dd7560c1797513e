"""The paper's loop, in order; the only place that knows the order of the stages.

    M0 -> seed data -> SFT baseline (IFT) -> EFT -> M1 = SFT(M0, IFT+EFT)
    for t = 1..K-1:  prompts -> candidates -> judgments -> AIFT(M_t) -> M_{t+1} (DPO or SFT)
    after every model: evaluate (agreement, head to head, AlpacaEval outputs, lengths) and log

Each stage is declared in ``srlm/stages/`` and run by ``srlm.runner``, which keys it by content,
skips it when done and records it: a rerun computes nothing new, a killed run resumes, and the
jobs of a sweep share every stage they have in common.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from srlm import rundir, validate
from srlm.eval.alpaca import write_model_outputs
from srlm.paper_check import check_table
from srlm.runner import Components, Runner
from srlm.stages.base import Result, StageDef
from srlm.stages.eft import EFT
from srlm.stages.evaluate import (
    ALPACA_EVAL,
    EVAL_AGREEMENT,
    EVAL_H2H,
    EVAL_OUTPUTS,
    alpaca_outputs,
    h2h_metrics,
)
from srlm.stages.judge import JUDGMENTS
from srlm.stages.models import (
    DPO,
    SFT_BASELINE,
    SFT_M1,
    TOP_ONLY_SFT,
    base_model_stage,
    m0_params,
    pretrained,
)
from srlm.stages.pairs import PAIRS, sample_table
from srlm.stages.prompts import PROMPTS
from srlm.stages.sample import CANDIDATES
from srlm.stages.seed import SEED_DATA, seed_params
from srlm.stages.select import selecting
from srlm.tracking import Tracker

log = logging.getLogger("srlm")


class Pipeline:
    def __init__(self, config: dict[str, Any], runner: Runner, tracker: Tracker | None):
        self.c, self.runner, self.tracker = config, runner, tracker
        self.run_dir = tracker.run_dir if tracker is not None else None
        self.outputs: dict[str, Result] = {}  # eval_outputs per model, for the heads to head

    def run(self) -> None:
        c, stage = self.c, self.runner.run
        seed = stage(SEED_DATA, params=seed_params(c["data"]["kind"]))  # bad data fails first
        builder = c["model"]["builder"]
        m0 = stage(base_model_stage(builder), "M0", params=m0_params(builder))
        baseline = self.train(SFT_BASELINE, "sft_baseline", {}, seed, m0=m0)
        m1, eft = baseline, None  # without EFT, M1 is the SFT baseline (the A.3 ablation)
        if c["data"]["use_eft"]:
            eft = seed  # synthetic seed data brings its EFT; OASST's comes from the baseline
            if c["data"]["kind"] != "synthetic":
                eft = stage(EFT, "sft_baseline", seed_data=seed, judge_model=baseline)
            m1 = self.train(SFT_M1, "M1", {}, seed, m0=m0, eft=eft)
        self.log("sft_baseline", 0, {**seed.metrics, **baseline.metrics})
        eft_metrics = eft.metrics if eft not in (None, seed) else {}  # OASST's EFT stage
        self.log("M1", 1, {**eft_metrics, **m1.metrics})
        self.evaluate(0, "sft_baseline", baseline, seed, rivals={})
        self.evaluate(1, "M1", m1, seed, rivals={"sft": "sft_baseline"})
        models, prompts = [m1], []
        for t in range(1, int(c["loop"]["iterations"])):
            m_t, name, after = models[-1], f"M{t}", {"t": t}
            generator = self.prompt_generator(m0, m_t)
            p = stage(PROMPTS, name, after, seed_data=seed, generator=generator, previous=prompts)
            candidates = stage(CANDIDATES, name, after, model=m_t, prompts=p)
            judgments = stage(JUDGMENTS, name, after, model=m_t, candidates=candidates)
            pairs = stage(PAIRS, name, after, candidates=candidates, judgments=judgments)
            self.log(name, t, {**p.metrics, **judgments.metrics, **pairs.metrics})
            # top-only: the selected responses mixed into the seed IFT data (A.4)
            train = DPO if c["pairs"]["train_with"] == "dpo" else TOP_ONLY_SFT
            m_next = self.train(train, f"M{t + 1}", after, seed, model=m_t, pairs=pairs)
            self.log(f"M{t + 1}", t + 1, m_next.metrics)
            rivals = {"sft": "sft_baseline", "prev": name, "m1": "M1" if t > 1 else None}
            self.evaluate(t + 1, f"M{t + 1}", m_next, seed, rivals)  # M3 vs M1: Figure 3
            self.keep_iteration(t, p, candidates, judgments, pairs, m_next)
            models.append(m_next)
            prompts.append(p)

    def train(self, stage: StageDef, label: str, params: dict, seed: Result, **inputs) -> Result:
        """A training stage; with eval.checkpoint_selection on, it also chooses its checkpoint
        by head to head on held-out prompts of the seed data (srlm/stages/select.py)."""
        stage = selecting(stage, self.c)
        if "seed_data" in stage.inputs:
            inputs["seed_data"] = seed
        return self.runner.run(stage, label, params, **inputs)

    def prompt_generator(self, m0: Result, m_t: Result) -> Result | None:
        """Who writes iteration t's prompts: M0 (fixed), M_t, a given model, or nobody."""
        generator = self.c["self_instruct"]["generator"]
        if generator == "synthetic":
            return None
        fixed = {"base": m0, "current": m_t}.get(generator)
        return fixed or self.runner.run(pretrained("self_instruct.generator"), "generator")

    def evaluate(self, iteration: int, name: str, m: Result, seed: Result, rivals: dict):
        """Model ``name`` answers and judges; then head to head against each rival model."""
        stage = self.runner.run
        outputs = self.outputs[name] = stage(EVAL_OUTPUTS, name, model=m, seed_data=seed)
        metrics = {
            **outputs.metrics,
            **stage(EVAL_AGREEMENT, name, model=m, seed_data=seed).metrics,
        }
        for what, rival in rivals.items():
            if rival and self.runner.components.evaluator.available:
                h2h = stage(EVAL_H2H, f"{name} vs {rival}", a=outputs, b=self.outputs[rival])
                metrics.update(h2h_metrics(h2h, f"eval/h2h_vs_{what}") if h2h.done else {})
        if self.c["eval"]["alpaca_eval"]["run_annotator"] and outputs.done:
            metrics.update(stage(ALPACA_EVAL, name, outputs=outputs, seed_data=seed).metrics)
        self.log(name, iteration, metrics)
        if self.run_dir is not None:  # AlpacaEval's model_outputs.json, named for this run
            generator = f"srlm-{self.c['name']}-{self.run_dir.name}-{name}"
            out = self.run_dir / "eval" / name / "model_outputs.json"
            write_model_outputs(out, alpaca_outputs(outputs, seed), generator)

    def keep_iteration(self, t: int, prompts, candidates, judgments, pairs, m_next) -> None:
        """iter_XX/ in the run directory, and a sample of the judged candidates for wandb."""
        if self.tracker is None:
            return
        rows = [r.rows(n) for r, n in ((candidates, "candidates"), (judgments, "judgments"))]
        self.tracker.log_table("aift/samples", t, *sample_table(*rows, pairs.rows("pairs")))
        rundir.link_iteration(
            self.run_dir,
            t,
            {
                "prompts.jsonl": prompts.path("prompts.jsonl"),
                "candidates.jsonl": candidates.path("candidates.jsonl"),
                "judgments.jsonl": judgments.path("judgments.jsonl"),
                "pairs.jsonl": pairs.path("pairs.jsonl"),
                f"model_M{t + 1}": Path(m_next.model),
            },
        )

    def log(self, model: str, iteration: int, metrics: dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.log(model, iteration, metrics)


def run_job(
    cfg: DictConfig,
    components: Components,
    overrides: list[str] | None = None,
    choices: dict[str, str] | None = None,
) -> Path:
    """Run (or resume) one job, or with ``dry_run`` print its plan; returns its run directory.

    The caller has checked the config (``srlm.validate.check``) before building the components.
    """
    config: dict[str, Any] = plain(cfg)
    overrides = list(overrides or [])
    run_dir = (
        Path(config["paths"]["root"])
        / config["name"]
        / (config["run_id"] or rundir.make_run_id(overrides))
    )
    texts = key_texts(config, components)
    _seed_everything(config)
    if config["dry_run"]:
        print(check_table(config)[1], end="\n\n")  # the paper's settings beside this run's
        runner = Runner(config, Path(config["paths"]["store"]), components, texts, run_dir, True)
        Pipeline(config, runner, None).run()
        print(f"plan for {run_dir} (nothing run, nothing written):\n{runner.plan_table()}")
        return run_dir
    validate.probe_endpoint(config["evaluator"])
    held = rundir.lock(run_dir)
    try:
        rundir.setup_logging(run_dir)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        log.info("run dir: %s", run_dir)
        info = {"name": config["name"], "run_id": run_dir.name, "choices": dict(choices or {})}
        info.update(overrides=overrides, config=config)
        tracker = Tracker(run_dir, info, config["logger"])
        runner = Runner(config, Path(config["paths"]["store"]), components, texts, run_dir)
        started = time.perf_counter()
        try:
            Pipeline(config, runner, tracker).run()
        finally:
            runner.close()
            tracker.finish()
        log.info("done in %.1f s", time.perf_counter() - started)
        print(rundir.summary_table(list(tracker.rows.values()), run_dir), flush=True)
    finally:
        held.release()
    return run_dir


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain values (choices as their strings)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]


def key_texts(config: dict[str, Any], components: Components) -> dict[str, str]:
    """The text behind config values that name something other than a file (see srlm.keys)."""
    from srlm.models.tiny import CHAT_TEMPLATE

    texts = {"judge.template": components.judge.text}
    if config["model"].get("chat_template") == "srlm":
        texts["model.chat_template"] = CHAT_TEMPLATE
    return texts


def _seed_everything(config: dict[str, Any]) -> None:
    import torch

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    random.seed(int(config["seed"]))
    torch.manual_seed(int(config["seed"]))
