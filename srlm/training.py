"""SFT and DPO with TRL: the only module that imports TRL, so an upgrade touches one file.

``train_sft`` gives M1 (IFT+EFT), the SFT baseline (IFT only) and the top-only ablation;
``train_dpo`` gives M_{t+1} from M_t on AIFT(M_t), with M_t as the frozen reference.
Examples arrive as chat messages; the loss covers assistant tokens only.

* **Batch.** ``batch_size`` is the *global* batch (the paper's 16): the per-device micro-batch
  and the gradient accumulation are derived from the number of processes and
  ``max_micro_batch`` (``batch_plan``), so 1, 2 or 8 GPUs train with the same batch.
* **Length.** ``max_length`` (the model's context, ``model.max_length``, by default) cuts longer
  examples; how many are cut is counted (``train/truncated_examples``) and warned about, never
  silent.
* **Dropout.** ``dropout`` is set on every dropout the architecture has (``DROPOUT_FIELDS``; HF
  Llama, Qwen2 and Mistral have attention dropout only). DPO keeps it unless
  ``disable_dropout`` (TRL's switch, which alone would miss Llama's attention dropout).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from srlm.progress import labelled

log = logging.getLogger(__name__)


def _patch_trl_cpu_logprobs() -> None:
    """Score only the labelled positions on CPU too (docs/environment.md: 3.2x faster CPU training).

    TRL 1.16 decides this with a private helper that says "no" on every device without Triton;
    the chunked kernels themselves still pick their torch path on CPU. If TRL renames the helper,
    this does nothing and ``tests/test_training.py`` fails, pointing here.
    """
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "_srlm_patched", False):
        return

    def compact_everywhere(device: torch.device) -> bool:
        return device.type == "cpu" or original(device)

    compact_everywhere._srlm_patched = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact_everywhere


def world_size() -> int:
    """The number of training processes (``accelerate launch`` sets WORLD_SIZE; alone: 1)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def batch_plan(
    global_batch: int, processes: int, max_micro_batch: int | None = None, what: str = "train"
) -> tuple[int, int]:
    """(per-device micro-batch, gradient accumulation steps) for a global batch.

    ``global_batch`` examples per optimizer step = micro-batch x accumulation x processes. Each
    process takes ``global_batch / processes`` (it must divide evenly) in the largest micro-batch
    that divides it and is at most ``max_micro_batch`` (None: no cap), then accumulates.
    E.g. 16 with ``max_micro_batch=4``: 1 process 4 x 4, 2 processes 4 x 2, 8 processes 2 x 1.
    """
    if global_batch < 1 or processes < 1:
        raise ValueError(
            f"{what}: batch_size={global_batch} and {processes} processes must be >= 1"
        )
    if global_batch % processes:
        raise ValueError(
            f"{what}.batch_size={global_batch} is the global batch: it must be divisible by the "
            f"{processes} training processes (train.num_processes)"
        )
    per_process = global_batch // processes
    cap = min(per_process, max_micro_batch or per_process)
    if cap < 1:
        raise ValueError(f"{what}.max_micro_batch={max_micro_batch}: must be >= 1")
    micro = max(d for d in range(1, cap + 1) if per_process % d == 0)
    return micro, per_process // micro


