"""Declared stages and content keys: what a key covers, what a body may read, how the runner
skips, recomputes and plans. Fast: toy stages and a fake generator, no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.keys import FileHashes, changes_results, material
from srlm.runner import Components, Runner
from srlm.stages.base import DeclaredConfig, StageDef, UndeclaredConfigError
from srlm.stages.judge import JUDGMENTS
from srlm.stages.pairs import PAIRS
from srlm.stages.sample import CANDIDATES
from srlm.stages.seed import SEED_DATA


def _config(**over) -> dict:
    config = {
        "seed": 0,
        "loop": {
            "candidates": 2,
            "temperature": 0.7,
            "top_p": 0.9,
            "max_new_tokens": 8,
            "chunk_size": 4,
            "isolation": "inline",
        },
        "generation": {"backend": {"_target_": "fake", "batch_size": 4}},
        "model": {"chat_template": None},
        "judge": {"template": "t", "num_samples": 2},
        "pairs": {"name": "best_worst", "train_with": "dpo"},
        "data": {"kind": "synthetic", "source": None, "use_eft": True},
    }
    for path, value in over.items():
        node = config
        *head, last = path.split("__")
        for part in head:
            node = node[part]
        node[last] = value
    return config


# -- keys -------------------------------------------------------------------------------------


def test_key_covers_file_content_not_just_the_path(tmp_path):
    f = tmp_path / "prompt.txt"
    f.write_text("one")
    hashes = FileHashes()
    config = {"judge": {"template": str(f)}}
    before = material(config, ("judge",), {}, hashes)
    f.write_text("two")
    after = material(config, ("judge",), {}, hashes)
    assert before["config:judge.template"] == after["config:judge.template"]
    assert before["file:judge.template"] != after["file:judge.template"]


def test_text_behind_a_name_is_keyed():
    config = {"judge": {"template": "judge_additive5"}}
    a = material(config, ("judge",), {"judge.template": "v1"}, FileHashes())
    b = material(config, ("judge",), {"judge.template": "v2"}, FileHashes())
    assert a != b


def test_values_that_do_not_change_results_are_left_out():
    assert not changes_results("generation.backend.batch_size")
    assert not changes_results("train.dpo.logging_steps")
    assert changes_results("generation.backend._target_")
    a = material(_config(), ("generation.backend",), {}, FileHashes())
    b = material(
        _config(generation__backend={"_target_": "fake", "batch_size": 64}),
        ("generation.backend",),
        {},
        FileHashes(),
    )
    c = material(
        _config(generation__backend={"_target_": "vllm", "batch_size": 4}),
        ("generation.backend",),
        {},
        FileHashes(),
    )
    assert a == b and a != c


def test_excluded_paths_are_neither_keyed_nor_readable():
    config = _config()
    with_eft = material(config, ("data", "!data.use_eft"), {}, FileHashes())
    config["data"]["use_eft"] = False
    assert material(config, ("data", "!data.use_eft"), {}, FileHashes()) == with_eft
    view = DeclaredConfig("s", config, ("data", "!data.use_eft"))
    assert "use_eft" not in view("data")
    with pytest.raises(UndeclaredConfigError):
        view("data.use_eft")


def test_a_directory_is_keyed_by_its_files_and_big_files_cached(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"x" * 100)
    monkeypatch.setattr(FileHashes, "BIG", 50)
    cache = tmp_path / "hashes.json"
    hashes = FileHashes(cache)
    first = hashes.of(model)
    hashes.save()
    assert len(json.loads(cache.read_text())) == 1  # the weights' hash, by size and mtime
    (model / "config.json").write_text('{"edited": true}')
    assert FileHashes(cache).of(model) != first


def test_reading_an_undeclared_config_path_fails():
    view = DeclaredConfig("candidates", _config(), CANDIDATES.reads)
    assert view("loop.candidates") == 2
    assert view("generation.backend")["_target_"] == "fake"
    with pytest.raises(UndeclaredConfigError, match="candidates.*judge.num_samples"):
        view("judge.num_samples")
    with pytest.raises(UndeclaredConfigError):
        view("loop")  # a parent of a declared path is not declared


# -- the runner -------------------------------------------------------------------------------


def _components(**kw) -> Components:
    return Components(judge=None, select=None, evaluator=None, load_generator=None, **kw)


def _count(ctx):
    calls.append(ctx.label)
    ctx.write_rows("out.jsonl", [{"id": "a", "v": ctx.cfg("loop.candidates")}])
    return {"n": 1.0}


calls: list[str] = []
COUNT = StageDef("count", 1, ("loop.candidates", "seed"), ("up",), ("out.jsonl",), _count)
SOURCE = StageDef(
    "source", 1, ("seed",), (), ("out.jsonl",), lambda ctx: ctx.write_rows("out.jsonl", [])
)


def _runner(tmp_path, config=None, run_dir=None, plan=False) -> Runner:
    return Runner(config or _config(), tmp_path / "store", _components(), {}, run_dir, plan)


def test_runner_skips_done_and_recomputes_on_a_changed_input(tmp_path):
    calls.clear()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    r = _runner(tmp_path, run_dir=run_dir)
    up = r.run(SOURCE, "M0")
    first = r.run(COUNT, "M1", up=up)
    again = r.run(COUNT, "M1", up=up)
    assert first.executed and not again.executed and first.key == again.key
    assert first.rows("out") == [{"id": "a", "v": 2}]
    changed = _runner(tmp_path, _config(loop__candidates=3)).run(COUNT, "M1", up=up)
    assert changed.executed and changed.key != first.key
    other_up = _runner(tmp_path, _config(seed=1)).run(SOURCE, "M0")
    assert _runner(tmp_path).run(COUNT, "M1", up=other_up).key != first.key
    records = json.loads((run_dir / "stages.json").read_text())
    assert [(s["stage"], s["model"], s["executed"]) for s in records] == [
        ("source", "M0", True),
        ("count", "M1", True),
        ("count", "M1", False),
    ]
    assert all({"stage", "key", "executed", "seconds"} <= set(s) for s in records)


def test_a_stage_with_a_missing_input_or_output_fails(tmp_path):
    r = _runner(tmp_path)
    with pytest.raises(TypeError, match="declared"):
        r.run(COUNT, "M1")
    lazy = StageDef("lazy", 1, (), (), ("out.jsonl",), lambda ctx: {})
    with pytest.raises(RuntimeError, match="did not write its output out.jsonl"):
        r.run(lazy)


def test_plan_runs_nothing_writes_nothing_and_says_why(tmp_path):
    calls.clear()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    r = _runner(tmp_path, run_dir=run_dir)
    r.run(COUNT, "M1", up=r.run(SOURCE, "M0"))
    before = sorted(p for p in tmp_path.rglob("*"))
    n_calls = len(calls)
    plan = _runner(tmp_path, _config(loop__candidates=5), run_dir, plan=True)
    plan.run(COUNT, "M1", up=plan.run(SOURCE, "M0"))
    assert len(calls) == n_calls and sorted(tmp_path.rglob("*")) == before
    table = plan.plan_table()
    assert "source" in table and "done (reused)" in table
    assert "to compute (changed: loop.candidates (value))" in table


# -- stage bodies with a fake generator ---------------------------------------------------------


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return f"<user>{messages[0]['content']}<assistant>"


class FakeGenerator:
    """Candidates are "<prompt>#<i>"; the judge gives the candidate's number as its score."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, sampling):
        self.calls.append((len(prompts), sampling))
        out = []
        for p in prompts:
            if "Score" in p:  # a judge prompt: score = the candidate's index
                i = int(p.split("#")[1][0])
                out.append([f"fine. Score: {i}"] * sampling.n)
            else:
                out.append([f"answer#{i}" for i in range(sampling.n)])
        return out


