"""DPO with LoRA on CPU: a plain merged model comes out, and the reference is the adapter-free base.

``train_dpo`` passes a ``LoraConfig`` and ``ref_model=None``; TRL then scores the reference with
the adapters disabled (no model copy), and ``training._save`` merges the adapters so that M_{t+1}
loads like any other checkpoint.
"""

from __future__ import annotations

import pytest
import torch

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
BETA = 0.1

# 16 hand-made pairs: a short right answer against a vague one.
PAIRS = [
    {
        "prompt": f"What is {a} plus {b}?",
        "chosen": f"{a} plus {b} is {a + b}.",
        "rejected": "Maybe.",
    }
    for a, b in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
] + [
    {"prompt": f"Name a {kind}.", "chosen": f"A {kind}: {name}.", "rejected": "I cannot say."}
    for kind, name in [
        ("colour", "blue"),
        ("fruit", "apple"),
        ("planet", "Mars"),
        ("metal", "iron"),
        ("river", "the Nile"),
        ("bird", "a robin"),
        ("tree", "an oak"),
        ("season", "winter"),
    ]
]

CFG = {
    "batch_size": 16,  # every step sees all 16 pairs, so the logged means are over the same set
    "learning_rate": 5e-3,  # LoRA on a tiny model needs a large step to move in 4 steps
    "lr_scheduler_type": "constant",
    "warmup_steps": 0,
    "max_steps": 4,
    "max_length": 128,
    "beta": BETA,
    "loss_type": ["sigmoid"],
    "logging_steps": 1,
    "save_steps": 100,
    "progress_bar": False,
    "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0, "target_modules": list(TARGETS)},
}


def test_dpo_lora_merges_and_uses_adapter_free_reference(tiny_m0, tmp_path, monkeypatch) -> None:
    import trl
    from accelerate.utils import is_peft_model
    from transformers import AutoModelForCausalLM

    from srlm.training import train_dpo

    seen: dict = {}

    class SpyDPOTrainer(trl.DPOTrainer):
        """Records what TRL built, and its log, without changing how it trains."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["peft"] = is_peft_model(self.model)
            seen["ref_model"] = self.ref_model
            seen["trainer"] = self

    monkeypatch.setattr(trl, "DPOTrainer", SpyDPOTrainer)
    tiny_base = str(tiny_m0)  # conftest's session M0
    out = tmp_path / "m1"
    metrics = train_dpo(tiny_base, PAIRS, out, CFG, seed=0, resume=False)

    # TRL wrapped the policy in adapters and made no reference copy.
    assert seen["peft"] is True
    assert seen["ref_model"] is None
    assert metrics["train/steps"] == 4

    # A plain, merged checkpoint: no adapter files, the base model's parameter names.
    assert not (out / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    tuned = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    base_sd, tuned_sd = base.state_dict(), tuned.state_dict()
    assert base_sd.keys() == tuned_sd.keys()

    # LoRA moved the target projections and nothing else.
    changed = {k for k in base_sd if not torch.equal(base_sd[k], tuned_sd[k])}
    for layer in range(base.config.num_hidden_layers):
        for t in TARGETS:
            assert f"model.layers.{layer}.self_attn.{t}.weight" in changed, (layer, t)
    assert all(any(f".{t}." in k for t in TARGETS) for k in changed), sorted(changed)

    # The reference is the frozen adapter-free base: ref logp = policy logp - reward / beta is
    # the same at every step (the policy's own changes), and the first loss is log 2 (LoRA's B
    # starts at zero, so policy == reference).
    logs = [h for h in seen["trainer"].state.log_history if "rewards/chosen" in h]
    assert len(logs) == 4
    assert logs[0]["loss"] == pytest.approx(0.6931, abs=1e-3)
    ref_chosen = [h["logps/chosen"] - h["rewards/chosen"] / BETA for h in logs]
    ref_rejected = [h["logps/rejected"] - h["rewards/rejected"] / BETA for h in logs]
    assert logs[-1]["logps/chosen"] != pytest.approx(logs[0]["logps/chosen"], abs=1e-3)
    assert ref_chosen == pytest.approx([ref_chosen[0]] * 4, rel=1e-4, abs=1e-3)
    assert ref_rejected == pytest.approx([ref_rejected[0]] * 4, rel=1e-4, abs=1e-3)
    assert metrics["train/final_loss"] < metrics["train/first_loss"]