def _common_args(
    cfg: dict[str, Any], output_dir: Path, seed: int, kind: str = "sft"
) -> dict[str, Any]:
    on_cpu = not torch.cuda.is_available()
    bf16 = bool(cfg.get("bf16")) and not on_cpu
    micro, accumulation = batch_plan(
        cfg["batch_size"], world_size(), cfg.get("max_micro_batch"), f"train.{kind}"
    )
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": cfg["learning_rate"],
        "lr_scheduler_type": cfg.get("lr_scheduler_type", "cosine"),
        "warmup_steps": cfg.get("warmup_steps", 0),
        "weight_decay": cfg.get("weight_decay", 0.0),
        "num_train_epochs": cfg.get("epochs", 1),
        "max_steps": cfg.get("max_steps") or -1,
        "max_length": cfg.get("max_length"),
        "logging_steps": cfg.get("logging_steps", 10),
        "save_strategy": "steps",
        "save_steps": cfg.get("save_steps", 200),
        "save_total_limit": None if cfg.get("keep_checkpoints") else 1,  # selection keeps all
        "report_to": cfg.get("report_to", "none"),
        "seed": seed,
        "bf16": bf16,
        "use_cpu": on_cpu,
        "gradient_checkpointing": bool(cfg.get("gradient_checkpointing", False)),
        "dataloader_num_workers": 0,
        "disable_tqdm": not cfg.get("progress_bar", True),
    }
    if cfg.get("min_learning_rate") is not None and args["lr_scheduler_type"] == "cosine":
        # The paper decays 5.5e-6 -> 1.1e-6 (SFT) and 1e-6 -> 1e-7 (DPO): a cosine with a floor.
        args["lr_scheduler_type"] = "cosine_with_min_lr"
        args["lr_scheduler_kwargs"] = {"min_lr": cfg["min_learning_rate"]}
    if cfg.get("deepspeed"):
        args["deepspeed"] = cfg["deepspeed"]
    return args


# Config fields that are a dropout probability, across HF architectures: Llama, Qwen2, Mistral and
# Gemma have ``attention_dropout`` only; GPT-2 and Phi ``resid_pdrop``/``embd_pdrop``/...; OPT,
# Falcon, GPT-NeoX and BERT-likes the others. Only fields a model's config has are set.
DROPOUT_FIELDS = (
    "attention_dropout",
    "hidden_dropout",
    "dropout",
    "activation_dropout",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
)


def dropout_overrides(path: str | Path, cfg: dict[str, Any], kind: str) -> dict[str, float]:
    """The config fields to set for ``dropout`` (empty: keep the checkpoint's own values).

    DPO with ``disable_dropout`` sets every one to 0: TRL's own switch only zeroes
    ``nn.Dropout`` modules, and Llama-like models have none (their attention dropout is a float
    read in the forward pass), so a checkpoint saved with 0.1 would otherwise keep it.
    """
    value = cfg.get("dropout")
    if kind == "dpo" and cfg.get("disable_dropout", True):
        value = 0.0
    if value is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path)).to_dict()
    fields = {
        f: float(value)
        for f in DROPOUT_FIELDS
        if isinstance(config.get(f), int | float) and not isinstance(config.get(f), bool)
    }
    if _rank() == 0:
        if fields:
            log.info("%s dropout %g on %s", kind.upper(), value, ", ".join(fields))
        elif value:
            log.warning("%s: %s has no dropout field to set to %g", kind.upper(), path, value)
    return fields


def _load_model(path: str | Path, cfg: dict[str, Any], kind: str = "sft"):
    from srlm.models.loading import load_model

    dtype = "bfloat16" if (cfg.get("bf16") and torch.cuda.is_available()) else "float32"
    return load_model(path, dtype, for_training=True, **dropout_overrides(path, cfg, kind))


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def truncation_stats(
    tokenizer, conversations: list[list[list[dict[str, str]]]], max_length: int | None
) -> dict[str, float]:
    """How many examples ``max_length`` cuts: each example is one or more conversations (SFT:
    one; DPO: prompt + chosen and prompt + rejected), cut when any of them is longer.

    ``train/fully_cut_examples``: examples whose prompt alone reaches ``max_length``, so no
    target token is left (TRL's SFT drops those; its DPO trains on an empty completion).
    """
    if not conversations:
        return {}

    def length(messages: list[dict[str, str]], generation_prompt: bool = False) -> int:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    longest = cut = fully_cut = 0
    for example in conversations:
        sizes = [length(c) for c in example]
        longest = max(longest, *sizes)
        if max_length is not None and max(sizes) > max_length:
            cut += 1
            if length(example[0][:-1], generation_prompt=True) >= max_length:
                fully_cut += 1
    return {
        "train/truncated_examples": float(cut),
        "train/fully_cut_examples": float(fully_cut),
        "train/longest_example_tokens": float(longest),
    }