class FakeJudge:
    text = "Rate <R> for <I>. Score:"
    score_min, score_max, num_samples = 0, 5, 2
    temperature, top_p, max_new_tokens = 0.7, 0.9, 8

    def render(self, instruction, response):
        return f"{instruction} {response} Score:"

    def parse(self, text):
        return float(text.rsplit("Score: ", 1)[1])


def test_candidates_judgments_and_pairs_with_a_fake_generator(tmp_path):
    from srlm.pairs import best_worst

    gen = FakeGenerator()
    components = _components()
    components.judge, components.select = FakeJudge(), best_worst
    r = Runner(_config(), tmp_path / "store", components, {"judge.template": "x"})
    r.models.get = lambda path: (gen, FakeTokenizer())
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "prompts.jsonl").write_text(
        "".join(json.dumps({"id": f"p{i}", "prompt": f"task {i}"}) + "\n" for i in range(5))
    )
    from srlm.stages.base import Result

    given = Result("prompts", "k", prompts)
    model = Result("sft", "m1", tmp_path / "m1")
    cands = r.run(CANDIDATES, "M1", {"t": 1}, model=model, prompts=given)
    rows = cands.rows("candidates")
    assert [len(row["candidates"]) for row in rows] == [2] * 5
    assert gen.calls[0][1].seed == 1  # seed * 100 + t
    judged = r.run(JUDGMENTS, "M1", {"t": 1}, model=model, candidates=cands)
    assert judged.metrics["judge/parse_fail_rate"] == 0.0
    assert [j["score"] for j in judged.rows("judgments")][:2] == [0.0, 1.0]
    pairs = r.run(PAIRS, "M1", {"t": 1}, candidates=cands, judgments=judged).rows("pairs")
    assert len(pairs) == 5 and all(p["chosen"] == "answer#1" for p in pairs)


