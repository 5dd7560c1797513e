"""srlm/sweep.py, srlm/errors.py and srlm/slurm.py without a cluster: a sweep lists its failed jobs
(one line each, as a single run's console shows them) and exits non-zero, with the basic and the
joblib launcher; the SLURM launcher's request check and PENDING watch on canned scontrol output.
The same on a real cluster: tests/test_slurm.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, run_cli
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from srlm import slurm, sweep
from srlm.errors import one_line

# -- srlm.errors.one_line ------------------------------------------------------------------------


class OasstLikeError(ValueError):
    """An srlm error class: its message is written for the user."""


OasstLikeError.__module__ = "srlm.data.oasst"


def test_one_line_plain_messages_stay_as_written():
    msg = "model.builder must be 'tiny' or 'pretrained', got 'nope'"
    assert one_line(ValueError(msg)) == msg
    assert one_line(OasstLikeError("data/oasst.jsonl: row 3: missing field 'text'")) == (
        "data/oasst.jsonl: row 3: missing field 'text'"
    )
    assert one_line(RuntimeError("")) == "RuntimeError"


def test_one_line_names_the_file_key_and_class():
    e = FileNotFoundError(2, "No such file or directory", "/data/x.jsonl")
    assert one_line(e) == "FileNotFoundError: No such file or directory: /data/x.jsonl"
    assert one_line(KeyError("prompt")) == "KeyError: missing key 'prompt'"
    assert one_line(KeyError("config has no key 'data.eft'")) == (
        "KeyError: config has no key 'data.eft'"
    )
    assert one_line(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
    try:
        json.loads("{oops")
    except json.JSONDecodeError as e:
        assert one_line(e).startswith("JSONDecodeError: Expecting property name")
        assert "line 1 column 2" in one_line(e)
    cfg = OmegaConf.create({"loop": {"iterations": 2}})
    OmegaConf.set_struct(cfg, True)
    with pytest.raises(OmegaConfBaseException) as info:
        cfg.loop.iteratons  # noqa: B018
    line = one_line(info.value)
    assert "\n" not in line and "iteratons" in line and "key: loop.iteratons" in line


def test_one_line_endpoint_cause_notes_and_length():
    request = SimpleNamespace(method="POST", url="https://api.example.com/v1/chat/completions")

    class APIConnectionError(Exception):
        def __init__(self) -> None:
            super().__init__("Connection error.")
            self.request = request

    APIConnectionError.__module__ = "openai"
    assert one_line(APIConnectionError()) == (
        "APIConnectionError: Connection error. "
        "(endpoint: POST https://api.example.com/v1/chat/completions)"
    )
    try:  # the file is only on the cause
        try:
            Path("/nonexistent/srlm/prompts.jsonl").read_text()
        except OSError as cause:
            raise ValueError("cannot read the seed prompts") from cause
    except ValueError as e:
        assert one_line(e) == (
            "cannot read the seed prompts (file: /nonexistent/srlm/prompts.jsonl)"
        )
    e = ValueError("bad row\n  Traceback-like detail\n  more")
    e.add_note("while reading judgments.jsonl row 12")
    assert one_line(e) == "bad row (while reading judgments.jsonl row 12)"
    try:  # transformers' lazy imports: the error is the cause
        try:
            raise ModuleNotFoundError("Could not import module 'TrainingArguments'.")
        except ImportError as cause:
            raise RuntimeError(
                "Failed to import trl.trainer.sft_config because of the following error "
                "(look up to see its traceback):\nmore"
            ) from cause
    except RuntimeError as e:
        assert one_line(e) == (
            "Failed to import trl.trainer.sft_config because of the following error (look up to "
            "see its traceback): ModuleNotFoundError: Could not import module 'TrainingArguments'."
        )
    long = one_line(ValueError("x" * 1000))
    assert len(long) == 400 and long.endswith("...")


# -- a sweep reports its failed jobs (basic and joblib launchers) --------------------------------

APP = """
import hydra

