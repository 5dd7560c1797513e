"""Typed schemas for the stable parts of the config, registered with Hydra's ConfigStore.

``conf/config.yaml`` starts its defaults list with ``srlm_schema``, so a misspelt key
(``loop.iteratons=3``), a wrong type (``loop.iterations=three``) or a value outside a choice
(``model.builder=nope``: the choices are Enums, which OmegaConf checks) fails at composition
with a message naming the key. Component groups (judge, pairs, generation, evaluator, train) stay
untyped here: their ``_target_``'s signature is their schema, and the tests instantiate each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Builder(Enum):
    tiny = "tiny"  # built and pretrained locally (the embedded default)
    pretrained = "pretrained"  # a hub id or a local checkpoint


class Isolation(Enum):
    inline = "inline"
    subprocess = "subprocess"  # each training stage in its own process(es)


class Ties(Enum):
    wrong = "wrong"
    half = "half"
    skip = "skip"


class Correlation(Enum):
    per_prompt = "per_prompt"
    pooled = "pooled"


class FiveBest(Enum):
    top_scored = "top_scored"
    prompts_with_top = "prompts_with_top"
    all_prompts = "all_prompts"


class SelectAgainst(Enum):
    previous = "previous"  # §3.1.3: each checkpoint vs the one before it, while it wins
    start = "start"  # each checkpoint vs the model its training started from


class LoggerKind(Enum):
    wandb = "wandb"
    none = "none"


class WandbMode(Enum):
    online = "online"
    offline = "offline"
    disabled = "disabled"


@dataclass
class PathsConfig:
    root: str = "runs"
    store: str = "${paths.root}/store"


@dataclass
class ModelConfig:
    name: str = MISSING
    name_or_path: str | None = None
    builder: Builder = Builder.tiny
    dtype: str = "float32"
    max_length: int | None = None  # its context: train.{sft,dpo}.max_length (None: no cap)
    chat_template: str | None = None
    recipe: Any = None


@dataclass
class LoopConfig:
    iterations: int = 3
    prompts_per_iteration: int = 200
    candidates: int = 4
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 48
    isolation: Isolation = Isolation.inline
    chunk_size: int = 256


@dataclass
class SelfInstructConfig:
    generator: str = "base"
    num_seed_shots: int = 6
    num_generated_shots: int = 2
    temperature: float = 0.6
    top_p: float = 0.9
    max_new_tokens: int = 128
    rouge_threshold: float = 0.7
    batch_size: int = 32
    max_rounds: int = 50


@dataclass
class AgreementConfig:
    ties: Ties = Ties.wrong
    correlation: Correlation = Correlation.per_prompt
    five_best: FiveBest = FiveBest.top_scored


@dataclass
class EvalGenerationConfig:
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 48


@dataclass
class AlpacaEvalConfig:
    run_annotator: bool = False
    annotators_config: str = "weighted_alpaca_eval_gpt4_turbo"
    reference_outputs: str | None = None
    fn_metric: str | None = None


@dataclass
class CheckpointSelectionConfig:
    enabled: bool = False
    against: SelectAgainst = SelectAgainst.previous
    max_prompts: int | None = 253
    min_margin: float = 0.0


@dataclass
class EvalConfig:
    agreement: AgreementConfig = field(default_factory=AgreementConfig)
    generation: EvalGenerationConfig = field(default_factory=EvalGenerationConfig)
    alpaca_eval: AlpacaEvalConfig = field(default_factory=AlpacaEvalConfig)
    checkpoint_selection: CheckpointSelectionConfig = field(
        default_factory=CheckpointSelectionConfig
    )


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.none
    project: str | None = "srlm"
    entity: str | None = None
    mode: WandbMode = WandbMode.offline


@dataclass
class RootConfig:
    name: str = "default"
    seed: int = 0
    run_id: str | None = None
    threads: int | None = None
    dry_run: bool = False
    paths: PathsConfig = field(default_factory=PathsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: Any = MISSING
    judge: Any = MISSING
    pairs: Any = MISSING
    generation: Any = MISSING
    train: Any = MISSING
    evaluator: Any = MISSING
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    self_instruct: SelfInstructConfig = field(default_factory=SelfInstructConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    experiment: Any = None


def register() -> None:
    ConfigStore.instance().store(name="srlm_schema", node=RootConfig)


register()