def _warn_truncation(kind: str, stats: dict[str, float], n: int, max_length: int | None) -> None:
    cut = int(stats.get("train/truncated_examples", 0))
    if cut and _rank() == 0:
        log.warning(
            "%s: %d of %d examples (%.1f%%) are longer than max_length=%s tokens (the longest "
            "has %d) and lose their end (%d keep no target token at all): raise "
            "model.max_length or train.%s.max_length",
            kind.upper(),
            cut,
            n,
            100 * cut / n,
            max_length,
            int(stats["train/longest_example_tokens"]),
            int(stats["train/fully_cut_examples"]),
            kind,
        )


def _peft_config(cfg: dict[str, Any]):
    lora = cfg.get("lora") or {}
    if not lora.get("enabled"):
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.get("r", 16),
        lora_alpha=lora.get("alpha", 32),
        lora_dropout=lora.get("dropout", 0.05),
        target_modules=list(lora.get("target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"])),
        task_type="CAUSAL_LM",
    )


def _save(trainer, tokenizer, out_dir: Path) -> dict[str, float]:
    model = trainer.model
    if _zero3(trainer):
        # Parameters are sharded across ranks: save_model gathers them on every rank
        # (stage3_gather_16bit_weights_on_model_save) and rank 0 writes the full model.
        trainer.save_model(str(out_dir))
    else:
        # LoRA: save a plain model so M_{t+1} loads like any other
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        if trainer.args.should_save:  # one writer when several ranks run
            model.save_pretrained(out_dir)
    if trainer.args.should_save:
        tokenizer.save_pretrained(out_dir)
    trainer.accelerator.wait_for_everyone()
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {"train/steps": float(trainer.state.global_step)}
    if history:
        metrics["train/first_loss"] = float(history[0]["loss"])
        metrics["train/final_loss"] = float(history[-1]["loss"])
    return metrics


def _zero3(trainer) -> bool:
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return bool(trainer.is_deepspeed_enabled and plugin is not None and plugin.zero_stage == 3)


def _check_lora_zero3(trainer) -> None:
    """LoRA adapters cannot be merged into ZeRO-3-sharded weights; ZeRO-2 holds them whole."""
    if _zero3(trainer) and hasattr(trainer.model, "merge_and_unload"):
        raise ValueError(
            "LoRA with DeepSpeed ZeRO-3 is not supported: use conf/train/deepspeed/zero2.json"
        )


def _init_deepspeed_on_cpu(cfg: dict[str, Any]) -> None:
    """Under a launcher on CPU, accelerate sets up plain gloo and leaves DeepSpeed's comm
    uninitialised, so ZeRO-3's zero.Init sees world size 1 and rejects the batch size
    (train_batch_size != micro_batch * accumulation * 1) with two ranks. Initialise it first."""
    if cfg.get("deepspeed") and not torch.cuda.is_available() and "WORLD_SIZE" in os.environ:
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo")


def _fit(
    trainer_cls,
    args,
    base: str | Path,
    dataset: Dataset,
    out_dir: Path,
    cfg: dict[str, Any],
    resume: bool,
    conversations: list[list[list[dict[str, str]]]],
    kind: str,
):
    """Build the TRL trainer, train (resuming from the last checkpoint), save M_{t+1}.

    ``conversations``: each example as full chats, for counting what ``max_length`` cuts.
    """
    from srlm.models.loading import load_tokenizer

    tokenizer = load_tokenizer(base, cfg.get("chat_template"))
    cut = truncation_stats(tokenizer, conversations, args.max_length)
    _warn_truncation(kind, cut, len(conversations), args.max_length)
    model = _load_model(base, cfg, kind)
    if model.get_input_embeddings().num_embeddings < len(
        tokenizer
    ):  # srlm's role tokens were added
        model.resize_token_embeddings(len(tokenizer))
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
    )
    _check_lora_zero3(trainer)
    labelled(trainer, cfg.get("progress_desc"))  # "M1 SFT training", not an unlabelled bar
    ckpt_dir = Path(args.output_dir)
    trainer.train(resume_from_checkpoint=_last_checkpoint(ckpt_dir) if resume else None)
    metrics = _save(trainer, tokenizer, out_dir)
    metrics.update(cut)
    metrics.update(
        {
            "train/global_batch": float(
                args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size()
            ),
            "train/micro_batch": float(args.per_device_train_batch_size),
            "train/grad_accum": float(args.gradient_accumulation_steps),
            "train/processes": float(world_size()),
        }
    )
    return trainer, metrics


