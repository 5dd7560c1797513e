"""The paper's settings beside a run's resolved config: ``check_table(config) -> (rows, markdown)``.

Yuan et al. 2024, *Self-Rewarding Language Models* (arXiv 2401.10020; ICML 2024). Every value
below is the paper's, written here by hand with the section that states it; none is read from a
preset. For each setting: the paper's value, its section, where srlm's config sets it (or how it
is derived), and for every known deviation a reason, keyed by (setting, the config's value).
A run's row says "same", "differs" with the documented reason, or **DIFFERS** without one: a
preset that drifts from the paper, or a new deviation nobody wrote down, shows at once.

Shown by ``python run.py ... dry_run=true`` (before the plan) and at the top of ``report.md``
(``python -m srlm.report``, from each run's ``summary.json``). docs/protocol.md explains the
deviations in full.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING = object()


class Stated:
    """A paper value that no config value equals (a description): every run needs a reason."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


UNSTATED = Stated("not stated")  # the paper is silent: srlm's choice is shown, never flagged


@dataclass(frozen=True)
class Setting:
    key: str  # stable id (the deviation table's key)
    label: str
    section: str  # where the paper states it
    paper: Any  # the paper's value in config terms, a Stated, or UNSTATED
    paths: tuple[str, ...] = ()  # config paths, first present wins
    get: Callable[[Mapping[str, Any]], Any] | None = None  # or: derived from the config
    shown: str = ""  # how the paper's value is printed (default: the value)
    tolerance: float = 0.0  # relative, for floats rounded by the paper (541 / 2,171)
    source: str = ""  # what the "config" column says for a derived value

    @property
    def paper_text(self) -> str:
        return self.shown or _text(self.paper)


