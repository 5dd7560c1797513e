"""sweeps/*.sh and conf/experiment/*.yaml: headers, pass-through, and every grid point composes."""

from __future__ import annotations

import itertools
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

import srlm.config  # noqa: F401  (registers the schema that config.yaml's defaults list names)

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
SWEEPS = sorted((REPO / "sweeps").glob("*.sh"))
ORCHESTRATOR = "paper_ablations"
NOT_PAPER = {"control"}  # srlm's own checks, not the paper's ablations: not in the orchestrator
EXPERIMENTS = sorted((CONF / "experiment").glob("*.yaml"))


def _multirun_line(script: Path) -> str:
    lines = [ln for ln in script.read_text().splitlines() if ln.startswith("python run.py -m ")]
    assert len(lines) == 1, f"{script.name}: expected one `python run.py -m ...` line"
    return lines[0]


def _grid_tokens(script: Path) -> list[str]:
    tokens = shlex.split(_multirun_line(script), posix=False)
    assert tokens[:3] == ["python", "run.py", "-m"] and tokens[-1] == '"$@"'
    return tokens[3:-1]


def _grid_points(script: Path) -> list[list[str]]:
    """Every job of the sweep, expanded the way Hydra's basic sweeper expands comma lists."""
    axes = []
    for override in OverridesParser.create().parse_overrides(_grid_tokens(script)):
        key = override.get_key_element()
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.get_value_element_as_str()]
        )
        axes.append([f"{key}={v}" for v in values])
    return [list(point) for point in itertools.product(*axes)]


GRID = [
    pytest.param(point, id=f"{s.stem}:{','.join(point)}")
    for s in SWEEPS
    if s.stem != ORCHESTRATOR
    for point in _grid_points(s)
]


# One non-default point per sweep, composed on top of a preset as well.
LAST_POINTS = [
    pytest.param(_grid_points(s)[-1], id=s.stem) for s in SWEEPS if s.stem != ORCHESTRATOR
]


@pytest.fixture(scope="module")
def hydra_conf() -> Iterator[None]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def _compose(overrides: list[str]) -> DictConfig:
    return compose("config", overrides=overrides, return_hydra_config=True)


def _check_applied(cfg: DictConfig, overrides: list[str]) -> None:
    choices = cfg.hydra.runtime.choices
    for override in overrides:
        key, value = override.split("=", 1)
        if key in choices:
            assert choices[key] == value, override
        else:
            assert str(OmegaConf.select(cfg, key)).lower() == value.lower(), override


def test_sweep_set() -> None:
    names = {s.stem for s in SWEEPS}
    expected = {"judge_prompt", "pairs_vs_top_only", "eft_ablation", "iterations", "seeds"}
    assert names == expected | {ORCHESTRATOR} | NOT_PAPER


@pytest.mark.parametrize("script", SWEEPS, ids=lambda p: p.stem)
def test_sweep_script_shape(script: Path) -> None:
    text = script.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    header = list(itertools.takewhile(lambda ln: ln.startswith("#"), lines[1:]))
    assert len(header) >= 5, f"{script.name}: no comment header"
    for field in ("# Question:", "# Paper:", "# Grid:", "# Cost", "# GPU"):
        assert any(ln.startswith(field) for ln in header), f"{script.name}: header lacks {field}"
    assert "2 CPU cores" in text
    assert 'cd "$(dirname "$0")/.."' in lines
    assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    if script.stem == ORCHESTRATOR:
        calls = [ln for ln in lines if ln.startswith("bash sweeps/")]
        others = [s for s in SWEEPS if s.stem not in {ORCHESTRATOR, *NOT_PAPER}]
        assert calls == [f'bash sweeps/{s.name} "$@"' for s in _in_order(others)]
    else:
        tokens = _grid_tokens(script)
        assert tokens[0] == f"name={script.stem}", "runs of a sweep are grouped by name"
        assert any("," in t for t in tokens[1:]), "a sweep has a grid"


def _in_order(scripts: list[Path]) -> list[Path]:
    order = ["judge_prompt", "pairs_vs_top_only", "eft_ablation", "iterations", "seeds"]
    return sorted(scripts, key=lambda s: order.index(s.stem))