@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg):
    if cfg.x == 1:
        raise ValueError("x must not be 1")
    if cfg.x == 2:
        raise FileNotFoundError(2, "No such file or directory", "/data/x.jsonl")
    print(f"job x={cfg.x} ok")

if __name__ == "__main__":
    main()
"""

CONFIG = """
x: 0
hydra:
  callbacks:
    sweep_report:
      _target_: srlm.sweep.SweepReport
  sweep:
    dir: {sweep_dir}
"""


def _app(tmp_path: Path) -> Path:
    (tmp_path / "conf").mkdir()
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "conf" / "config.yaml").write_text(CONFIG.format(sweep_dir=tmp_path / "sweep"))
    return tmp_path


def _sweep(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "app.py", "-m", *args],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_failed_jobs_are_listed_and_the_sweep_exits_1(tmp_path, launcher):
    app = _app(tmp_path)
    extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    res = _sweep(app, "x=0,1,2,3", *extra)
    assert res.returncode == 1, res.stderr[-3000:]
    report = res.stderr[res.stderr.index("srlm: sweep:") :].splitlines()
    assert report[0] == "srlm: sweep: 2 of 4 jobs failed:"
    assert report[1].startswith("  #1 x=1: x must not be 1")
    assert report[2].startswith("  #2 x=2: FileNotFoundError: No such file or directory: /data/")
    assert len(report) == 3 and "Traceback" not in res.stderr  # all jobs ran; no Hydra raise
    records = sweep.read_records(tmp_path / "sweep")
    assert [r["status"] for r in records] == ["ok", "failed", "failed", "ok"]


def test_a_sweep_without_failures_exits_0_and_old_records_are_cleared(tmp_path):
    app = _app(tmp_path)
    assert _sweep(app, "x=1,2").returncode == 1
    res = _sweep(app, "x=0,3")  # the same sweep dir: the earlier failures are not reported
    assert res.returncode == 0, res.stderr[-3000:]
    assert "srlm: sweep:" not in res.stderr
    assert [r["status"] for r in sweep.read_records(tmp_path / "sweep")] == ["ok", "ok"]


def test_run_py_sweep_lists_the_failed_job(tmp_path):
    """run.py end to end: a job that fails at run time (its paths.root is not a directory) and a
    dry run that passes; the failing job prints the same line the sweep lists."""
    res = run_cli(
        "-m",
        "experiment=smoke",
        "dry_run=true,false",
        "paths.root=/dev/null/srlm",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        timeout=300,
    )
    assert res.returncode == 1, res.stderr[-3000:]
    error = "NotADirectoryError: Not a directory: /dev/null/srlm/smoke/"
    assert f"srlm: error: {error}" in res.stderr  # the job's own console line
    report = res.stderr[res.stderr.index("srlm: sweep:") :].splitlines()
    assert report[0] == "srlm: sweep: 1 of 2 jobs failed:"
    assert report[1].startswith("  #1 experiment=smoke dry_run=False paths.root=/dev/null/srlm: ")
    assert error in report[1]


# -- srlm.slurm without a cluster: canned scontrol output ---------------------------------------

NODES = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=2 CPUAlloc=0 CPUTot=2 CPULoad=0.1 Gres=(null) "
    "NodeAddr=127.0.0.1 RealMemory=24105 AllocMem=0 State=IDLE Partitions=debug\n"
    "NodeName=g1 CPUTot=32 Gres=gpu:a100:4(S:0-1) RealMemory=512000 State=DOWN+DRAIN "
    "Partitions=gpu\n"
)
PARTITIONS = (
    "PartitionName=debug Default=YES MaxTime=UNLIMITED State=UP Nodes=vm\n"
    "PartitionName=gpu Default=NO MaxTime=2-00:00:00 State=UP Nodes=g1\n"
)


@pytest.fixture
def fake_cluster(monkeypatch):
    def run(*cmd, timeout=30):
        return {"node": NODES, "partition": PARTITIONS}[cmd[2]]

    monkeypatch.setattr(slurm, "_run", run)


def _launcher_params(name: str, *overrides: str) -> dict:
    from hydra import compose, initialize_config_dir

    import srlm.config  # noqa: F401

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", [f"hydra/launcher={name}", *overrides], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert params.pop("_target_") == "hydra_plugins.srlm_launcher.SlurmLauncher"
    return params


def test_the_presets_against_a_small_cluster(fake_cluster):
    slurm.check_request(_launcher_params("slurm_local"))  # fits: no error
    with pytest.raises(slurm.SlurmRequestError) as info:
        slurm.check_request(_launcher_params("slurm"))
    assert str(info.value) == (
        "hydra.launcher asks for 8 CPUs, 64 GB, 1 GPU per node in partition 'debug', where 0 of "
        "1 node can run it (largest: 2 CPUs, 24 GB, no GPU); lower hydra.launcher.cpus_per_task, "
        "hydra.launcher.mem_gb, hydra.launcher.gpus_per_node or use hydra/launcher=slurm_local"
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["hydra.launcher.mem_gb=100"], "asks for 1 CPU, 100 GB per node"),
        (["hydra.launcher.partition=nope"], "partition 'nope' does not exist (partitions: debug"),
        (["hydra.launcher.partition=gpu"], "partition 'gpu' has no usable node (DOWN+DRAIN)"),
        (["hydra.launcher.timeout_min=100000", "hydra.launcher.partition=gpu"], "2880 min"),
    ],
)
def test_requests_no_node_can_meet(fake_cluster, overrides, error):
    with pytest.raises(slurm.SlurmRequestError, match=r".*") as info:
        slurm.check_request(_launcher_params("slurm_local", *overrides))
    assert error in str(info.value)


def test_request_sizes():
    r = slurm.Request.from_params({"cpus_per_task": 4, "tasks_per_node": 2, "gres": "gpu:v100:2"})
    assert (r.cpus, r.gpus, r.mem_mb) == (8, 2, None)
    r = slurm.Request.from_params({"mem_per_cpu": "2G", "cpus_per_task": 3})
    assert r.mem_mb == 3 * 2048
    assert [slurm._minutes(t) for t in ("UNLIMITED", "30", "2:00:00", "1-00:00:00")] == [
        None,
        30,
        120,
        1440,
    ]


class FakeJob:
    def __init__(self, job_id: str, folder: Path) -> None:
        self.job_id = job_id
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}.pkl")
        self.watcher = SimpleNamespace(get_state=lambda job_id, mode: "UNKNOWN")
        self.cancelled = False

    def cancel(self, check: bool = True) -> None:
        self.cancelled = True


def test_a_job_pending_for_a_hopeless_reason_is_cancelled(tmp_path, monkeypatch):
    jobs = [FakeJob("9_0", tmp_path), FakeJob("9_1", tmp_path)]
    queue = {"9_0": ("PENDING", "PartitionConfig"), "9_1": ("PENDING", "Resources")}

    def squeue(ids):
        if jobs[0].cancelled:  # 9_1 got its resources and ended
            jobs[1].paths.result_pickle.write_text("done")
        return {i: queue[i] for i in ids}

    monkeypatch.setattr(slurm, "_squeue", squeue)
    launcher = object.__new__(slurm.SlurmLauncher)
    launcher.pending_timeout_s, launcher.poll_s = 0.2, 0.05
    notes = launcher._wait(jobs)
    assert jobs[0].cancelled and not jobs[1].cancelled
    assert list(notes) == ["9_0"] and notes["9_0"].startswith("PENDING (PartitionConfig) for ")


def test_failed_job_error_line_from_a_submitit_trace():
    trace = (
        "Job (task=0) failed during processing with trace:\n----------------------\n"
        'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "ModuleNotFoundError: No module named 'hydra_plugins.srlm_launcher'\n"
        "----------------------\nYou can check full logs with 'job.stderr(0)'"
    )
    assert slurm._error_of(RuntimeError(trace)) == (
        "ModuleNotFoundError: No module named 'hydra_plugins.srlm_launcher'"
    )
