"""SFT and DPO with the real TRL trainers on the tiny model (CPU)."""

import torch
from transformers import AutoModelForCausalLM

from srlm.training import _patch_trl_cpu_logprobs, train_dpo, train_sft

CFG = {
    "batch_size": 8,
    "learning_rate": 1e-3,
    "epochs": 3,
    "logging_steps": 1,
    "save_steps": 1000,
    "warmup_steps": 0,
    "max_length": 256,
    "progress_bar": False,
}


def _examples(n=32):
    from srlm.data.synthetic import build_synthetic

    d = build_synthetic(seed=0, n_ift=n, n_eft=0)
    return [
        [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["response"]}]
        for r in d["ift"]
    ]


def test_trl_cpu_patch_targets_an_existing_helper():
    """If TRL renames its private helper, the CPU speed patch silently stops: fail here instead."""
    import trl.trainer.utils as u

    assert hasattr(u, "_use_triton"), (
        "trl.trainer.utils._use_triton is gone: revisit _patch_trl_cpu_logprobs"
    )
    _patch_trl_cpu_logprobs()
    assert u._use_triton(torch.device("cpu")) is True


def test_sft_lowers_loss(tiny_m0, tmp_path):
    m = train_sft(tiny_m0, _examples(), tmp_path / "m1", CFG, seed=0)
    assert m["train/final_loss"] < m["train/first_loss"]
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m1") is not None


def test_dpo_moves_every_parameter_and_learns_the_preference(tiny_m0, tmp_path):
    pairs = [
        {
            "prompt": ex[0]["content"],
            "chosen": ex[1]["content"],
            "rejected": "The weather is lovely today.",
        }
        for ex in _examples(24)
    ]
    m = train_dpo(
        tiny_m0, pairs, tmp_path / "m2", {**CFG, "beta": 0.1, "learning_rate": 5e-3}, seed=0
    )
    before = AutoModelForCausalLM.from_pretrained(tiny_m0).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "m2").state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before)
    assert m["train/reward_accuracy"] > 0.5


def test_training_in_a_child_process(tiny_m0, tmp_path):
    """loop.isolation=subprocess: the same SFT, run by srlm.train_worker in its own process."""
    from srlm.train_worker import launch_command, run_isolated

    m = run_isolated(
        "sft", str(tiny_m0), _examples(16), tmp_path / "m", {**CFG, "epochs": 1}, seed=0
    )
    assert m["train/steps"] == 2
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m") is not None
    cmd = launch_command(2, "conf/train/deepspeed/zero3.json", ["spec.json"])
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--use_deepspeed" in cmd


def test_a_checkpoint_torn_by_a_kill_is_skipped(tmp_path):
    from srlm.training import _last_checkpoint

    whole, torn = tmp_path / "checkpoint-5", tmp_path / "checkpoint-10"
    whole.mkdir()
    (whole / "trainer_state.json").write_text('{"global_step": 5}')
    torn.mkdir()
    (torn / "model.safetensors").write_text("half")
    assert _last_checkpoint(tmp_path) == str(whole)
    assert not torn.exists()
    (whole / "trainer_state.json").write_text('{"global_st')  # torn mid-write
    assert _last_checkpoint(tmp_path) is None