def test_seed_data_is_rebuilt_when_a_local_file_changes_at_the_same_path(tmp_path):
    """data=oasst from a local file: same path, new content -> new seed data."""
    from test_oasst import _many_trees  # small hand-made OASST trees

    source = tmp_path / "oasst.jsonl"
    source.write_text("".join(json.dumps(m) + "\n" for m in _many_trees(8)))
    config = _config(
        data={
            "kind": "oasst",
            "use_eft": True,
            "source": str(source),
            "split": "train",
            "seed": 0,
            "lang": "en",
            "eval_fraction": 0.25,
            "ift_disjoint_from_ranked": False,
            "ift_share": 0.5,
            "max_ift": None,
            "drop_deleted": True,
            "require_review": False,
            "eft": {},
            "eval_prompts_source": None,
            "alpaca_eval_source": None,
            "max_eval_prompts": None,
        }
    )
    first = _runner(tmp_path, config).run(SEED_DATA)
    assert first.executed and _runner(tmp_path, config).run(SEED_DATA).executed is False
    source.write_text("".join(json.dumps(m) + "\n" for m in _many_trees(12)))
    again = _runner(tmp_path, config).run(SEED_DATA)
    assert again.executed and again.key != first.key
    assert len(again.rows("ift")) > len(first.rows("ift"))


def test_every_declared_stage_reads_only_existing_config_paths():
    """Each declaration's paths exist in the composed default config (typos fail here)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import srlm.config  # noqa: F401
    from srlm.stages import evaluate, models

    with initialize_config_dir(str(Path(__file__).parents[1] / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config"), resolve=False)
    stages = [
        SEED_DATA,
        CANDIDATES,
        JUDGMENTS,
        PAIRS,
        evaluate.EVAL_OUTPUTS,
        evaluate.EVAL_AGREEMENT,
        evaluate.EVAL_H2H,
        evaluate.ALPACA_EVAL,
        models.M0_TINY,
        models.SFT_BASELINE,
        models.SFT_M1,
        models.DPO,
        models.TOP_ONLY_SFT,
    ]
    from srlm.keys import lookup

    for stage in stages:
        for path in stage.reads:
            lookup(cfg, path.lstrip("!"))


def test_a_second_run_of_the_same_command_is_refused_while_the_first_holds_it(tmp_path):
    from srlm.rundir import lock

    first = lock(tmp_path / "run")
    with pytest.raises(RuntimeError, match="another srlm run of this command"):
        lock(tmp_path / "run")
    first.release()
    lock(tmp_path / "run").release()  # free again once the first is done
