"""Checkpoint selection (srlm/stages/select.py): the walk over checkpoints, the fixed held-out
prompt samples, and a selecting SFT stage on the tiny model with a real trainer and judge."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

import srlm.config  # noqa: F401
from srlm.keys import lookup
from srlm.stages import select
from srlm.stages.models import DPO, SFT_BASELINE, SFT_M1, TOP_ONLY_SFT
from srlm.stages.select import (
    alpaca_test_prompts,
    check_config,
    choose,
    held_out_sample,
    selecting,
)


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def _h2h(win: float, tie: float, loss: float) -> dict:
    return {"win": win, "tie": tie, "loss": loss, "n": 10, "n_judge_failures": 0}


# -- the walk ---------------------------------------------------------------------------------


def test_previous_walks_while_each_checkpoint_beats_the_one_before():
    results = {
        (200, 0): _h2h(80, 20, 0),
        (400, 200): _h2h(50, 40, 10),
        (600, 400): _h2h(20, 60, 20),  # no better: the walk stops, 400 is chosen
        (800, 600): _h2h(90, 10, 0),  # never asked
    }
    asked = []

    def compare(a, b):
        asked.append((a, b))
        return results[(a, b)]

    chosen, records = choose([200, 400, 600, 800], compare, "previous")
    assert chosen == 400
    assert asked == [(200, 0), (400, 200), (600, 400)]
    assert [(r["step"], r["vs_step"], r["kept"]) for r in records] == [
        (200, 0, True),
        (400, 200, True),
        (600, 400, False),
    ]
    assert records[1]["win"] == 50 and records[1]["loss"] == 10


def test_the_first_checkpoint_is_kept_even_when_the_start_model_wins():
    results = {
        (100, 0): _h2h(0, 50, 50),
        (200, 100): _h2h(30, 60, 10),
        (300, 200): _h2h(10, 80, 10),
    }
    chosen, records = choose([100, 200, 300], lambda a, b: results[(a, b)], "previous")
    assert chosen == 200 and records[0]["kept"] and not records[-1]["kept"]
    assert choose([100], lambda a, b: _h2h(0, 0, 100), "previous")[0] == 100


def test_min_margin_and_against_start():
    results = {(200, 0): _h2h(30, 50, 20), (400, 0): _h2h(45, 30, 25), (600, 0): _h2h(40, 40, 20)}
    chosen, records = choose([200, 400, 600], lambda a, b: results[(a, b)], "start")
    assert chosen == 400 and [r["kept"] for r in records] == [False, True, False]
    # equal margins: the earliest; a margin the step must clear
    tied = {(200, 0): _h2h(30, 50, 20), (400, 0): _h2h(40, 30, 30)}
    assert choose([200, 400], lambda a, b: tied[(a, b)], "start")[0] == 200
    walk = {(200, 0): _h2h(50, 50, 0), (400, 200): _h2h(15, 80, 5)}
    assert choose([200, 400], lambda a, b: walk[(a, b)], "previous", min_margin=10.0)[0] == 200
    assert choose([200, 400], lambda a, b: walk[(a, b)], "previous", min_margin=5.0)[0] == 400
    with pytest.raises(ValueError, match="against"):
        choose([200], lambda a, b: _h2h(1, 1, 1), "best")


# -- held-out prompt samples ------------------------------------------------------------------


def test_held_out_sample_is_fixed_ordered_and_stable():
    rows = [{"id": str(i), "prompt": f"prompt {i}"} for i in range(100)]
    a = held_out_sample(rows, 30, seed=0)
    assert a == held_out_sample(list(rows), 30, seed=0) and len(a) == 30
    assert [int(r["id"]) for r in a] == sorted(int(r["id"]) for r in a)  # the pool's order
    assert a != held_out_sample(rows, 30, seed=1)
    assert held_out_sample(rows, None, 0) == rows and held_out_sample(rows, 500, 0) == rows
    more = rows + [{"id": f"x{i}", "prompt": f"new {i}"} for i in range(10)]
    kept = {r["id"] for r in a} & {r["id"] for r in held_out_sample(more, 30, seed=0)}
    assert len(kept) >= 20  # a bigger pool moves only the rows new ones outrank


class _Seed:
    def __init__(self, **files):
        self.files = files

    def rows(self, name):
        return self.files.get(name, [])


def test_selection_prompts_are_ranked_eval_prompts_not_the_test_prompts():
    seed = _Seed(
        ranked_eval=[{"prompt_id": f"r{i}", "prompt": f"q{i % 6}"} for i in range(10)],
        eval_prompts=[{"id": "e", "prompt": "q0"}],
    )
    prompts = select.selection_prompts(seed, None, 0)
    assert [p["prompt"] for p in prompts] == ["q1", "q2", "q3", "q4", "q5"]
    assert all(p["id"].startswith("select/") for p in prompts)
    assert len(select.selection_prompts(seed, 2, 0)) == 2


ALPACA = SHARED_DATA / "alpaca_eval" / "results" / "gpt4_1106_preview" / "model_outputs.json.gz"


def test_alpaca_test_prompts_leave_out_the_seed_data():
    alpaca = [
        {"instruction": f"task {i}", "dataset": "koala" if i % 2 else "vicuna"} for i in range(50)
    ]
    seed = {"ift": [{"prompt": "task 3"}], "ranked_train": [{"prompt": "task 4"}]}
    rows = alpaca_test_prompts(alpaca, seed, 20, seed=0)
    assert len(rows) == 20 and {"task 3", "task 4"}.isdisjoint(r["prompt"] for r in rows)
    every = alpaca_test_prompts(alpaca, {**seed, "ranked_eval": [{"prompt": "task 5"}]}, None, 0)
    assert len(every) == 48 and "task 5" in {r["prompt"] for r in every}  # judged, not trained
    assert rows == alpaca_test_prompts(alpaca, seed, 20, seed=0)
    assert {r["dataset"] for r in rows} == {"koala", "vicuna"}
    with pytest.raises(ValueError, match="alpaca_eval_source"):
        alpaca_test_prompts([], seed, 256, 0)


@pytest.mark.skipif(not ALPACA.exists(), reason="shared AlpacaEval data not available")
def test_256_ift_test_prompts_from_the_alpaca_eval_set():
    from srlm.eval.alpaca import load_alpaca_instructions

    alpaca = load_alpaca_instructions(str(ALPACA))
    assert len(alpaca) == 805
    rows = alpaca_test_prompts(alpaca, {}, 256, seed=0)
    assert len(rows) == 256 and len({r["prompt"] for r in rows}) == 256
    sources = {r["dataset"] for r in rows}
    assert sources == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    with gzip.open(ALPACA, "rt") as f:
        assert {r["prompt"] for r in rows} <= {r["instruction"] for r in json.load(f)}


# -- the selecting stage ----------------------------------------------------------------------


def test_off_is_the_stage_itself_and_on_adds_inputs_reads_and_a_record():
    off = _plain(_compose())
    for stage in (SFT_BASELINE, SFT_M1, DPO, TOP_ONLY_SFT):
        assert selecting(stage, off) is stage  # same key as before: nothing recomputes
    on = _plain(_compose("eval.checkpoint_selection.enabled=true"))
    raw = OmegaConf.to_container(_compose(), resolve=False)
    for stage in (SFT_BASELINE, SFT_M1, DPO, TOP_ONLY_SFT):
        chosen = selecting(stage, on)
        assert chosen.name == stage.name and "seed_data" in chosen.inputs
        assert chosen.outputs == ("selection.jsonl", "model")
        assert set(stage.reads) < set(chosen.reads)
        for path in chosen.reads:
            lookup(raw, path.lstrip("!"))  # every declared path exists in the config


def test_selection_needs_a_judge_and_checkpoints():
    check_config(_plain(_compose("data=oasst")))  # off: nothing to check
    with pytest.raises(ValueError, match="needs a head-to-head judge"):
        check_config(_plain(_compose("data=oasst", "eval.checkpoint_selection.enabled=true")))
    with pytest.raises(ValueError, match="train.dpo.save_steps"):
        check_config(
            _plain(_compose("eval.checkpoint_selection.enabled=true", "train.dpo.save_steps=0"))
        )


class FirstShown:
    """A judge that always prefers the answer shown first: both orders disagree, so every
    comparison is a tie and the walk keeps the first checkpoint."""

    available, order_independent = True, False

    def compare(self, items, cache_path=None):
        return ["first"] * len(items)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("judge", ["oracle", "first_shown"])
def test_sft_with_selection_on_the_tiny_model(tiny_m0, tmp_path, monkeypatch, judge):
    from srlm.data.synthetic import build_synthetic
    from srlm.eval.evaluators import OracleEvaluator
    from srlm.runner import Components, Runner
    from srlm.stages.base import Result

    cfg = _compose(
        "eval.checkpoint_selection.enabled=true",
        "eval.checkpoint_selection.max_prompts=12",
        "train.sft.epochs=2",
        "train.sft.batch_size=8",
        "train.sft.save_steps=4",
        "train.sft.warmup_steps=0",
        "loop.max_new_tokens=12",
    )
    config = _plain(cfg)
    data = build_synthetic(seed=0, n_ift=48, n_eft=0, n_ranked_eval=20, n_eval_prompts=5)
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    for name in ("ift", "ranked_eval", "eval_prompts"):
        (seed_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data[name]))
    evaluator = OracleEvaluator() if judge == "oracle" else FirstShown()
    components = Components(
        judge=None,
        select=None,
        evaluator=evaluator,
        load_generator=instantiate(cfg.generation.backend),
    )
    installed = []
    original_install = select.install

    def spy(checkpoint, model_partial):
        installed.append((checkpoint.name, _sha(checkpoint / "model.safetensors")))
        original_install(checkpoint, model_partial)

    monkeypatch.setattr(select, "install", spy)
    runner = Runner(config, tmp_path / "store", components, {})
    m0 = Result("m0", "m0key", tmp_path, info={"model_path": str(tiny_m0)})
    seed = Result("seed_data", "seedkey", seed_dir)
    stage = selecting(SFT_BASELINE, config)
    result = runner.run(stage, "sft_baseline", m0=m0, seed_data=seed)
    runner.close()

    m = result.metrics
    assert m["train/steps"] == 12 and m["train/selection/checkpoints"] == 3  # 4, 8, 12 kept
    assert m["train/selection/prompts"] == 12
    records = result.rows("selection")
    assert records[0]["step"] == 4 and records[0]["vs_step"] == 0
    assert m["train/selection/4/vs_step"] == 0.0
    assert {"win", "tie", "loss", "n"} <= {k.rsplit("/", 1)[1] for k in m if "/4/" in k}
    chosen = int(m["train/selected_step"])
    assert chosen == max(r["step"] for r in records if r["kept"])
    assert result.info["selection"]["chosen_step"] == chosen
    model = Path(result.model)
    assert not (model / "optimizer.pt").exists() and not (model / "trainer_state.json").exists()
    assert not (result.dir / "model.partial.checkpoints").exists()  # gone once published
    if judge == "first_shown":  # every comparison a tie: the first checkpoint, installed
        assert chosen == 4 and [r["step"] for r in records] == [4, 8]
        assert m["train/selection/8/tie"] == 100.0
        assert installed and installed[0][0] == "checkpoint-4"
        assert _sha(model / "model.safetensors") == installed[0][1]
    # the published model answers as the chosen checkpoint did (greedy)
    from srlm.generation.base import Sampling
    from srlm.models.loading import chat_prompt, load_tokenizer

    recorded = [
        json.loads(line)
        for line in (result.dir / "selection" / f"step-{chosen}.jsonl").read_text().splitlines()
    ]
    gen = components.load_generator(model_path=str(model))
    tok = load_tokenizer(model, None)
    eg = config["eval"]["generation"]
    sampling = Sampling(
        n=1, temperature=eg["temperature"], top_p=eg["top_p"], max_new_tokens=12, seed=0
    )
    again = gen.generate([chat_prompt(tok, r["prompt"]) for r in recorded[:4]], sampling)
    assert [a[0] for a in again] == [r["candidates"][0] for r in recorded[:4]]


def test_a_lora_checkpoint_merges_into_a_plain_model(tiny_m0, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from srlm.data.synthetic import build_synthetic
    from srlm.training import train_sft

    data = build_synthetic(seed=0, n_ift=16, n_eft=0)["ift"]
    examples = [
        [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["response"]}]
        for r in data
    ]
    cfg = {
        "batch_size": 8,
        "learning_rate": 5e-3,
        "max_steps": 4,
        "save_steps": 2,
        "max_length": 128,
        "progress_bar": False,
        "keep_checkpoints": True,
        "lora": {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj"]},
    }
    out = tmp_path / "model.partial"
    train_sft(tiny_m0, examples, out, cfg, seed=0)
    found = select.checkpoints(out)
    assert sorted(found) == [2, 4]  # both kept (save_total_limit=None)
    assert select._is_adapter(found[4])
    merged = select.merge_adapter(found[4], tmp_path / "merged")
    final = AutoModelForCausalLM.from_pretrained(out).state_dict()
    again = AutoModelForCausalLM.from_pretrained(merged).state_dict()
    assert final.keys() == again.keys()
    assert all(torch.allclose(final[k], again[k], atol=1e-5) for k in final)