def _checkpoints(out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    return out_dir, out_dir.parent / (out_dir.name + ".checkpoints")


def train_sft(
    base: str | Path,
    examples: list[list[dict[str, str]]],
    out_dir: str | Path,
    cfg: dict[str, Any],
    seed: int = 0,
    resume: bool = True,
) -> dict[str, float]:
    """SFT on chat conversations, loss on assistant tokens only; saves the model to out_dir."""
    from trl import SFTConfig, SFTTrainer

    _patch_trl_cpu_logprobs()
    _init_deepspeed_on_cpu(cfg)
    out_dir, ckpt_dir = _checkpoints(out_dir)
    dataset = Dataset.from_list([{"messages": m} for m in examples])
    args = SFTConfig(
        **_common_args(cfg, ckpt_dir, seed, "sft"), assistant_only_loss=True, packing=False
    )
    chats = [[m] for m in examples]
    return _fit(SFTTrainer, args, base, dataset, out_dir, cfg, resume, chats, "sft")[1]


def train_dpo(
    policy: str | Path,
    pairs: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: dict[str, Any],
    seed: int = 0,
    resume: bool = True,
) -> dict[str, float]:
    """DPO from M_t with M_t as the reference (TRL copies it, or the adapter-free model with LoRA)."""
    from trl import DPOConfig, DPOTrainer

    _patch_trl_cpu_logprobs()
    _init_deepspeed_on_cpu(cfg)
    out_dir, ckpt_dir = _checkpoints(out_dir)
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": p["prompt"]}],
                "chosen": [{"role": "assistant", "content": p["chosen"]}],
                "rejected": [{"role": "assistant", "content": p["rejected"]}],
            }
            for p in pairs
        ]
    )
    extra = {"loss_type": list(cfg["loss_type"])} if cfg.get("loss_type") else {}
    args = DPOConfig(
        **_common_args(cfg, ckpt_dir, seed, "dpo"),
        beta=cfg.get("beta", 0.1),
        precompute_ref_log_probs=bool(cfg.get("precompute_ref_log_probs", False)),
        disable_dropout=bool(cfg.get("disable_dropout", True)),
        **extra,
    )
    chats = [
        [
            [{"role": "user", "content": p["prompt"]}, {"role": "assistant", "content": p[side]}]
            for side in ("chosen", "rejected")
        ]
        for p in pairs
    ]
    trainer, metrics = _fit(DPOTrainer, args, policy, dataset, out_dir, cfg, resume, chats, "dpo")
    rewards = [h for h in trainer.state.log_history if "rewards/accuracies" in h]
    if rewards:
        metrics["train/reward_accuracy"] = float(rewards[-1]["rewards/accuracies"])
        metrics["train/reward_margin"] = float(rewards[-1].get("rewards/margins", float("nan")))
    return metrics


def _last_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest complete checkpoint of an interrupted training run, if any.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint without a readable one was
    torn by a kill mid-save: it is removed, and the previous one (kept until the new one is
    whole, ``save_total_limit=1``) is resumed instead.
    """
    if not ckpt_dir.is_dir():
        return None
    found = sorted(
        (p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for path in found:
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            log.warning("removing the torn checkpoint %s (killed while it was saved)", path)
            shutil.rmtree(path, ignore_errors=True)
    return None
