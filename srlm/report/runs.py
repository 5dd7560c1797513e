"""Finished runs as the report reads them: every ``summary.json`` under a directory, or wandb.

How summary.json rows are read:
- win / tie / loss and the AlpacaEval win rate are percentages (0-100), as the paper prints them;
- agreement metrics and the other rates are fractions;
- the row of M_t carries the statistics of AIFT(M_t), the pairs M_t built to train M_{t+1}
  (M1 is trained by SFT, so the row of M1 cannot describe pairs that trained it);
- any key may be missing or null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srlm.artifacts import read_json

# summary.json keys read by more than one part of the report.
AGREEMENT: list[tuple[str, str, str]] = [  # (metric, header, fmt)
    ("pairwise_accuracy", "Pairwise acc. %", "pct"),
    ("five_best", "5-best %", "pct"),
    ("exact_match", "Exact match %", "pct"),
    ("spearman", "Spearman", "corr"),
    ("kendall_tau", "Kendall tau", "corr"),
]
H2H_SFT = "eval/h2h_vs_sft"
H2H_PREV = "eval/h2h_vs_prev"
H2H_M1 = "eval/h2h_vs_m1"  # the last model vs M1 (Figure 3's M3 vs M1)
ALPACA_WIN = "eval/alpaca/win_rate"

DIM_DEFAULTS: dict[str, Any] = {"data.use_eft": True}  # runs from before the key existed


class ReportError(Exception):
    """A problem the CLI reports in one line (exit status 2)."""


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def dig(tree: Any, dotted: str) -> Any:
    """``tree['a']['b']`` for ``'a.b'``; None when any part is missing."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _text(value: Any) -> str:
    """A config value as an override would spell it (so overrides and config compare equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def model_name(iteration: int) -> str:
    """The paper's name for the model of an iteration: SFT baseline at 0, M_t after."""
    return "sft_baseline" if iteration == 0 else f"M{iteration}"


@dataclass
class Run:
    """One run directory (or wandb run): its identity, its choices and its per-iteration rows."""

    name: str
    run_id: str
    choices: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    source: str
    label: str = ""

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=lambda r: r["iteration"])
        self.label = self.label or f"{self.name}/{self.run_id}"

    def row(self, iteration: int) -> dict[str, Any]:
        return next((r for r in self.rows if r["iteration"] == iteration), {})

    @property
    def final(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}

    def get(self, key: str, at: int | str = "final", scale: float = 1.0) -> float | None:
        """A metric at an iteration, at the final one, or summed / averaged over iterations."""
        if at in ("sum", "mean"):
            values = [r[key] for r in self.rows if is_number(r.get(key))]
            if not values:
                return None
            total = sum(values) if at == "sum" else sum(values) / len(values)
            return total * scale if scale != 1.0 else total
        row = self.final if at == "final" else self.row(int(at))
        value = row.get(key)
        if not is_number(value):
            return None
        return value * scale if scale != 1.0 else value

    def override_map(self) -> dict[str, str]:
        out = {}
        for token in self.overrides:
            if "=" not in token or token.startswith("~"):
                continue
            key, value = token.split("=", 1)
            out[key.lstrip("+")] = value
        return out

    def value(self, key: str) -> str:
        """What this run chose for a config key: its override, its group choice, or its config."""
        overrides = self.override_map()
        if key in overrides:
            value = overrides[key]
            return value.lower() if value.lower() in ("true", "false") else value
        if key in self.choices:
            return _text(self.choices[key])
        found = dig(self.config, key)
        if found is None and key in DIM_DEFAULTS:
            found = DIM_DEFAULTS[key]
        return _text(found)


def _normalise_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        row = dict(row)
        iteration = row.get("iteration", i)
        row["iteration"] = int(iteration) if is_number(iteration) else i
        row.setdefault("model", model_name(row["iteration"]))
        out.append(row)
    return out


def find_summaries(runs_dir: Path) -> list[Path]:
    """Every summary.json below runs_dir, except in the shared store and Hydra's log dirs."""
    found = []
    for path in sorted(runs_dir.rglob("summary.json")):
        parts = path.relative_to(runs_dir).parts[:-1]
        if any(p in ("store", "_hydra") for p in parts):
            continue
        found.append(path)
    return found


def load_summary(path: Path) -> Run:
    try:
        data = read_json(path)
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot read summary ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ReportError(f"{path}: not a summary (expected an object with a 'rows' list)")
    info = data.get("run") or {}
    return Run(
        name=str(info.get("name") or path.parent.parent.name),
        run_id=str(info.get("run_id") or path.parent.name),
        choices=dict(info.get("choices") or {}),
        overrides=[str(o) for o in info.get("overrides") or []],
        config=dict(info.get("config") or {}),
        rows=_normalise_rows(data["rows"]),
        source=str(path.parent),
    )


def load_runs(runs_dir: Path) -> list[Run]:
    if not runs_dir.is_dir():
        raise ReportError(f"{runs_dir}: not a directory")
    paths = find_summaries(runs_dir)
    if not paths:
        raise ReportError(f"no summary.json under {runs_dir} (store/ and _hydra/ are skipped)")
    return _label([load_summary(p) for p in paths])


def _label(runs: list[Run]) -> list[Run]:
    """Short unique labels: the run id alone when every run shares one experiment name."""
    single_name = len({r.name for r in runs}) == 1
    for run in runs:
        run.label = run.run_id if single_name else f"{run.name}/{run.run_id}"
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.source})"
    return runs


def _wandb_api() -> Any:
    import wandb  # lazy: only the --wandb path needs it

    return wandb.Api()


def _unwrap_wandb_config(config: dict[str, Any]) -> dict[str, Any]:
    """Old wandb exports wrap each value as {"value": v, "desc": ...}; take the values."""
    if config and all(isinstance(v, dict) and "value" in v for v in config.values()):
        return {k: v["value"] for k, v in config.items()}
    return config


def load_wandb(path: str, api: Any | None = None) -> list[Run]:
    """The same runs from wandb: history rows merged per ``iteration``, config as logged."""
    api = api if api is not None else _wandb_api()
    runs = []
    for wrun in api.runs(path):
        config = _unwrap_wandb_config(dict(wrun.config or {}))
        history = (
            wrun.scan_history() if hasattr(wrun, "scan_history") else wrun.history(pandas=False)
        )
        by_iteration: dict[int, dict[str, Any]] = {}
        for record in history:
            iteration = record.get("iteration")
            if not is_number(iteration):
                continue
            row = by_iteration.setdefault(int(iteration), {"iteration": int(iteration)})
            for key, value in record.items():
                if not key.startswith("_") and value is not None and key != "iteration":
                    row[key] = value
        choices = config.get("choices") or dig(config, "hydra.runtime.choices") or {}
        runs.append(
            Run(
                name=str(getattr(wrun, "group", None) or config.get("name") or path),
                run_id=str(config.get("run_id") or wrun.name),
                choices=dict(choices),
                overrides=[str(o) for o in config.get("overrides") or []],
                config=config,
                rows=_normalise_rows(by_iteration[i] for i in sorted(by_iteration)),
                source=f"wandb:{path}/{wrun.id}",
            )
        )
    if not runs:
        raise ReportError(f"no runs in wandb project {path}")
    return _label(runs)
