"""The whole loop through the real CLI on the tiny model: artifacts, resume, sharing, errors.

Integration tests: real Hydra, real TRL trainers, real wandb (offline). They share one runs root,
so M0 is built once for the session.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from wandb_offline import history

pytestmark = pytest.mark.integration

REQUIRED = [
    "eval/agreement/pairwise_accuracy",
    "eval/agreement/five_best",
    "eval/agreement/exact_match",
    "eval/agreement/spearman",
    "eval/agreement/kendall_tau",
    "eval/length/mean_chars",
]


def summary(run_dir: Path) -> dict[str, dict]:
    return {r["model"]: r for r in json.loads((run_dir / "summary.json").read_text())["rows"]}


@pytest.fixture(scope="module")
def smoke_run(session_runs):
    res = run_cli("experiment=smoke", "logger=wandb", f"paths.root={session_runs}")
    assert res.returncode == 0, res.stderr[-3000:]
    return session_runs / "smoke" / "experiment=smoke"


def test_smoke_loop_artifacts_and_metrics(smoke_run):
    rows = summary(smoke_run)
    assert list(rows) == ["sft_baseline", "M1", "M2"]
    for model, row in rows.items():
        for key in REQUIRED:
            assert key in row, (model, key)
    for key in ("eval/h2h_vs_sft/win", "eval/h2h_vs_sft/tie", "eval/h2h_vs_sft/loss"):
        assert key in rows["M1"] and key in rows["M2"]
    assert "eval/h2h_vs_prev/win" in rows["M2"]
    m1 = rows["M1"]
    for key in ("judge/parse_fail_rate", "aift/num_pairs", "aift/tie_rate", "judge/sample_spread"):
        assert key in m1, key
    assert m1["iteration"] == 1 and rows["M2"]["iteration"] == 2
    it = smoke_run / "iter_01"
    for name in ("prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "pairs.jsonl"):
        assert (it / name).exists(), name
    judgments = [json.loads(x) for x in (it / "judgments.jsonl").read_text().splitlines()]
    assert all(len(j["samples"]) == 3 and len(j["scores"]) == 3 for j in judgments)
    assert all((j["score"] is None) == all(s is None for s in j["scores"]) for j in judgments)
    outputs = json.loads((smoke_run / "eval" / "M2" / "model_outputs.json").read_text())
    assert outputs and set(outputs[0]) == {"instruction", "output", "generator", "dataset"}


def test_wandb_offline_run_holds_the_summary_values(smoke_run):
    files = list((smoke_run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    logged = {}
    for row in history(files[0]):
        for k, v in row.items():
            if not k.startswith("_"):
                logged.setdefault(row["iteration"], {})[k] = v
    for model, row in summary(smoke_run).items():
        for key in REQUIRED:
            if row.get(key) is not None:
                assert logged[row["iteration"]][key] == pytest.approx(row[key]), (model, key)


def test_second_run_skips_every_stage(smoke_run, session_runs):
    res = run_cli("experiment=smoke", "logger=wandb", f"paths.root={session_runs}")
    assert res.returncode == 0, res.stderr[-3000:]
    stages = json.loads((smoke_run / "stages.json").read_text())
    assert stages and not any(s["executed"] for s in stages)
    ids = list((smoke_run / "wandb").glob("offline-run-*"))
    assert (smoke_run / "wandb_run_id.txt").read_text().strip() in str(ids[-1])


def test_pairs_ablation_shares_upstream_stages(smoke_run, session_runs):
    res = run_cli("-m", "experiment=smoke", "pairs=top_only", f"paths.root={session_runs}")
    assert res.returncode == 0, res.stderr[-3000:]
    stages = json.loads(
        (session_runs / "smoke" / "experiment=smoke,pairs=top_only" / "stages.json").read_text()
    )
    executed = {s["stage"] for s in stages if s["executed"]}
    assert executed <= {"pairs", "train", "eval_outputs", "eval_agreement", "eval_h2h"}, executed
    assert "train" in executed  # the only model it must train itself is M2


def test_kill_during_sft_then_resume(session_runs, smoke_run):
    args = [
        sys.executable,
        "run.py",
        "experiment=smoke",
        "seed=1",
        f"paths.root={session_runs}",
        "train.sft.save_steps=5",
    ]
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
        start_new_session=True,
    )
    deadline = time.time() + 300
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if list((session_runs / "store" / "sft").glob("*/model.partial.checkpoints/checkpoint-*")):
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.wait()
    assert killed, "SFT never saved a checkpoint to kill after"
    res = run_cli(
        "experiment=smoke", "seed=1", f"paths.root={session_runs}", "train.sft.save_steps=5"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "M2" in summary(
        session_runs / "smoke" / "experiment=smoke,seed=1,train.sft.save_steps=5"
    )


def test_kill_during_judging_resumes_from_judged_rows(tmp_path):
    """kill -9 mid-judging, run again: judged rows are kept, pairs equal an uninterrupted run."""
    args = ["experiment=smoke", "loop.chunk_size=8", "evaluator=none"]
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(
        [sys.executable, "run.py", *args, f"paths.root={killed_root}"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline, judged_before = time.time() + 600, 0
    while time.time() < deadline and proc.poll() is None:
        logs = list((killed_root / "store" / "judgments").glob("*/judgments.jsonl.partial"))
        judged_before = sum(len(f.read_text().splitlines()) for f in logs)
        if judged_before >= 16:  # two chunks written, more to come
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert 16 <= judged_before < 64, f"not killed mid-judging ({judged_before} rows judged)"
    res = run_cli(*args, f"paths.root={killed_root}")
    assert res.returncode == 0, res.stderr[-3000:]
    [judged] = [s for s in _stages(killed_root) if s["stage"] == "judgments"]
    assert judged["executed"]
    [run_log] = killed_root.glob("smoke/*/run.log")
    assert f"judgments.jsonl: resuming, {judged_before} rows already done" in run_log.read_text()
    res = run_cli(*args, f"paths.root={clean_root}")
    assert res.returncode == 0, res.stderr[-3000:]
    pairs = [next(r.glob("smoke/*/iter_01/pairs.jsonl")) for r in (killed_root, clean_root)]
    assert pairs[0].read_text() == pairs[1].read_text() != ""


def _stages(root: Path) -> list[dict]:
    [f] = root.glob("smoke/*/stages.json")
    return json.loads(f.read_text())


def test_bad_data_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"message_id": "a", "parent_id": null, "text": "hi", "lang": "en", "rank": null}\n'
    )
    res = run_cli(
        "data=oasst", f"data.source={bad}", "logger=none", f"paths.root={tmp_path}", timeout=300
    )
    assert res.returncode == 2
    assert "bad.jsonl: row 1: missing field 'role'" in res.stderr
    assert "Traceback" not in res.stderr


OASST = REPO.parent / "shared" / "data" / "oasst1_validation_en" / "oasst1_validation_en.jsonl.gz"


@pytest.mark.skipif(not OASST.exists(), reason="shared OASST validation file absent")
def test_oasst_seed_path_end_to_end(session_runs):
    """data=oasst on the real validation rankings: IFT, the SFT baseline's EFT, M1, agreement.

    The tiny model cannot judge English; this checks the paper's seed construction and the
    reward-modelling evaluation run on real human rankings, not the scores' quality.
    """
    res = run_cli(
        "data=oasst",
        f"data.source={OASST}",
        "data.max_ift=40",
        "data.alpaca_eval_source=null",
        "loop.iterations=1",
        "judge.max_new_tokens=24",
        "eval.generation.max_new_tokens=16",
        "model.recipe.pretrain_steps=150",
        "model.recipe.corpus_documents=2000",
        "train.sft.epochs=1",
        "logger=none",
        "name=oasst",
        f"paths.root={session_runs}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = next((session_runs / "oasst").iterdir())
    rows = summary(run_dir)
    assert list(rows) == ["sft_baseline", "M1"]
    for model in rows:
        assert (
            rows[model]["eval/agreement/n_prompts"] == 42
        )  # the eval split of the 186 ranked prompts
        assert rows[model]["eval/agreement/n_responses"] > 84
    stages = json.loads((run_dir / "stages.json").read_text())
    assert {"seed_data", "sft", "eft", "eval_agreement"} <= {s["stage"] for s in stages}
    assert (
        "eval/h2h_vs_sft/win" not in rows["M1"]
    )  # evaluator=none: no head to head without a judge


def test_a_failing_sweep_job_is_listed_and_the_others_finish(smoke_run, session_runs):
    """One job fails inside its run (its root is not a folder): the sweep lists it and fails."""
    sweep = f"hydra.sweep.dir={session_runs / '_sweeps' / 'one_fails'}"
    res = run_cli("-m", "experiment=smoke", f"paths.root=/dev/null/srlm,{session_runs}", sweep)
    assert res.returncode == 1, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "srlm: sweep: 1 of 2 jobs failed:" in out and "NotADirectoryError" in out
    assert "M2" in summary(smoke_run)
