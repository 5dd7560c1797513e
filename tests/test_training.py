"""SFT and DPO with the real TRL trainers on the tiny model (CPU)."""

import logging

import pytest
import torch
from transformers import AutoModelForCausalLM

from srlm.training import _patch_trl_cpu_logprobs, batch_plan, train_dpo, train_sft

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
    _assert_trained(tiny_m0, tmp_path / "m1")


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
    _assert_trained(tiny_m0, tmp_path / "m")
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


# -- global batch, truncation, dropout --------------------------------------------------------


@pytest.mark.parametrize(
    "processes, max_micro, expected",
    [
        (1, 4, (4, 4)),  # 1 GPU: 4 examples a step, 4 steps accumulated
        (2, 4, (4, 2)),
        (8, 4, (2, 1)),
        (1, 1, (1, 16)),  # llama2_70b: one sequence per GPU
        (2, 1, (1, 8)),
        (8, 1, (1, 2)),
        (1, None, (16, 1)),  # no cap: the whole share in one micro-batch
        (2, None, (8, 1)),
        (8, None, (2, 1)),
        (1, 3, (2, 8)),  # the largest micro-batch <= the cap that divides the share
    ],
)
def test_batch_is_global_for_1_2_and_8_processes(processes, max_micro, expected):
    micro, accumulation = batch_plan(16, processes, max_micro)
    assert (micro, accumulation) == expected
    assert micro * accumulation * processes == 16


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match=r"train.sft.batch_size=16 .* 3 training processes"):
        batch_plan(16, 3, 4, "train.sft")


def test_truncation_is_counted_and_warned(tiny_m0, tmp_path, caplog):
    """A max_length below the examples' length cuts them: counted, warned, never silent."""
    from srlm.models.loading import load_tokenizer

    examples = _examples(8)
    tok = load_tokenizer(tiny_m0)
    lengths = [
        len(tok(tok.apply_chat_template(m, tokenize=False), add_special_tokens=False)["input_ids"])
        for m in examples
    ]
    limit = sorted(lengths)[len(lengths) // 2]  # about half are longer
    cfg = {**CFG, "max_length": limit, "max_steps": 1, "epochs": 1}
    with caplog.at_level(logging.WARNING, logger="srlm.training"):
        m = train_sft(tiny_m0, examples, tmp_path / "m", cfg, seed=0)
    assert m["train/truncated_examples"] == sum(n > limit for n in lengths) > 0
    assert m["train/longest_example_tokens"] == max(lengths)
    assert f"longer than max_length={limit} tokens" in caplog.text
    assert (m["train/global_batch"], m["train/micro_batch"], m["train/grad_accum"]) == (8, 8, 1)

    with caplog.at_level(logging.WARNING, logger="srlm.training"):
        caplog.clear()
        m = train_sft(tiny_m0, examples, tmp_path / "m2", {**cfg, "max_length": 1024}, seed=0)
    assert m["train/truncated_examples"] == 0 and "max_length" not in caplog.text


def test_dropout_goes_where_the_architecture_has_it_and_dpo_keeps_it_when_asked(tiny_m0):
    from srlm.training import _load_model, dropout_overrides

    # The tiny model is a HF Llama: attention dropout is the only dropout it has.
    assert dropout_overrides(tiny_m0, {"dropout": 0.1}, "sft") == {"attention_dropout": 0.1}
    assert dropout_overrides(tiny_m0, {"dropout": None}, "sft") == {}
    # DPO: TRL's disable_dropout only zeroes nn.Dropout modules (Llama has none), so srlm
    # zeroes the attention dropout itself; disable_dropout=False keeps the paper's 0.1.
    assert dropout_overrides(tiny_m0, {"dropout": 0.1}, "dpo") == {"attention_dropout": 0.0}
    keep = {"dropout": 0.1, "disable_dropout": False}
    assert dropout_overrides(tiny_m0, keep, "dpo") == {"attention_dropout": 0.1}
    assert _load_model(tiny_m0, keep, "dpo").config.attention_dropout == 0.1


def _assert_trained(base, trained) -> None:
    """The saved model loads and its weights moved away from the base model's."""
    before = AutoModelForCausalLM.from_pretrained(base).state_dict()
    after = AutoModelForCausalLM.from_pretrained(trained).state_dict()
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