def test_scripts_pass_arguments_through(tmp_path: Path) -> None:
    """With a fake `python` on PATH: every sweep runs from the repo root and gets "$@" last."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    fake = bindir / "python"
    fake.write_text(f'#!/usr/bin/env bash\necho "$PWD|$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["bash", str(REPO / "sweeps" / f"{ORCHESTRATOR}.sh"), "hydra/launcher=joblib", "a=b c"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=60,
    )
    calls = [line.split("|", 1) for line in log.read_text().splitlines()]
    assert [cwd for cwd, _ in calls] == [str(REPO)] * 5
    paper = [s for s in SWEEPS if s.stem not in {ORCHESTRATOR, *NOT_PAPER}]
    for (_, args), script in zip(calls, _in_order(paper)):
        assert args.startswith(f"run.py -m name={script.stem} "), args
        assert args.endswith(" hydra/launcher=joblib a=b c"), args
    for stem in sorted(NOT_PAPER):  # run on their own
        log.unlink()
        subprocess.run(["bash", str(REPO / "sweeps" / f"{stem}.sh"), "a=b c"], cwd=tmp_path,
                       env=env, check=True, timeout=60)  # fmt: skip
        [(cwd, args)] = [line.split("|", 1) for line in log.read_text().splitlines()]
        assert cwd == str(REPO) and args.startswith(f"run.py -m name={stem} ")
        assert args.endswith(" a=b c"), args


@pytest.mark.parametrize("point", GRID)
def test_grid_point_composes(hydra_conf: None, point: list[str]) -> None:
    cfg = _compose([*point, "hydra/launcher=joblib"])
    _check_applied(cfg, point)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")


@pytest.mark.parametrize("point", LAST_POINTS)
def test_grid_point_survives_presets(hydra_conf: None, point: list[str]) -> None:
    """`bash sweeps/x.sh experiment=one_gpu_lora`: the sweep's own values still win."""
    cfg = _compose([*point, "experiment=one_gpu_lora"])
    _check_applied(cfg, point)
    assert cfg.model.name == "qwen2_5_0_5b"


def test_grid_sizes() -> None:
    sizes = {s.stem: len(_grid_points(s)) for s in SWEEPS if s.stem != ORCHESTRATOR}
    assert sizes == {
        "judge_prompt": 2,
        "pairs_vs_top_only": 2,
        "eft_ablation": 2,
        "iterations": 3,
        "seeds": 3,
        "control": 6,
    }
    assert _grid_points(REPO / "sweeps" / "iterations.sh") == [
        ["name=iterations", f"loop.iterations={k}"] for k in (1, 2, 3)
    ]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_header(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"
    header = list(itertools.takewhile(lambda ln: ln.startswith("#"), lines[1:]))
    assert len(header) >= 2, f"{path.name}: no comment header"
    assert any("python run.py" in ln and f"experiment={path.stem}" in ln for ln in header)


def test_paper_llama2_70b(hydra_conf: None) -> None:
    cfg = compose("config", overrides=["experiment=paper_llama2_70b"], return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    expected = {"model": "llama2_70b", "data": "oasst", "judge": "additive5", "train": "paper"}
    expected |= {"pairs": "best_worst", "generation": "vllm", "evaluator": "openai"}
    assert {k: choices[k] for k in expected} == expected
    assert choices["logger"] == "wandb"
    assert cfg.generation.backend.tensor_parallel_size == 8
    assert (cfg.loop.iterations, cfg.loop.candidates) == (3, 4)
    assert cfg.loop.prompts_per_iteration >= 6942
    assert cfg.self_instruct.generator == "meta-llama/Llama-2-70b-chat-hf"
    assert (cfg.train.sft.learning_rate, cfg.train.dpo.learning_rate) == (5.5e-6, 1e-6)


def test_one_gpu_lora(hydra_conf: None) -> None:
    cfg = compose("config", overrides=["experiment=one_gpu_lora"])
    assert cfg.model.name == "qwen2_5_0_5b" and cfg.data.kind == "oasst"
    assert cfg.train.lora.enabled is True
    assert cfg.train.sft.learning_rate > 5.5e-6 and cfg.train.dpo.learning_rate > 1e-6
    assert cfg.train.sft.bf16 is True  # train=paper underneath


def test_slurm_launcher(hydra_conf: None) -> None:
    cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.max_num_timeout == 3
    assert launcher.gpus_per_node >= 1 and launcher.timeout_min >= 60
    assert (CONF / "hydra" / "launcher" / "slurm.yaml").read_text().startswith("#")


def test_report_module_importable_without_side_effects() -> None:
    """The sweeps' READMEs point at `python -m srlm.report`; it must at least show its help."""
    proc = subprocess.run(
        [sys.executable, "-m", "srlm.report", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "RUNS_DIR" in proc.stdout
