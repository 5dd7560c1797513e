"""The orchestrator: the only place that knows the order of the stages.

    M0 -> seed data -> SFT baseline (IFT) -> EFT -> M1 = SFT(M0, IFT+EFT)
    for t = 1..K-1:  prompts -> candidates -> judgments -> AIFT(M_t) -> M_{t+1} (DPO or SFT)
    after every model: evaluate (agreement, head to head, AlpacaEval outputs, lengths) and log

Every stage goes through the content-addressed store (``srlm.artifacts``): its key is a hash of
the config values it reads and the keys of its inputs, so re-running a command skips what is
done, a killed run resumes, and the jobs of a sweep share every stage they have in common.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from srlm.artifacts import RowLog, Stage, read_jsonl, stable_hash, write_json, write_jsonl
from srlm.generation.base import Sampling
from srlm.tracking import Tracker

log = logging.getLogger("srlm")

# Keys that do not change results: left out of the run id (they still go into config.yaml).
RUN_ID_EXCLUDE = (
    "hydra",
    "logger",
    "dry_run",
    "threads",
    "paths",
    "name",
    "run_id",
    "generation.backend.batch_size",
)


@dataclass(frozen=True)
class ModelRef:
    """M_t: where it is and the store key that identifies how it was made."""

    name: str
    path: str
    key: str


def run_job(
    cfg: DictConfig, overrides: list[str] | None = None, choices: dict[str, str] | None = None
) -> Path:
    """Run (or resume) one job; returns its run directory."""
    overrides, choices = _hydra_context(overrides, choices)
    run_id = cfg.run_id or make_run_id(overrides)
    run_dir = Path(cfg.paths.root) / cfg.name / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(run_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    log.info("run dir: %s", run_dir)
    if cfg.dry_run:
        log.info("dry run: config composed and resolved, nothing executed")
        return run_dir
    info = {
        "name": cfg.name,
        "run_id": run_id,
        "choices": choices,
        "overrides": overrides,
        "config": resolved,
    }
    tracker = Tracker(run_dir, info, resolved["logger"])
    started = time.perf_counter()
    try:
        Pipeline(cfg, run_dir, tracker).run()
    finally:
        tracker.finish()
    log.info("done in %.1f s: %s", time.perf_counter() - started, run_dir / "summary.json")
    return run_dir


def make_run_id(overrides: list[str]) -> str:
    kept = sorted(
        o for o in overrides if not o.lstrip("+~").split("=", 1)[0].startswith(RUN_ID_EXCLUDE)
    )
    if not kept:
        return "default"
    rid = re.sub(r"[^A-Za-z0-9=,._+-]", "-", ",".join(kept))
    return rid if len(rid) <= 120 else f"h{stable_hash(kept, 12)}"


def _hydra_context(overrides, choices):
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        overrides = list(hc.overrides.task) if overrides is None else overrides
        choices = (
            {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
            if choices is None
            else choices
        )
    except ValueError:  # not under @hydra.main (tests compose the config themselves)
        pass
    return list(overrides or []), dict(choices or {})


def _setup_logging(run_dir: Path) -> None:
    root = logging.getLogger()
    path = str(run_dir / "run.log")
    for h in list(root.handlers):
        if getattr(h, "_srlm", False):
            root.removeHandler(h)
    fh = logging.FileHandler(path)
    fh._srlm = True  # type: ignore[attr-defined]
    fh.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    root.addHandler(fh)
    if not any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        for h in root.handlers
    ):
        sh = logging.StreamHandler()
        sh.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        root.addHandler(sh)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Pipeline:
    def __init__(self, cfg: DictConfig, run_dir: Path, tracker: Tracker):
        import torch
        from hydra.utils import instantiate

        self.cfg = cfg
        self.c: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        self.run_dir = run_dir
        self.tracker = tracker
        self.store = Path(cfg.paths.store)
        self.seed = int(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        random.seed(self.seed)
        torch.manual_seed(self.seed)
        self.judge = instantiate(cfg.judge)
        self.select = instantiate(cfg.pairs.select)
        self.evaluator = instantiate(cfg.evaluator)
        self.load_backend = instantiate(cfg.generation.backend)
        self.oracle = self.c["data"]["kind"] == "synthetic"
        self._loaded: tuple[str | None, Any, Any] = (None, None, None)
        self.executions: list[dict[str, Any]] = []

    # -- plumbing -----------------------------------------------------------------------------

    def stage(self, name: str, material: dict[str, Any]) -> Stage:
        return Stage(self.store, name, {"stage": name, "version": 1, **material})

    def _record(self, st: Stage, started: float) -> None:
        self.executions.append(
            {
                "stage": st.name,
                "key": st.key,
                "executed": st.executed,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        write_json(self.run_dir / "stages.json", self.executions)
        if st.executed:
            log.info("%s: computed in %.1f s (%s)", st.name, time.perf_counter() - started, st.dir)
        else:
            log.info("%s: done already, skipped (%s)", st.name, st.key)

    def model(self, ref: ModelRef):
        """(generator, tokenizer) for M_t; the last one stays loaded while the loop uses it."""
        if self._loaded[0] != ref.path:
            self._loaded = (None, None, None)
            gen = self.load_backend(model_path=ref.path)
            from srlm.models.loading import load_tokenizer

            self._loaded = (
                ref.path,
                gen,
                load_tokenizer(ref.path, self.c["model"].get("chat_template")),
            )
        return self._loaded[1], self._loaded[2]

    def seed_rows(self, seed_stage: Stage, name: str) -> list[dict]:
        path = seed_stage.path(f"{name}.jsonl")
        return read_jsonl(path) if path.exists() else []

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        seed = self.seed_data()  # first: bad data fails before minutes of building M0
        m0 = self.base_model()
        baseline = self.sft(m0, seed, None, "sft_baseline")
        eft = self.eft(seed, baseline)
        m1 = (
            self.sft(m0, seed, eft, "M1")
            if eft is not None
            else ModelRef("M1", baseline.path, baseline.key)
        )
        self.evaluate(baseline, 0, seed, baseline, None)
        models = {1: m1}
        self.evaluate(m1, 1, seed, baseline, None)
        existing: list[str] = []
        prompt_keys: list[str] = []
        for t in range(1, int(self.cfg.loop.iterations)):
            m_t = models[t]
            prompts = self.prompts(t, m0, m_t, seed, existing, prompt_keys)
            prompt_rows = read_jsonl(prompts.path("prompts.jsonl"))
            existing += [r["prompt"] for r in prompt_rows]
            prompt_keys.append(prompts.key)
            cands = self.candidates(t, m_t, prompts)
            judgments = self.judgments(t, m_t, cands)
            data, telemetry = self.training_data(t, cands, judgments)
            self.tracker.log(m_t.name, t, telemetry)
            self._log_samples(t, cands, judgments, data)
            models[t + 1] = self.train(t, m_t, data)
            self.evaluate(models[t + 1], t + 1, seed, baseline, m_t)
            self._link_iteration(t, prompts, cands, judgments, data, models[t + 1])

    def base_model(self) -> ModelRef:
        mc = self.c["model"]
        if mc["builder"] == "pretrained":
            if not mc.get("name_or_path"):
                raise ValueError("model.name_or_path is required when model.builder=pretrained")
            return ModelRef("M0", mc["name_or_path"], stable_hash(mc["name_or_path"]))
        if mc["builder"] != "tiny":
            raise ValueError(f"model.builder must be 'tiny' or 'pretrained', got {mc['builder']!r}")
        from srlm.models.tiny import build_tiny_model

        t0 = time.perf_counter()
        from srlm.data.synthetic import CORPUS_VERSION
        from srlm.models.tiny import tokenizer_prompts

        material = {
            "recipe": mc["recipe"],
            "corpus": CORPUS_VERSION,
            "prompts": stable_hash(tokenizer_prompts()),
        }
        with self.stage("m0_tiny", material) as st:
            if not st.done:
                shutil.rmtree(st.partial("model"), ignore_errors=True)
                build_tiny_model(st.partial("model"), **mc["recipe"])
                st.publish("model")
                st.finish()
        self._record(st, t0)
        return ModelRef("M0", str(st.path("model")), st.key)

    def seed_data(self) -> Stage:
        from srlm.stages.seed import build_seed_data

        t0 = time.perf_counter()
        from srlm.data.synthetic import WORLD_VERSION

        material = {"data": {k: v for k, v in self.c["data"].items() if k != "use_eft"}}
        if self.c["data"]["kind"] == "synthetic":
            material["world"] = WORLD_VERSION
        with self.stage("seed_data", material) as st:
            if not st.done:
                data = build_seed_data(self.c["data"])
                for name, rows in data.items():
                    write_jsonl(st.path(f"{name}.jsonl"), rows)
                st.finish({f"seed/{k}": len(v) for k, v in data.items()})
        self._record(st, t0)
        return st

    def sft(self, m0: ModelRef, seed: Stage, eft: Stage | None, name: str) -> ModelRef:
        """SFT(M0, IFT [+ EFT]): the SFT baseline without EFT, M1 with it."""
        material = {
            "m0": m0.key,
            "seed": seed.key,
            "train": self.c["train"]["sft"],
            "lora": self.c["train"]["lora"],
            "eft": eft.key if eft else None,
            "judge_template": self.judge.template if eft else None,
            "seed_value": self.seed,
        }
        t0 = time.perf_counter()
        with self.stage("sft", material) as st:
            if not st.done:
                examples = [_chat(r["prompt"], r["response"]) for r in self.seed_rows(seed, "ift")]
                if eft is not None:
                    examples += [
                        _chat(self.judge.render(r["prompt"], r["response"]), r["judgment"])
                        for r in read_jsonl(eft.path("eft.jsonl"))
                    ]
                random.Random(self.seed).shuffle(examples)
                metrics = self._train("sft", m0.path, examples, st.partial("model"))
                st.publish("model")
                shutil.rmtree(st.dir / "model.partial.checkpoints", ignore_errors=True)
                st.finish({**metrics, "train/num_examples": float(len(examples))})
        self._record(st, t0)
        return ModelRef(name, str(st.path("model")), st.key)

    def eft(self, seed: Stage, baseline: ModelRef) -> Stage | None:
        """EFT examples: given (synthetic) or the SFT baseline's agreeing judgments (OASST, §4.2)."""
        if not self.c["data"].get("use_eft", True):
            return None
        if self.c["data"]["kind"] == "synthetic":
            return seed
        from srlm.data.oasst import build_eft
        from srlm.stages.judge import judge_responses

        material = {
            "seed": seed.key,
            "judge_model": baseline.key,
            "judge": self.c["judge"],
            "eft": self.c["data"]["eft"],
        }
        t0 = time.perf_counter()
        with self.stage("eft", material) as st:
            if not st.done:
                ranked = self.seed_rows(seed, "ranked_train")
                items = [
                    {"id": f"{it['prompt_id']}/{i}", "prompt": it["prompt"], "response": r["text"]}
                    for it in ranked
                    for i, r in enumerate(it["responses"])
                ]
                gen, tok = self.model(baseline)
                rows = judge_responses(
                    gen, tok, self.judge, items, RowLog(st.partial("judgments.jsonl")), self.seed
                )
                by_id = {r["id"]: r for r in rows}
                judged = {
                    it["prompt_id"]: [
                        (
                            by_id[f"{it['prompt_id']}/{i}"]["samples"][0],
                            by_id[f"{it['prompt_id']}/{i}"]["scores"][0],
                        )
                        for i in range(len(it["responses"]))
                    ]
                    for it in ranked
                }
                examples, stats = build_eft(ranked, judged, seed=self.seed, **self.c["data"]["eft"])
                write_jsonl(st.path("eft.jsonl"), examples)
                st.publish("judgments.jsonl")
                st.finish(
                    {
                        "eft/num_examples": float(len(examples)),
                        **{f"eft/{k}": v for k, v in stats.items() if isinstance(v, int | float)},
                    }
                )
        self._record(st, t0)
        return st

    def prompts(
        self,
        t: int,
        m0: ModelRef,
        m_t: ModelRef,
        seed: Stage,
        existing: list[str],
        prev_keys: list[str],
    ) -> Stage:
        from srlm.stages.prompts import generate_prompts

        si = self.c["self_instruct"]
        gen_ref = {"base": m0, "current": m_t}.get(si["generator"])
        if gen_ref is None and si["generator"] != "synthetic":
            gen_ref = ModelRef("generator", si["generator"], stable_hash(si["generator"]))
        material = {
            "self_instruct": si,
            "generator": gen_ref.key if gen_ref else "synthetic",
            "seed": seed.key,
            "previous": prev_keys,
            "target": self.c["loop"]["prompts_per_iteration"],
            "t": t,
            "seed_value": self.seed,
        }
        t0 = time.perf_counter()
        with self.stage("prompts", material) as st:
            if not st.done:
                seed_prompts = [r["prompt"] for r in self.seed_rows(seed, "ift")]
                gen = self.model(gen_ref)[0] if gen_ref else None
                records, metrics = generate_prompts(
                    si,
                    gen,
                    seed_prompts,
                    existing,
                    self.c["loop"]["prompts_per_iteration"],
                    seed=self.seed * 100 + t,
                    data_cfg=self.c["data"],
                )
                write_jsonl(st.path("prompts.jsonl"), records)
                st.finish(metrics)
        self._record(st, t0)
        self.tracker.log(m_t.name, t, st.info["metrics"])
        return st

    def candidates(self, t: int, m_t: ModelRef, prompts: Stage) -> Stage:
        from srlm.stages.sample import sample_candidates

        lc = self.c["loop"]
        sampling = Sampling(
            n=lc["candidates"],
            temperature=lc["temperature"],
            top_p=lc["top_p"],
            max_new_tokens=lc["max_new_tokens"],
            seed=self.seed * 100 + t,
        )
        material = {
            "model": m_t.key,
            "prompts": prompts.key,
            "sampling": sampling.__dict__,
            "chunk_size": lc["chunk_size"],
        }
        t0 = time.perf_counter()
        with self.stage("candidates", material) as st:
            if not st.done:
                gen, tok = self.model(m_t)
                sample_candidates(
                    gen,
                    tok,
                    read_jsonl(prompts.path("prompts.jsonl")),
                    sampling,
                    RowLog(st.partial("candidates.jsonl")),
                    lc["chunk_size"],
                )
                st.publish("candidates.jsonl")
                st.finish()
        self._record(st, t0)
        return st

    def judgments(self, t: int, m_t: ModelRef, cands: Stage) -> Stage:
        from srlm.stages.judge import judge_responses, parse_stats

        material = {
            "model": m_t.key,
            "candidates": cands.key,
            "judge": self.c["judge"],
            "seed_value": self.seed,
            "t": t,
            "chunk_size": self.c["loop"]["chunk_size"],
        }
        t0 = time.perf_counter()
        with self.stage("judgments", material) as st:
            if not st.done:
                gen, tok = self.model(m_t)
                items = [
                    {"id": f"{r['id']}/{i}", "prompt": r["prompt"], "response": text}
                    for r in read_jsonl(cands.path("candidates.jsonl"))
                    for i, text in enumerate(r["candidates"])
                ]
                rows = judge_responses(
                    gen,
                    tok,
                    self.judge,
                    items,
                    RowLog(st.partial("judgments.jsonl")),
                    self.seed * 100 + t,
                    self.c["loop"]["chunk_size"],
                )
                st.publish("judgments.jsonl")
                st.finish(parse_stats(rows, self.judge.score_min, self.judge.score_max))
        self._record(st, t0)
        self.tracker.log(m_t.name, t, st.info["metrics"])
        return st

    def training_data(
        self, t: int, cands: Stage, judgments: Stage
    ) -> tuple[Stage, dict[str, float]]:
        from srlm.stages.pairs import make_training_data, scored_groups

        material = {
            "candidates": cands.key,
            "judgments": judgments.key,
            "pairs": self.c["pairs"],
            "seed_value": self.seed,
        }
        t0 = time.perf_counter()
        with self.stage("pairs", material) as st:
            if not st.done:
                by_id = {r["id"]: r for r in read_jsonl(judgments.path("judgments.jsonl"))}
                groups = scored_groups(read_jsonl(cands.path("candidates.jsonl")), by_id)
                rows, metrics = make_training_data(
                    groups, self.select, self.c["pairs"]["train_with"], self.oracle
                )
                write_jsonl(st.path("pairs.jsonl"), rows)
                st.finish(metrics)
        self._record(st, t0)
        return st, st.info["metrics"]

    def train(self, t: int, m_t: ModelRef, data: Stage) -> ModelRef:
        kind = self.c["pairs"]["train_with"]
        material = {
            "model": m_t.key,
            "data": data.key,
            "train": self.c["train"][kind],
            "lora": self.c["train"]["lora"],
            "kind": kind,
            "seed_value": self.seed,
        }
        t0 = time.perf_counter()
        name = f"M{t + 1}"
        with self.stage("train", material) as st:
            if not st.done:
                rows = read_jsonl(data.path("pairs.jsonl"))
                if not rows:
                    # Nothing to learn from (every prompt tied): M_{t+1} = M_t, said loudly.
                    log.warning("AIFT(M%d) is empty: %s is a copy of M%d", t, name, t)
                    shutil.copytree(m_t.path, st.partial("model"), dirs_exist_ok=True)
                    metrics: dict[str, float] = {"train/steps": 0.0}
                elif kind == "dpo":
                    metrics = self._train("dpo", m_t.path, rows, st.partial("model"))
                else:
                    examples = [_chat(r["prompt"], r["response"]) for r in rows]
                    metrics = self._train("sft", m_t.path, examples, st.partial("model"))
                st.publish("model")
                shutil.rmtree(st.dir / "model.partial.checkpoints", ignore_errors=True)
                st.finish(metrics)
        self._record(st, t0)
        self.tracker.log(name, t + 1, st.info["metrics"])
        return ModelRef(name, str(st.path("model")), st.key)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(
        self, m: ModelRef, iteration: int, seed: Stage, baseline: ModelRef, prev: ModelRef | None
    ) -> None:
        outputs = self.eval_outputs(m, seed)
        metrics = dict(outputs.info["metrics"])
        metrics.update(self.eval_agreement(m, seed).info["metrics"])
        if m.name != "sft_baseline":
            metrics.update(
                self.eval_h2h(outputs, self.eval_outputs(baseline, seed), "eval/h2h_vs_sft")
            )
            if prev is not None:
                metrics.update(
                    self.eval_h2h(outputs, self.eval_outputs(prev, seed), "eval/h2h_vs_prev")
                )
        self._export_alpaca(m, outputs)
        self.tracker.log(m.name, iteration, metrics)

    def eval_outputs(self, m: ModelRef, seed: Stage) -> Stage:
        from srlm.stages.evaluate import answer_prompts

        eg = self.c["eval"]["generation"]
        sampling = Sampling(
            n=1,
            temperature=eg["temperature"],
            top_p=eg["top_p"],
            max_new_tokens=eg["max_new_tokens"],
            seed=self.seed,
        )
        material = {"model": m.key, "seed": seed.key, "sampling": sampling.__dict__}
        t0 = time.perf_counter()
        with self.stage("eval_outputs", material) as st:
            if not st.done:
                gen, tok = self.model(m)
                prompts = self.seed_rows(seed, "eval_prompts")
                outputs, metrics = answer_prompts(
                    gen, tok, prompts, sampling, RowLog(st.partial("outputs.jsonl")), self.oracle
                )
                alpaca = [
                    {
                        "id": f"alpaca/{i}",
                        "prompt": r["instruction"],
                        "dataset": r.get("dataset", ""),
                    }
                    for i, r in enumerate(self.seed_rows(seed, "alpaca_eval"))
                ]
                alpaca_out, _ = answer_prompts(
                    gen, tok, alpaca, sampling, RowLog(st.partial("alpaca_outputs.jsonl")), False
                )
                datasets = {r["id"]: r["dataset"] for r in alpaca}
                write_json(
                    st.path("model_outputs.json"),
                    [
                        {
                            "instruction": o["prompt"],
                            "output": o["output"],
                            "generator": "",
                            "dataset": datasets[o["id"]],
                        }
                        for o in alpaca_out
                    ],
                )
                st.publish("outputs.jsonl")
                st.publish("alpaca_outputs.jsonl")
                st.finish(metrics)
        self._record(st, t0)
        return st

    def eval_agreement(self, m: ModelRef, seed: Stage) -> Stage:
        from srlm.stages.evaluate import agreement

        opts = self.c["eval"]["agreement"]
        material = {
            "model": m.key,
            "seed": seed.key,
            "judge": self.c["judge"],
            "options": opts,
            "seed_value": self.seed,
        }
        t0 = time.perf_counter()
        with self.stage("eval_agreement", material) as st:
            if not st.done:
                gen, tok = self.model(m)
                metrics = agreement(
                    gen,
                    tok,
                    self.judge,
                    self.seed_rows(seed, "ranked_eval"),
                    opts,
                    RowLog(st.partial("judgments.jsonl")),
                    self.seed,
                )
                st.publish("judgments.jsonl")
                st.finish(metrics)
        self._record(st, t0)
        return st

    def eval_h2h(self, a: Stage, b: Stage, prefix: str) -> dict[str, float]:
        from srlm.stages.evaluate import head_to_head

        if not self.evaluator.available:
            return {}
        material = {"a": a.key, "b": b.key, "evaluator": self.c["evaluator"]}
        t0 = time.perf_counter()
        with self.stage("eval_h2h", material) as st:
            if not st.done:
                result = head_to_head(
                    self.evaluator, _outputs(a), _outputs(b), st.path("evaluator_cache.jsonl")
                )
                st.finish(result)
        self._record(st, t0)
        r = st.info["metrics"]
        return {
            f"{prefix}/win": r["win"],
            f"{prefix}/tie": r["tie"],
            f"{prefix}/loss": r["loss"],
            f"{prefix}/n": float(r["n"]),
            f"{prefix}/judge_failures": float(r.get("n_judge_failures", 0)),
        }

    def _export_alpaca(self, m: ModelRef, outputs: Stage) -> None:
        """AlpacaEval's model_outputs.json for M in the run directory (generator = run + model)."""
        rows = json.loads(outputs.path("model_outputs.json").read_text())
        if not rows:
            return
        gen_name = f"srlm-{self.cfg.name}-{self.run_dir.name}-{m.name}"
        out = self.run_dir / "eval" / m.name / "model_outputs.json"
        write_json(out, [{**r, "generator": gen_name} for r in rows])
        if self.c["eval"]["alpaca_eval"]["run_annotator"]:
            from srlm.eval.alpaca import run_alpaca_eval

            result = run_alpaca_eval(
                out, self.c["eval"]["alpaca_eval"]["annotators_config"], out.parent / "alpaca_eval"
            )
            if result:
                self.tracker.log(
                    m.name,
                    int(m.name[1:]) if m.name[1:].isdigit() else 0,
                    {f"eval/alpaca/{k}": v for k, v in result.items()},
                )

    # -- helpers ------------------------------------------------------------------------------

    def _train(self, kind: str, base: str, data: list, out_dir: Path) -> dict[str, float]:
        """SFT or DPO, in this process or (``loop.isolation=subprocess``) in child processes."""
        cfg = self._train_cfg(kind)
        isolation = self.c["loop"]["isolation"]
        if isolation not in ("inline", "subprocess"):
            raise ValueError(f"loop.isolation must be 'inline' or 'subprocess', got {isolation!r}")
        if isolation == "inline" and (
            cfg.get("deepspeed") or (self.c["train"].get("num_processes") or 1) > 1
        ):
            raise ValueError(
                "train.deepspeed / train.num_processes>1 need loop.isolation=subprocess"
            )
        if isolation == "subprocess":
            from srlm.train_worker import run_isolated

            self.release_model()
            return run_isolated(
                kind,
                base,
                data,
                out_dir,
                cfg,
                self.seed,
                int(self.c["train"].get("num_processes") or 1),
            )
        from srlm.training import train_dpo, train_sft

        fn = train_sft if kind == "sft" else train_dpo
        return fn(base, data, out_dir, cfg, seed=self.seed)

    def release_model(self) -> None:
        """Free the loaded generator (and its GPU memory) before a training child starts."""
        import gc

        import torch

        self._loaded = (None, None, None)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _train_cfg(self, kind: str) -> dict[str, Any]:
        tc = self.c["train"]
        cfg = dict(tc[kind])
        cfg["lora"] = tc.get("lora")
        cfg["deepspeed"] = tc.get("deepspeed")
        cfg["chat_template"] = self.c["model"].get("chat_template")
        return cfg

    def _log_samples(self, t: int, cands: Stage, judgments: Stage, data: Stage) -> None:
        judged = {r["id"]: r for r in read_jsonl(judgments.path("judgments.jsonl"))}
        pairs = {r["prompt_id"]: r for r in read_jsonl(data.path("pairs.jsonl"))}
        rows = []
        for r in read_jsonl(cands.path("candidates.jsonl"))[:20]:
            js = [judged[f"{r['id']}/{i}"] for i in range(len(r["candidates"]))]
            p = pairs.get(r["id"], {})
            rows.append(
                [
                    r["prompt"],
                    json.dumps(r["candidates"]),
                    json.dumps([j["samples"] for j in js]),
                    json.dumps([j["score"] for j in js]),
                    p.get("chosen", p.get("response")),
                    p.get("rejected"),
                ]
            )
        self.tracker.log_table(
            "aift/samples",
            t,
            ["prompt", "candidates", "judge_texts", "scores", "chosen", "rejected"],
            rows,
        )

    def _link_iteration(self, t: int, *stages_and_model) -> None:
        """iter_XX/ in the run dir points into the store: prompts, candidates, judgments, pairs, model."""
        d = self.run_dir / f"iter_{t:02d}"
        d.mkdir(exist_ok=True)
        prompts, cands, judgments, data, model = stages_and_model
        links = {
            "prompts.jsonl": prompts.path("prompts.jsonl"),
            "candidates.jsonl": cands.path("candidates.jsonl"),
            "judgments.jsonl": judgments.path("judgments.jsonl"),
            "pairs.jsonl": data.path("pairs.jsonl"),
            f"model_{model.name}": Path(model.path),
        }
        for name, target in links.items():
            link = d / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target.resolve())


def _outputs(eval_outputs: Stage) -> list[dict]:
    return [
        {"id": r["id"], "prompt": r["prompt"], "output": r["candidates"][0]}
        for r in read_jsonl(eval_outputs.path("outputs.jsonl"))
    ]


def _chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
