"""Every option of every config group composes, and instantiates where it names a _target_."""

import pytest
from conftest import REPO, run_cli
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

import srlm.config  # noqa: F401
from srlm.rundir import make_run_id

CONF = REPO / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("hydra",))
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
EXTRA = {  # values a user must supply for these options
    ("evaluator", "local"): ["evaluator.model_name_or_path=/nonexistent/judge"],
    ("evaluator", "openai"): ["evaluator.client=urllib"],
}


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(group, option, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    cfg = _compose([f"{group}={option}", *EXTRA.get((group, option), [])])
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.model.name and cfg.loop.iterations >= 1
    targets = {
        "judge": cfg.judge,
        "pairs": cfg.pairs.select,
        "generation": cfg.generation.backend,
        "evaluator": cfg.evaluator,
    }
    for name, node in targets.items():
        obj = instantiate(node)
        assert obj is not None, name
    judge = instantiate(cfg.judge)
    assert "Score" in judge.render("q", "a")


def test_every_yaml_opens_with_a_header():
    for path in CONF.rglob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("#"), path


def test_tiny_model_picks_its_judge_and_cli_wins():
    assert _compose([]).judge.template == "judge_additive5_condensed"
    assert _compose(["judge=additive5"]).judge.template == "judge_additive5"
    assert _compose(["model=llama2_70b"]).judge.template == "judge_additive5"
    assert _compose(["model=llama2_70b"]).train.dpo.learning_rate == 1e-6


def test_paper_values_in_paper_presets():
    cfg = _compose(["model=llama2_70b", "judge=additive5"])
    assert (cfg.loop.candidates, cfg.loop.temperature, cfg.loop.top_p) == (4, 0.7, 0.9)
    assert (cfg.judge.num_samples, cfg.judge.temperature, cfg.judge.top_p) == (3, 0.7, 0.9)
    assert (
        cfg.self_instruct.temperature,
        cfg.self_instruct.num_seed_shots,
        cfg.self_instruct.num_generated_shots,
    ) == (0.6, 6, 2)
    assert cfg.train.sft.learning_rate == 5.5e-6 and cfg.train.sft.min_learning_rate == 1.1e-6
    assert cfg.train.dpo.beta == 0.1 and cfg.train.dpo.min_learning_rate == 1e-7
    assert cfg.train.sft.batch_size == cfg.train.dpo.batch_size == 16


def test_misspelt_and_mistyped_keys_fail():
    with pytest.raises(ConfigCompositionException, match="loop.iteratons"):
        _compose(["loop.iteratons=3"])
    with pytest.raises((ValidationError, ConfigCompositionException)):
        _compose(["loop.iterations=three"])
    with pytest.raises((ConfigKeyError, ConfigCompositionException)):
        _compose(["self_instruct.temprature=0.5"])


def test_run_id_from_overrides():
    assert make_run_id([]) == "default"
    assert (
        make_run_id(["pairs=best_worst", "judge=additive5", "logger=none", "hydra/launcher=joblib"])
        == "judge=additive5,pairs=best_worst"
    )
    assert make_run_id(["paths.root=/x", "threads=2"]) == "default"
    assert make_run_id(["generation.backend.batch_size=8"]) == "default"  # no result changes
    assert make_run_id([f"data.n_ift={'9' * 200}"]).startswith("h")


def test_cli_errors_are_one_clear_line(tmp_path):
    bad = run_cli("judge=nope", f"paths.root={tmp_path}", timeout=120)
    assert bad.returncode != 0
    assert "Could not find 'judge/nope'" in bad.stderr and "Traceback" not in bad.stderr
    typo = run_cli("loop.iteratons=2", f"paths.root={tmp_path}", timeout=120)
    assert (
        typo.returncode != 0 and "loop.iteratons" in typo.stderr and "Traceback" not in typo.stderr
    )


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    res = run_cli("dry_run=true", "judge=additive5", f"paths.root={tmp_path}", cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "M1" in res.stdout and "judgments" in res.stdout and "to compute (new)" in res.stdout
    assert not any(tmp_path.iterdir())
