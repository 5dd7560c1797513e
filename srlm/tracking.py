"""summary.json and wandb: every per-iteration metric, one row per evaluated model.

``summary.json`` is the source of truth (the report and the tests read it); wandb mirrors it with
``iteration`` as the step metric, so runs of a sweep overlay by iteration in the dashboard. The
wandb run id lives in the run directory: a resumed job continues the same wandb run, and rows
already sent are not sent twice. wandb trouble (no network, bad key) never stops a run: it falls
back to offline, then to nothing, and says so.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any

from srlm.artifacts import read_json, write_json

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, run_dir: Path, run_info: dict[str, Any], logger_cfg: dict[str, Any]):
        self.run_dir = run_dir
        self.summary_path = run_dir / "summary.json"
        self.run_info = run_info
        self.rows: dict[str, dict[str, Any]] = {}
        if self.summary_path.exists():
            for row in read_json(self.summary_path).get("rows", []):
                self.rows[row["model"]] = row
        self.sent_path = run_dir / "wandb_sent.json"
        self.sent: dict[str, list[str]] = (
            read_json(self.sent_path) if self.sent_path.exists() else {}
        )
        self.wandb = None
        if logger_cfg.get("kind") == "wandb":
            self.wandb = _init_wandb(run_dir, run_info, logger_cfg)

    def log(self, model: str, iteration: int, metrics: dict[str, Any]) -> None:
        row = self.rows.setdefault(model, {"iteration": iteration, "model": model})
        row.update({k: _clean(v) for k, v in metrics.items()})
        self._write()
        if self.wandb is not None:
            new = {
                k: v
                for k, v in row.items()
                if k not in ("model",) and k not in self.sent.get(model, [])
            }
            new = {k: v for k, v in new.items() if isinstance(v, int | float) and v is not None}
            if set(new) - {"iteration"}:
                new["iteration"] = iteration
                self.wandb.log(new)
                self.sent.setdefault(model, []).extend(k for k in new if k != "iteration")
                write_json(self.sent_path, self.sent)

    def log_table(
        self, name: str, iteration: int, columns: list[str], data: list[list[Any]]
    ) -> None:
        if self.wandb is None:
            return
        import wandb

        key = f"{name}@{iteration}"
        if key in self.sent.get("_tables", []):
            return
        self.wandb.log({name: wandb.Table(columns=columns, data=data), "iteration": iteration})
        self.sent.setdefault("_tables", []).append(key)
        write_json(self.sent_path, self.sent)

    def finish(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None

    def _write(self) -> None:
        rows = sorted(
            self.rows.values(), key=lambda r: (r["iteration"], r["model"] != "sft_baseline")
        )
        write_json(self.summary_path, {"run": self.run_info, "rows": rows})


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def _init_wandb(run_dir: Path, run_info: dict[str, Any], cfg: dict[str, Any]):
    try:
        import wandb
    except ImportError:
        log.warning("logger=wandb but wandb is not installed: metrics go to summary.json only")
        return None
    id_path = run_dir / "wandb_run_id.txt"
    run_id = id_path.read_text().strip() if id_path.exists() else uuid.uuid4().hex[:8]
    id_path.write_text(run_id + "\n")
    choices = run_info.get("choices", {})
    kwargs = dict(
        project=cfg.get("project") or "srlm",
        entity=cfg.get("entity"),
        group=run_info.get("name"),
        name=run_info.get("run_id"),
        id=run_id,
        resume="allow",
        dir=str(run_dir),
        config={**run_info.get("config", {}), "choices": choices},
        tags=[
            f"{k}={v}"
            for k, v in sorted(choices.items())
            if k in ("model", "judge", "pairs", "data", "train")
        ],
        settings=wandb.Settings(silent=True, init_timeout=60),
    )
    mode = os.environ.get("WANDB_MODE") or cfg.get("mode") or "offline"
    for attempt in dict.fromkeys([mode, "offline"]):
        try:
            run = wandb.init(mode=attempt, **kwargs)
            run.define_metric("iteration")
            run.define_metric("*", step_metric="iteration")
            if attempt != mode:
                log.warning(
                    "wandb %s failed; logging offline to %s (wandb sync later)",
                    mode,
                    run_dir / "wandb",
                )
            return run
        except Exception as e:  # noqa: BLE001 - a tracker must never stop the run
            log.warning(
                "wandb init (%s) failed: %s",
                attempt,
                str(e).splitlines()[0] if str(e) else type(e).__name__,
            )
    log.warning("wandb unavailable: metrics go to summary.json only")
    return None