def _dig(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _kind(config: Mapping[str, Any]) -> str:
    return str(_dig(config, "data.kind"))


def _evaluator(config: Mapping[str, Any]) -> str:
    """The head-to-head judge, by name: its model, or the kind of judge it is."""
    ev = _dig(config, "evaluator")
    if not isinstance(ev, Mapping):
        return "none"
    target = str(ev.get("_target_", ""))
    if target.endswith("OpenAIEvaluator"):
        return str(ev.get("model"))
    if target.endswith("LocalEvaluator"):
        return f"local:{ev.get('model_name_or_path')}"
    if target.endswith("OracleEvaluator"):
        return "oracle"
    return "none"


def _h2h_format(config: Mapping[str, Any]) -> str:
    name = _evaluator(config)
    return {"oracle": "oracle (true grades)", "none": "none"}.get(name, "AlpacaEval pairwise")


def _oasst_or(value: str, synthetic: str) -> Callable[[Mapping[str, Any]], str]:
    """What srlm's code does for data=oasst, or for the synthetic world."""
    return lambda c: {"oasst": value, "synthetic": synthetic}.get(_kind(c), _kind(c))


def _ift_rows(config: Mapping[str, Any]) -> str:
    if _kind(config) != "oasst":
        return "synthetic tasks" if _kind(config) == "synthetic" else _kind(config)
    lang = _dig(config, "data.lang")
    return f"first turn, {'English' if lang == 'en' else f'lang={lang}'}, rank 0"


def _h2h_source(config: Mapping[str, Any]) -> Any:
    if _kind(config) == "synthetic":
        return "synthetic held-out tasks"
    value = _dig(config, "data.eval_prompts_source")
    return None if value is _MISSING else value


SYNTHETIC = "synthetic held-out tasks"
SECTION_LOOP, SECTION_SEED, SECTION_TRAIN, SECTION_EVAL = "§3.1.3", "§3.1.1", "§3.1.3", "§3.1.2"

SETTINGS: tuple[Setting, ...] = (
    # -- the models and the loop -----------------------------------------------------------
    Setting("base_model", "M0, the base model", "§3.1", "meta-llama/Llama-2-70b-hf",
            ("model.name_or_path", "model.name"), shown="Llama 2 70B (base, not chat)"),
    Setting("iterations", "Iterations: M1, M2, M3", "§2.4", 3, ("loop.iterations",)),
    Setting("prompt_generator", "Prompt generator (fixed)", SECTION_LOOP,
            "meta-llama/Llama-2-70b-chat-hf", ("self_instruct.generator",),
            shown="Llama 2-Chat 70B"),
    Setting("shots_seed", "Self-Instruct shots from the IFT seed", SECTION_LOOP, 6,
            ("self_instruct.num_seed_shots",)),
    Setting("shots_generated", "Self-Instruct shots previously generated", SECTION_LOOP, 2,
            ("self_instruct.num_generated_shots",)),
    Setting("prompt_temperature", "Prompt generation temperature", SECTION_LOOP, 0.6,
            ("self_instruct.temperature",)),
    Setting("prompt_top_p", "Prompt generation top-p", SECTION_LOOP, 0.9,
            ("self_instruct.top_p",)),
    Setting("rouge_filter", "Self-Instruct ROUGE-L filter (drop above)", SECTION_LOOP, 0.7,
            ("self_instruct.rouge_threshold",), shown="0.7 (Self-Instruct's filters)"),
    Setting("prompts_per_iteration", "New prompts per iteration", SECTION_LOOP, UNSTATED,
            ("loop.prompts_per_iteration",),
            shown="not stated (3,964 / 6,942 pairs resulted)"),
    Setting("candidates", "Candidates N per prompt", SECTION_LOOP, 4, ("loop.candidates",)),
    Setting("candidate_temperature", "Candidate sampling temperature", SECTION_LOOP, 0.7,
            ("loop.temperature",)),
    Setting("candidate_top_p", "Candidate sampling top-p", SECTION_LOOP, 0.9, ("loop.top_p",)),
    Setting("candidate_length", "Candidate max new tokens", SECTION_LOOP, UNSTATED,
            ("loop.max_new_tokens",)),
    Setting("judge_prompt", "Judge prompt", "Figure 2", "judge_additive5",
            ("judge.template",), shown="additive 5-point (Figure 2)"),
    Setting("judge_scale", "Judge score range", "Figure 2", [0, 5],
            get=lambda c: [_dig(c, "judge.score_min"), _dig(c, "judge.score_max")],
            source="judge.score_min/max", shown="0-5"),
    Setting("judge_samples", "Judgments per candidate (averaged)", SECTION_LOOP, 3,
            ("judge.num_samples",)),
    Setting("judge_temperature", "Judge sampling temperature", SECTION_LOOP, 0.7,
            ("judge.temperature",)),
    Setting("judge_top_p", "Judge sampling top-p", SECTION_LOOP, 0.9, ("judge.top_p",)),
    Setting("pairs", "Pairs: highest vs lowest mean score", "§2.3", "best_worst",
            ("pairs.name",)),
    Setting("pair_margin", "Pair dropped when scores are equal (margin)", "§2.3", 0.0,
            ("pairs.select.min_margin",)),
    Setting("preference_training", "Training on AIFT pairs", "§2.3", "dpo",
            ("pairs.train_with",), shown="DPO"),
    # -- seed data ----------------------------------------------------------------------------
    Setting("seed_source", "Seed data", SECTION_SEED, "OpenAssistant/oasst1",
            ("data.source", "data.kind"), shown="Open Assistant (OASST1)"),
    Setting("ift_size", "IFT examples (at most)", SECTION_SEED, 3200, ("data.max_ift", "data.n_ift")),
    Setting("ift_rows", "IFT: which replies", SECTION_SEED, "first turn, English, rank 0",
            get=_ift_rows,
            source="srlm/data/oasst.py, data.lang", shown="first turn, English, rank 0"),
    Setting("use_eft", "EFT data in M1's SFT", SECTION_SEED, True, ("data.use_eft",)),
    Setting("eft_eval_share", "EFT split: eval share", SECTION_SEED, 541 / (1630 + 541),
            ("data.eval_fraction",), shown="541 / (1,630 + 541) = 0.249", tolerance=0.01),
    Setting("eft_disjoint", "EFT prompts disjoint from IFT", SECTION_SEED, True,
            ("data.ift_disjoint_from_ranked",)),
    Setting("eft_judge", "EFT judgments written by", SECTION_SEED, "the SFT baseline",
            get=_oasst_or("the SFT baseline", "the synthetic world"), source="srlm/stages/eft.py"),
    Setting("eft_rebalance", "EFT: over-represented score thinned", SECTION_SEED, 4.0,
            ("data.eft.over_represented_score",), shown="4"),
    # -- training -----------------------------------------------------------------------------
    Setting("sft_lr", "SFT learning rate", SECTION_TRAIN, 5.5e-6, ("train.sft.learning_rate",)),
    Setting("sft_min_lr", "SFT final learning rate", SECTION_TRAIN, 1.1e-6,
            ("train.sft.min_learning_rate",)),
    Setting("sft_schedule", "SFT decay", SECTION_TRAIN, "cosine",
            ("train.sft.lr_scheduler_type",)),
    Setting("sft_batch", "SFT batch size (global)", SECTION_TRAIN, 16, ("train.sft.batch_size",)),
    Setting("sft_dropout", "SFT dropout", SECTION_TRAIN, 0.1, ("train.sft.dropout",)),
    Setting("sft_loss", "SFT loss", SECTION_TRAIN, "target tokens only",
            get=lambda c: "target tokens only", source="srlm/training.py (assistant-only loss)"),
    Setting("sft_epochs", "SFT epochs", SECTION_TRAIN, UNSTATED, ("train.sft.epochs",)),
    Setting("dpo_lr", "DPO learning rate", SECTION_TRAIN, 1e-6, ("train.dpo.learning_rate",)),
    Setting("dpo_min_lr", "DPO final learning rate", SECTION_TRAIN, 1e-7,
            ("train.dpo.min_learning_rate",)),
    Setting("dpo_batch", "DPO batch size (global)", SECTION_TRAIN, 16, ("train.dpo.batch_size",)),
    Setting("dpo_dropout", "DPO dropout", SECTION_TRAIN, 0.1, ("train.dpo.dropout",)),
    Setting("dpo_beta", "DPO beta", SECTION_TRAIN, 0.1, ("train.dpo.beta",)),
    Setting("dpo_loss", "DPO loss", SECTION_TRAIN, ["sigmoid"], ("train.dpo.loss_type",),
            shown="standard DPO"),
    Setting("dpo_reference", "DPO init and reference", SECTION_TRAIN, "M_t",
            get=lambda c: "M_t", source="srlm/stages/models.py", shown="M_t (reference implied)"),
    Setting("dpo_epochs", "DPO epochs", SECTION_TRAIN, UNSTATED, ("train.dpo.epochs",)),
    # -- checkpoint selection (early stopping) ------------------------------------------------
    Setting("checkpoint_selection", "Checkpoint chosen by head to head", SECTION_TRAIN, True,
            ("eval.checkpoint_selection.enabled",)),
    Setting("sft_save_steps", "SFT checkpoint every (steps)", SECTION_TRAIN, 200,
            ("train.sft.save_steps",)),
    Setting("dpo_save_steps", "DPO checkpoint every (steps)", SECTION_TRAIN, 200,
            ("train.dpo.save_steps",)),
    Setting("selection_against", "Checkpoint compared with", SECTION_TRAIN, "previous",
            ("eval.checkpoint_selection.against",), shown="the previous step's"),
    Setting("selection_prompts", "Checkpoint validation prompts", SECTION_TRAIN, 253,
            ("eval.checkpoint_selection.max_prompts",)),
    Setting("selection_source", "Checkpoint validation prompt source", SECTION_TRAIN,
            Stated("Humpback's sources (Li et al. 2023)"),
            get=_oasst_or("OASST ranked-eval prompts", "synthetic ranked-eval prompts"),
            source="srlm/stages/select.py"),
    Setting("selection_judge", "Checkpoint judge", SECTION_TRAIN, "claude-2",
            get=_evaluator, source="evaluator", shown="Claude 2"),
    # -- evaluation ---------------------------------------------------------------------------
    Setting("h2h_judge", "Head-to-head judge", SECTION_EVAL, "gpt-4", get=_evaluator,
            source="evaluator", shown="GPT-4"),
    Setting("h2h_format", "Head-to-head prompt", SECTION_EVAL, "AlpacaEval pairwise",
            get=_h2h_format, source="evaluator"),
    Setting("h2h_orders", "Head to head: both orders, disagreement = tie", SECTION_EVAL, True,
            get=lambda c: True, source="srlm/eval/head_to_head.py"),
    Setting("h2h_rows", "Head-to-head comparisons (Figure 3)", "Figure 3",
            "vs SFT baseline, vs M_{t-1}, M3 vs M1",
            get=lambda c: "vs SFT baseline, vs M_{t-1}, M3 vs M1", source="srlm/pipeline.py"),
    Setting("h2h_prompts", "Head-to-head prompts", SECTION_EVAL, 256,
            ("data.max_eval_prompts", "data.n_eval_prompts")),
    Setting("h2h_source", "Head-to-head prompt source", SECTION_EVAL,
            Stated("IFT test set (Humpback's sources)"), get=_h2h_source,
            source="data.eval_prompts_source"),
    Setting("alpaca_prompts", "AlpacaEval 2.0 prompts", "Table 1", "tatsu-lab/alpaca_eval",
            ("data.alpaca_eval_source", "data.n_alpaca_eval"), shown="805 (AlpacaEval 2.0)"),
    Setting("alpaca_annotator", "AlpacaEval annotator run", "Table 1", True,
            ("eval.alpaca_eval.run_annotator",)),
    Setting("alpaca_config", "AlpacaEval judge and win rate", "Table 1",
            "weighted_alpaca_eval_gpt4_turbo", ("eval.alpaca_eval.annotators_config",),
            shown="GPT-4 Turbo annotator, raw win rate"),
    Setting("rm_eval_set", "Reward-modelling eval set", SECTION_EVAL, "EFT eval split",
            get=_oasst_or("EFT eval split", "synthetic ranked sets"), source="srlm/stages/seed.py"),
)  # fmt: skip

_TINY = "the embedded default's tiny model (docs/tiny_world.md)"
_SYNTHETIC = "the synthetic world of the embedded default (srlm/data/synthetic.py)"

# Documented deviations: (setting, the config's value) -> why. docs/protocol.md has the long form.
DEVIATIONS: dict[tuple[str, Any], str] = {
    # the paper preset (experiment=paper_llama2_70b)
    ("selection_source", "OASST ranked-eval prompts"): (
        "the paper's 253 validation prompts are not public: a fixed sample of the OASST "
        "ranked-eval prompts (held out from training and from the head-to-head prompts)"
    ),
    ("selection_judge", "gpt-4-1106-preview"): (
        "srlm chooses checkpoints with the one head-to-head evaluator (evaluator=); point it at "
        "Claude with evaluator.base_url / evaluator.model for the paper's judge"
    ),
    ("h2h_judge", "gpt-4-1106-preview"): (
        "the paper names GPT-4 without a version; gpt-4-1106-preview (GPT-4 Turbo) is AlpacaEval "
        "2.0's annotator, the judge of Table 1"
    ),
    ("h2h_source", "alpaca_eval"): (
        "the paper's 256 IFT-test prompts (Humpback's sources) are not public as such: a fixed "
        "seeded sample of AlpacaEval's 805 (helpful_base, koala, oasst, selfinstruct, vicuna: "
        "five of those sources), without the prompts the seed data trains on"
    ),
    ("h2h_source", None): (
        "data=oasst's default: the EFT eval split's prompts (the paper preset samples AlpacaEval)"
    ),
    # the embedded default (python run.py): a tiny model on synthetic tasks, by design
    ("base_model", "tiny"): _TINY,
    ("prompt_generator", "base"): (
        "no chat model in the embedded default: M0 writes the prompts (self_instruct.generator)"
    ),
    ("rouge_filter", 0.9): (
        "templated synthetic prompts overlap above 0.7 (conf/data/synthetic.yaml); 0.9 still "
        "drops near-copies"
    ),
    ("judge_prompt", "judge_additive5_condensed"): (
        "a tiny model cannot judge with the ~375-token prompt: the rubric condensed "
        "(docs/tiny_world.md)"
    ),
    ("seed_source", "synthetic"): _SYNTHETIC,
    ("ift_size", 1000): _SYNTHETIC + ": data.n_ift",
    ("ift_size", 300): "experiment=smoke: a smaller synthetic world",
    ("iterations", 2): "experiment=smoke: M1 and M2 only, the smallest whole loop",
    ("ift_rows", "synthetic tasks"): _SYNTHETIC,
    ("eft_eval_share", None): _SYNTHETIC + ": EFT and ranked-eval sets are drawn apart",
    ("eft_disjoint", None): _SYNTHETIC + ": every prompt is drawn once (disjoint by construction)",
    ("eft_judge", "the synthetic world"): _SYNTHETIC + ": judgments follow the true grades",
    ("eft_rebalance", None): _SYNTHETIC + ": EFT scores are drawn balanced (EFT_KINDS)",
    ("sft_lr", 1e-3): "the paper's rates would not move the tiny model in minutes "
    "(conf/train/tiny.yaml)",
    ("sft_min_lr", None): "tiny model: plain cosine to 0 (conf/train/tiny.yaml)",
    ("dpo_lr", 1e-4): "tiny model: the rate that moved its greedy answers in three iterations "
    "(conf/train/tiny.yaml)",
    ("pair_margin", 0.9): "tiny model: only pairs a point or more apart; smaller gaps were "
    "mostly two wrong answers (conf/model/tiny.yaml)",
    ("dpo_min_lr", None): "tiny model: plain cosine to 0 (conf/train/tiny.yaml)",
    ("dpo_batch", 8): "tiny model: ~150 pairs per iteration (conf/train/tiny.yaml)",
    ("sft_dropout", None): "tiny model: no dropout in minutes-long training",
    ("dpo_dropout", None): "tiny model: no dropout in minutes-long training",
    ("checkpoint_selection", False): (
        "off in the embedded default (its time budget); eval.checkpoint_selection.enabled=true"
    ),
    ("sft_save_steps", 100): "tiny model: ~560 SFT steps in all",
    ("dpo_save_steps", 100): "tiny model: ~60 DPO steps per iteration",
    ("selection_source", "synthetic ranked-eval prompts"): _SYNTHETIC,
    ("selection_judge", "oracle"): _SYNTHETIC + ": the oracle knows the true grades",
    ("h2h_judge", "oracle"): _SYNTHETIC + ": the oracle knows the true grades",
    ("h2h_format", "oracle (true grades)"): _SYNTHETIC,
    ("h2h_prompts", 300): _SYNTHETIC + ": data.n_eval_prompts",
    ("h2h_prompts", 20): "experiment=smoke: a smaller synthetic world",
    ("h2h_source", SYNTHETIC): _SYNTHETIC,
    ("alpaca_prompts", 50): _SYNTHETIC + ": tasks in AlpacaEval's file format",
    ("alpaca_prompts", 10): "experiment=smoke: a smaller synthetic world",
    ("alpaca_annotator", False): "needs the alpaca_eval package and an API key; the synthetic "
    "world has no AlpacaEval",
    ("rm_eval_set", "synthetic ranked sets"): _SYNTHETIC + ": true grades as human ranks",
}


@dataclass
class Row:
    setting: Setting
    value: Any
    where: str
    status: str  # same | differs | unstated
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Same as the paper, or different for a documented reason (or the paper is silent)."""
        return self.status != "differs" or bool(self.reason)

    @property
    def check(self) -> str:
        if self.status == "same":
            return "same"
        if self.status == "unstated":
            return "paper silent"
        return f"differs: {self.reason}" if self.reason else "**DIFFERS: no documented reason**"

    def as_dict(self) -> dict[str, Any]:
        s = self.setting
        return {
            "key": s.key,
            "setting": s.label,
            "section": s.section,
            "paper": s.paper_text,
            "config": self.where,
            "value": _text(self.value),
            "status": self.status,
            "reason": self.reason,
            "ok": self.ok,
        }


def resolve(setting: Setting, config: Mapping[str, Any]) -> tuple[Any, str]:
    """(this run's value, where it comes from)."""
    if setting.get is not None:
        return setting.get(config), setting.source
    for path in setting.paths:  # the first path set (a later one serves another data kind)
        value = _dig(config, path)
        if value is not _MISSING and value is not None:
            return value, path
    return None, setting.paths[0] if setting.paths else ""


def same(a: Any, b: Any, tolerance: float = 0.0) -> bool:
    if isinstance(a, Stated) or isinstance(b, Stated):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=max(tolerance, 1e-9))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def reason_for(key: str, value: Any) -> str:
    """The documented reason a setting has this value, or ""."""
    hashable = _hashable(value)
    for (k, v), why in DEVIATIONS.items():
        if k == key and same(v, hashable):
            return why
    return ""


def check_rows(config: Mapping[str, Any]) -> list[Row]:
    rows = []
    for s in SETTINGS:
        value, where = resolve(s, config)
        if s.paper is UNSTATED:
            rows.append(Row(s, value, where, "unstated"))
        elif same(s.paper, value, s.tolerance):
            rows.append(Row(s, value, where, "same"))
        else:
            rows.append(Row(s, value, where, "differs", reason_for(s.key, value)))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[Row]) -> str:
    """The table, and one line that counts what differs."""
    lines = [
        "| Setting | Paper § | Paper | This run | Config | Check |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r.as_dict()
        cells = (d["setting"], d["section"], d["paper"], f"`{d['value']}`", d["config"], r.check)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    n_same = sum(r.status == "same" for r in rows)
    documented = sum(r.status == "differs" and r.ok for r in rows)
    undocumented = sum(not r.ok for r in rows)
    silent = sum(r.status == "unstated" for r in rows)
    lines += [
        "",
        f"{len(rows)} settings of the paper: {n_same} same, {documented} differ for a documented "
        f"reason, {undocumented} differ without one, {silent} the paper does not state.",
    ]
    return "\n".join(lines)


def check_table(config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """``(rows, markdown)``: each paper setting, its value, this run's value, same or why not.

    ``config`` is the resolved config as plain values (``srlm.pipeline.plain(cfg)``, or
    ``summary.json``'s ``run.config``). A row's ``ok`` is False when it differs without a
    documented reason.
    """
    rows = check_rows(config)
    return [r.as_dict() for r in rows], markdown(rows)
