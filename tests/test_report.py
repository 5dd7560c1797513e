"""srlm.report on hand-made run directories: every table, the paper's numbers, plots, errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from srlm import report

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TABLES = ("head_to_head", "win_rate", "reward_modelling", "loop_stats")

# Fixture values chosen to be unmistakable in the output (none equals a paper number).
H2H = {  # judge -> iteration -> (vs SFT win/tie/loss, vs prev win/tie/loss)
    "additive5": {1: (31.25, 40.0, 28.75), 2: (47.13, 35.0, 17.87), 3: (58.41, 30.0, 11.59)},
    "multiple_choice": {1: (29.0, 41.0, 30.0), 2: (33.33, 40.0, 26.67), 3: (35.55, 40.0, 24.45)},
}
PREV = {"additive5": {2: (52.19, 30.0, 17.81), 3: (44.44, 40.0, 15.56)}}
PAIRWISE = {"additive5": [0.612, 0.734, 0.771, 0.789], "multiple_choice": [0.273, 0.3, 0.31, 0.32]}


def _rows(judge: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for t in range(4):
        row: dict[str, Any] = {
            "iteration": t,
            "model": "sft_baseline" if t == 0 else f"M{t}",
            "eval/agreement/pairwise_accuracy": PAIRWISE[judge][t],
            "eval/agreement/five_best": 0.4,
            "eval/agreement/exact_match": 0.1,
            "eval/agreement/spearman": 0.2 + 0.01 * t,
            "eval/agreement/kendall_tau": 0.18,
            "eval/length/mean_chars": 100.0 + 25 * t,
            "eval/length/mean_tokens": 25.0 + 6 * t,
            "eval/answer_accuracy": 0.3,
        }
        if t >= 1:
            win, tie, loss = H2H[judge][t]
            row |= {"eval/h2h_vs_sft/win": win, "eval/h2h_vs_sft/tie": tie}
            row |= {"eval/h2h_vs_sft/loss": loss, "eval/alpaca/win_rate": None}
        if t in (1, 2):
            row |= {"aift/num_pairs": 120 + 17 * t, "aift/tie_rate": 0.25}
            row |= {
                "judge/parse_fail_rate": 0.02,
                "aift/pair_truth_accuracy": 0.8,
                "judge/mean_score": 3.5 + t / 10,
                "judge/score_length_corr": -0.2,
            }
        if t >= 2 and judge in PREV:
            win, tie, loss = PREV[judge][t]
            row |= {"eval/h2h_vs_prev/win": win, "eval/h2h_vs_prev/tie": tie}
            row |= {"eval/h2h_vs_prev/loss": loss}
        rows.append(row)
    return rows


def _write_run(root: Path, name: str, judge: str, rows: list[dict[str, Any]]) -> Path:
    run_id = f"judge={judge}"
    choices = {"model": "tiny", "data": "synthetic", "judge": judge, "pairs": "best_worst"}
    summary = {
        "run": {
            "name": name,
            "run_id": run_id,
            "choices": choices | {"generation": "hf", "train": "tiny", "evaluator": "oracle"},
            "overrides": [f"judge={judge}", f"name={name}"],
            "config": {"seed": 0, "loop": {"iterations": 3}, "data": {"kind": "synthetic"}},
        },
        "rows": rows,
    }
    run_dir = root / name / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for judge in ("additive5", "multiple_choice"):
        _write_run(root, "judge_prompt", judge, _rows(judge))
    # Decoys that must be skipped: the shared store and Hydra's log dirs.
    for decoy in ("store/x", "_hydra/2026-01-01/00-00-00"):
        (root / decoy).mkdir(parents=True)
        (root / decoy / "summary.json").write_text("not json", encoding="utf-8")
    return root


def _read(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


def _csv_rows(out: Path, slug: str) -> list[dict[str, str]]:
    with (out / f"{slug}.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_report_tables_and_plots(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = runs_dir / "report"
    assert report.main([str(runs_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.md")

    ablation = "ablation_judge_prompt_judge"
    for slug in (*TABLES, ablation):
        for ext in ("csv", "tex"):
            assert (out / f"{slug}.{ext}").stat().st_size > 0, f"{slug}.{ext}"
    md = _read(out, "report.md")

    # Figure 3: ours (M2 vs SFT of the additive run) and the paper's 49.2 / 36.3 / 14.5.
    h2h = _csv_rows(out, "head_to_head")
    m2 = next(
        r for r in h2h if r["Run"] == "judge=additive5" and r["Comparison"] == "M2 vs SFT baseline"
    )
    assert (float(m2["Win"]), float(m2["Paper win"]), float(m2["Paper loss"])) == (
        47.13,
        49.2,
        14.5,
    )
    m3_prev = next(r for r in h2h if r["Comparison"] == "M3 vs M2")
    assert (float(m3_prev["Win"]), float(m3_prev["Paper win"])) == (44.44, 47.7)
    assert not any(r["Comparison"] == "M1 vs M0" for r in h2h)
    assert "47.1" in md and "49.2" in md
    assert "49.2" in _read(out, "head_to_head.tex") and "47.1" in _read(out, "head_to_head.tex")

    # Table 1 shape: no AlpacaEval number logged, so the h2h win stands in; references below.
    wr = _csv_rows(out, "win_rate")
    m3 = next(r for r in wr if r["Run"] == "judge=additive5" and r["Model"] == "M3")
    assert (float(m3["Win rate %"]), m3["Measured by"], float(m3["Paper win rate %"])) == (
        58.41,
        "h2h vs SFT baseline",
        20.44,
    )
    assert any(r["Model"] == "Claude 2" and r["Paper win rate %"] == "17.19" for r in wr)

    # Table 4: fractions printed in %, correlations as they are, paper beside.
    rm = _csv_rows(out, "reward_modelling")
    sft = next(r for r in rm if r["Run"] == "judge=additive5" and r["Model"] == "sft_baseline")
    assert float(sft["Pairwise acc. %"]) == pytest.approx(61.2)
    assert float(sft["Paper Pairwise acc. %"]) == 65.1
    m3_rm = next(r for r in rm if r["Run"] == "judge=additive5" and r["Model"] == "M3")
    assert (float(m3_rm["Spearman"]), float(m3_rm["Paper Spearman"])) == (0.23, 0.349)
    assert "81.7" in _read(out, "reward_modelling.tex")

    # Pair counts: the row of M_t is AIFT(M_t); the paper's 3,964 beside M1.
    ls = _csv_rows(out, "loop_stats")
    m1 = next(r for r in ls if r["Run"] == "judge=additive5" and r["Model"] == "M1")
    assert (m1["AIFT pairs"], m1["Paper AIFT pairs"], float(m1["Parse fail %"])) == (
        "137",
        "3964",
        2.0,
    )

    # Judge ablation: the SFT baseline judge per prompt vs Table 5.
    ab = {r["judge"]: r for r in _csv_rows(out, ablation)}
    assert list(ab) == ["additive5", "multiple_choice"]
    assert float(ab["multiple_choice"]["SFT Pairwise acc. %"]) == pytest.approx(27.3)
    assert float(ab["multiple_choice"]["Paper SFT Pairwise acc. %"]) == 26.6
    assert float(ab["additive5"]["Paper SFT Spearman"]) == 0.25
    assert float(ab["multiple_choice"]["Final vs SFT win %"]) == 35.55
    assert "26.6" in md and "Table 5" in md

    for stem in report.PLOTS:
        if stem == "alpaca_eval":  # no run logged an AlpacaEval win rate
            continue
        png = out / f"{stem}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000, stem
        assert f"]({stem}.png)" in md


def test_report_subprocess(runs_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    proc = subprocess.run(
        [sys.executable, "-m", "srlm.report", str(runs_dir), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "report.md")
    assert "Traceback" not in proc.stderr
    assert "62.5" in _read(out, "report.md")
    assert not (runs_dir / "report").exists()


def test_no_summary_is_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "runs"
    (empty / "store" / "a").mkdir(parents=True)
    (empty / "store" / "a" / "summary.json").write_text("{}", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "srlm.report", str(empty)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no summary.json" in lines[0], proc.stderr


def test_missing_dir_and_bad_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "summary.json").write_text("[1, 2]", encoding="utf-8")
    assert report.main([str(tmp_path / "a")]) == 2
    assert "not a summary" in capsys.readouterr().err


def test_missing_and_null_keys_leave_empty_cells(tmp_path: Path) -> None:
    rows = [{"iteration": 0}, {"iteration": 1, "eval/h2h_vs_sft/win": None}, {"iteration": 2}]
    _write_run(tmp_path / "runs", "sparse", "additive5", rows)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    md = _read(tmp_path / "out", "report.md")
    assert "_No run logged these metrics._" in md and "No run logged:" in md
    # The paper's Table 1 references are listed even when no run has a win rate.
    assert "20.44" not in md and "22.07" in md


def _ablation_run(
    root: Path, name: str, run_id: str, overrides: list[str], config: dict[str, Any]
) -> None:
    rows = _rows("additive5")
    summary = {
        "run": {
            "name": name,
            "run_id": run_id,
            "choices": {"judge": "additive5", "pairs": "best_worst"},
            "overrides": overrides,
            "config": config,
        },
        "rows": rows,
    }
    (root / name / run_id).mkdir(parents=True)
    (root / name / run_id / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_ablation_dims_eft_and_seeds(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for use_eft in ("true", "false"):
        _ablation_run(
            root, "eft_ablation", f"data.use_eft={use_eft}", [f"data.use_eft={use_eft}"], {}
        )
    for seed in (0, 1, 2):
        _ablation_run(root, "seeds", f"seed={seed}", [f"seed={seed}"], {"seed": seed})
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0

    eft = {r["data.use_eft"]: r for r in _csv_rows(out, "ablation_eft_ablation_data_use_eft")}
    assert list(eft) == ["true", "false"]
    assert (eft["true"]["AIFT(M1) pairs"], eft["true"]["Paper AIFT(M1) pairs"]) == ("137", "3964")
    assert (eft["false"]["Paper AIFT(M1) pairs"], eft["false"]["Paper AIFT(M2) pairs"]) == (
        "541",
        "429",
    )
    assert eft["true"]["Paper M1 vs SFT win %"] == "30.5"

    seeds = _csv_rows(out, "ablation_seeds_seed")
    assert [r["seed"] for r in seeds] == ["0", "1", "2", "mean", "sd"]
    assert float(seeds[3]["vs SFT win %"]) == 58.41 and float(seeds[4]["vs SFT win %"]) == 0.0
    # Runs of different experiment names are never compared with each other.
    assert not list(out.glob("ablation_*_judge.csv"))
    # Labels carry the experiment name when several are reported together.
    assert any(r["Run"] == "seeds/seed=1" for r in _csv_rows(out, "head_to_head"))


def test_seed_tables_give_each_models_mean_and_sd(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for pairs, lift in (("best_worst", 0.1), ("random_pairs", 0.0)):
        for seed in (0, 1, 2):
            run_id = f"pairs={pairs},seed={seed}"
            _ablation_run(root, "control", run_id, [f"pairs={pairs}", f"seed={seed}"], {})
            path = root / "control" / run_id / "summary.json"
            data = json.loads(path.read_text())
            for row in data["rows"]:  # accuracy: 0.5 at the baseline, + lift per iteration + seed
                row["eval/answer_accuracy"] = 0.5 + lift * row["iteration"] + 0.01 * seed
            path.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0

    rows = _csv_rows(out, "seeds_control_pairs")
    assert [(r["pairs"], r["Model"]) for r in rows[:4]] == [
        ("best_worst", "sft_baseline"),
        ("best_worst", "M1"),
        ("best_worst", "M2"),
        ("best_worst", "M3"),
    ]
    by = {(r["pairs"], r["Model"]): r for r in rows}
    judged, control = by[("best_worst", "M3")], by[("random_pairs", "M3")]
    assert judged["Seeds"] == "3" and float(judged["Answer acc. % mean"]) == 81.0
    assert float(judged["Answer acc. % sd"]) == 1.0
    assert float(control["Answer acc. % mean"]) == 51.0


def test_varying_dims_from_config_without_overrides() -> None:
    def run(iterations: int, pairs: str) -> report.Run:
        return report.Run(
            name="n",
            run_id=f"{iterations}{pairs}",
            choices={"pairs": pairs},
            overrides=[],
            config={"loop": {"iterations": iterations}},
            rows=[{"iteration": 0}],
            source="x",
        )

    runs = [run(1, "best_worst"), run(3, "best_worst"), run(3, "top_only")]
    assert report.varying_dims(runs) == ["pairs", "loop.iterations"]
    tables = report.ablation_tables(runs)
    assert [t.slug for t in tables] == ["ablation_n_pairs", "ablation_n_loop_iterations"]
    assert [c.header for c in tables[0].columns][:4] == ["pairs", "loop.iterations", "Run", "Model"]


class _FakeWandbRun:
    def __init__(self, judge: str) -> None:
        self.id = f"id-{judge}"
        self.name = f"judge={judge}"
        self.group = "judge_prompt"
        # As srlm.tracking sends it: the resolved config plus the choices; no overrides.
        self.config = {
            "name": "judge_prompt",
            "run_id": None,
            "seed": 0,
            "loop": {"iterations": 3},
            "choices": {"judge": judge, "pairs": "best_worst"},
        }
        self._judge = judge

    def scan_history(self) -> list[dict[str, Any]]:
        # wandb logs the metrics of one iteration in several steps; '_' keys are its own.
        history: list[dict[str, Any]] = [{"_step": 0, "_runtime": 1.0, "other": 1}]
        for i, row in enumerate(_rows(self._judge)):
            half = len(row) // 2
            items = list(row.items())
            it = {"iteration": row["iteration"]}
            history.append({**it, **dict(items[:half]), "_step": 2 * i + 1})
            history.append({**it, **dict(items[half:]), "_step": 2 * i + 2})
        return history


class _FakeApi:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def runs(self, path: str) -> list[_FakeWandbRun]:
        self.paths.append(path)
        return [_FakeWandbRun("additive5"), _FakeWandbRun("multiple_choice")]


def test_wandb_source_with_fake_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _FakeApi()
    monkeypatch.setattr("srlm.report.runs._wandb_api", lambda: api)
    out = tmp_path / "out"
    assert report.main(["--wandb", "me/srlm", "--out", str(out)]) == 0
    assert api.paths == ["me/srlm"]
    runs = report.load_wandb("me/srlm", api=api)
    assert [r.label for r in runs] == ["judge=additive5", "judge=multiple_choice"]
    assert runs[0].rows[2]["eval/h2h_vs_sft/win"] == 47.13 and "_step" not in runs[0].rows[2]
    assert [r["iteration"] for r in runs[0].rows] == [0, 1, 2, 3]
    h2h = _csv_rows(out, "head_to_head")
    assert any(r["Win"] == "47.13" and r["Paper win"] == "49.2" for r in h2h)
    assert (out / "ablation_judge_prompt_judge.csv").exists()


def test_pairs_ablation_top_only(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for pairs in ("top_only", "best_worst"):
        rows = _rows("additive5")
        if pairs == "top_only":  # top_only logs SFT examples, not pairs
            for row in rows:
                if row.pop("aift/num_pairs", None) is not None:
                    row["aift/num_examples"] = 40
        _ablation_run(root, "pairs_vs_top_only", f"pairs={pairs}", [f"pairs={pairs}"], {})
        summary = root / "pairs_vs_top_only" / f"pairs={pairs}" / "summary.json"
        data = json.loads(summary.read_text())
        data["rows"] = rows
        summary.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0
    rows = {r["pairs"]: r for r in _csv_rows(out, "ablation_pairs_vs_top_only_pairs")}
    assert list(rows) == ["best_worst", "top_only"]
    top = rows["top_only"]
    assert (top["Paper vs SFT win %"], top["Paper vs SFT loss %"]) == ("29.0", "30.0")
    assert (top["Top-only examples (all)"], top["Paper Top-only examples (all)"]) == ("80", "11254")
    # best_worst's final model is M3: Figure 3's M3 vs SFT baseline beside it.
    assert rows["best_worst"]["Paper vs SFT win %"] == "62.5"
    assert rows["best_worst"]["AIFT pairs (all)"] == "291"


# ------------------------------------------------------------------------------------------
# Plots: what can be checked without eyes, on the Figure objects the plot functions return
# ------------------------------------------------------------------------------------------


def _texts(fig: Any) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def _line_fig(runs: list[report.Run], stem: str) -> Any:
    spec = next(s for s in report.plots.LINE_PLOTS if s.stem == stem)
    return report.line_figure(runs, spec)


def _with_evaluator(runs_dir: Path, evaluator: dict[str, Any], alpaca: bool = False) -> None:
    """Give every fixture run an evaluator config (and AlpacaEval numbers) as the pipeline would."""
    for path in runs_dir.rglob("summary.json"):
        if "store" in path.parts or "_hydra" in path.parts:
            continue
        data = json.loads(path.read_text())
        data["run"]["config"]["evaluator"] = evaluator
        data["run"]["config"]["eval"] = {"alpaca_eval": {"annotators_config": "my_annotator"}}
        if alpaca:
            for row in data["rows"]:
                row["eval/alpaca/win_rate"] = 5.0 + row["iteration"]
        path.write_text(json.dumps(data))


def test_every_figure_has_a_title_and_honest_axes(runs_dir: Path) -> None:
    _with_evaluator(runs_dir, {"_target_": "srlm.eval.evaluators.OracleEvaluator"}, alpaca=True)
    runs = report.load_runs(runs_dir)
    figures = {stem: make(runs) for stem, (_, make) in report.PLOTS.items()}
    assert set(figures) == {
        "win_rate",
        "alpaca_eval",
        "pairwise_accuracy",
        "response_length",
        "num_pairs",
        "parse_fail_rate",
        "answer_accuracy",
        "judge_mean_score",
        "pair_truth",
        "score_length_corr",
    }
    for stem, fig in figures.items():
        assert fig is not None, stem
        assert fig.get_suptitle().strip(), f"{stem}: no title"
    # Lengths and counts from 0 (the fixture's lengths are 100-175 characters).
    for stem in ("response_length", "num_pairs"):
        assert figures[stem].axes[0].get_ylim()[0] == 0, stem
    # Rates and accuracies on the whole 0-100 % range, whatever the values.
    for stem in ("alpaca_eval", "pairwise_accuracy", "parse_fail_rate", "answer_accuracy"):
        assert figures[stem].axes[0].get_ylim() == (0, 100), stem
    # A score on its whole scale, a correlation on -1..1 (the fixture's is -0.2).
    assert figures["judge_mean_score"].axes[0].get_ylim() == (0, 5)
    assert figures["score_length_corr"].axes[0].get_ylim() == (-1, 1)
    for ax in figures["win_rate"].axes:
        assert ax.get_xlim() == (0, 100)


def test_win_rate_figure_shows_ties_beside_wins(runs_dir: Path) -> None:
    runs = report.load_runs(runs_dir)
    fig = report.head_to_head_figure(runs)
    ours, paper = fig.axes
    labels = fig.legends[0].get_texts()
    assert [t.get_text() for t in labels] == ["left model wins", "tie", "right model wins"]
    # One win, one tie and one loss segment per row; the tie segment starts where the win ends.
    rows = [t.get_text() for t in ours.get_yticklabels()]
    assert rows[1] == "judge=additive5: M2 vs SFT baseline"
    win, tie, loss = (ours.containers[k][1] for k in range(3))
    widths = (win.get_width(), tie.get_width(), loss.get_width())
    assert widths == pytest.approx((47.13, 35.0, 17.87))
    assert tie.get_x() == pytest.approx(47.13)
    # The paper's Figure 3 is drawn in its own panel, with its judge named.
    assert paper.containers[1][2].get_width() == pytest.approx(27.7)  # M3 vs SFT: tie
    assert "Paper, Llama 2 70B" in paper.get_title(loc="left")
    assert "GPT-4" in paper.get_title(loc="left")


def test_judge_labels_come_from_the_run_config(runs_dir: Path) -> None:
    runs = report.load_runs(runs_dir)
    # No evaluator in the config: the group choice (evaluator=oracle) names it.
    assert "judged by oracle" in report.head_to_head_figure(runs).axes[0].get_title(loc="left")

    api = {"_target_": "srlm.eval.evaluators.OpenAIEvaluator", "model": "gpt-4-1106-preview"}
    _with_evaluator(runs_dir, api, alpaca=True)
    runs = report.load_runs(runs_dir)
    h2h = _texts(report.head_to_head_figure(runs))
    assert "gpt-4-1106-preview via API" in h2h and "oracle" not in h2h

    alpaca = _line_fig(runs, "alpaca_eval")
    text = _texts(alpaca)
    assert "AlpacaEval annotator my_annotator" in text
    # The paper's Table 1 line is there, labelled as the paper's and with its annotator.
    paper = [line for line in alpaca.axes[0].get_lines() if line.get_label().startswith("paper")]
    assert len(paper) == 1 and "Llama 2 70B" in paper[0].get_label()
    assert "GPT-4 annotator" in paper[0].get_label()
    assert list(paper[0].get_ydata()) == [9.94, 15.38, 20.44]

    # The model's own judge: the runs differ in judge prompt, so each legend entry names it.
    pairwise = _line_fig(runs, "pairwise_accuracy")
    legend = [t.get_text() for t in pairwise.legends[0].get_texts()]
    assert "judge=additive5 [judge: M_t itself, additive5 prompt]" in legend
    assert any(e.startswith("paper, Llama 2 70B: the model as its own judge") for e in legend)
    # Every line is in the legend: nothing sits on an axis unlabelled.
    for stem in ("alpaca_eval", "pairwise_accuracy", "response_length", "parse_fail_rate"):
        fig = _line_fig(runs, stem)
        shown = {t.get_text() for t in fig.legends[0].get_texts()}
        assert {line.get_label() for line in fig.axes[0].get_lines()} <= shown, stem


def test_mixed_evaluators_are_named_per_row(runs_dir: Path) -> None:
    runs = report.load_runs(runs_dir)
    runs[0].config["evaluator"] = {"_target_": "srlm.eval.evaluators.LocalEvaluator"}
    runs[0].config["evaluator"]["model_name_or_path"] = "/models/judge-7b"
    fig = report.head_to_head_figure(runs)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows[0].endswith("[local model judge-7b, AlpacaEval prompt]")
    assert rows[-1].endswith("[oracle (true grade of the synthetic task)]")


def test_no_figure_without_data() -> None:
    run = report.Run("n", "r", {}, [], {}, [{"iteration": 0}], "x")
    assert report.head_to_head_figure([run]) is None
    assert all(make([run]) is None for _, make in report.PLOTS.values())
