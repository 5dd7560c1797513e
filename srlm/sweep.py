"""A sweep (``python run.py -m ...``) that reports its failed jobs and exits non-zero.

Hydra catches a job's exception and, without this, srlm's jobs looked done: the SLURM job ended
COMPLETED 0:0 and the sweep exited 0. ``SweepReport`` (registered in conf/config.yaml under
``hydra.callbacks``) records every job's outcome in ``<sweep dir>/.srlm_jobs/<num>.json``:

* ``on_job_end`` runs where the job runs (the sweep's process for the basic launcher, a worker for
  joblib, the SLURM job for submitit): a job that raised is recorded with its one-line error
  (``srlm.errors.one_line``, as on the console of a single run). Its return is then marked as
  reported, so that Hydra goes on with the other jobs instead of raising the first error.
* a job that never reaches ``on_job_end`` (cancelled, out of time, killed) is recorded by the
  launcher that waited for it (``srlm.slurm.SlurmLauncher``).
* ``on_multirun_end`` runs in the sweep's process once every job is done: it lists the failed
  jobs, one line each, and exits with status 1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from srlm.errors import one_line

log = logging.getLogger("srlm")

RECORDS = ".srlm_jobs"  # under the sweep dir
EXIT_FAILED = 1


@dataclass(frozen=True)
class JobFailed:
    """What a failed job returns once its failure is recorded (in place of the exception)."""

    error: str


def records_dir(sweep_dir: str | Path) -> Path:
    return Path(sweep_dir) / RECORDS


def write_record(sweep_dir: str | Path, num: int, **record: Any) -> Path:
    """Write job ``num``'s outcome (``status``: ok | failed, and ``error`` for a failed one)."""
    folder = records_dir(sweep_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{int(num)}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{num}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"num": int(num), **record}, f, indent=1, default=str)
    os.replace(tmp, path)  # the sweep's process never reads half a record
    return path


def read_records(sweep_dir: str | Path) -> list[dict[str, Any]]:
    records = []
    for path in records_dir(sweep_dir).glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            records.append({"num": int(path.stem), "status": "failed", "error": f"{path}: {e}"})
    return sorted(records, key=lambda r: int(r["num"]))


def failure_lines(records: list[dict[str, Any]]) -> list[str]:
    """The sweep's report: a header, then one line per failed job."""
    failed = [r for r in records if r.get("status") != "ok"]
    if not failed:
        return []
    lines = [f"srlm: sweep: {len(failed)} of {len(records)} jobs failed:"]
    for r in failed:
        overrides = " ".join(r.get("overrides") or []) or "(no overrides)"
        where = f" [log: {r['log']}]" if r.get("log") else ""
        lines.append(f"  #{r['num']} {overrides}: {r.get('error') or 'failed'}{where}")
    return lines


def mark_reported(job_return: JobReturn, error: str) -> None:
    """Hydra's sweepers raise the first failed job's exception once a batch is back, and then
    neither the other batches nor ``on_multirun_end`` run. A failure that is recorded is
    reported by ``on_multirun_end`` instead."""
    job_return.status = JobStatus.COMPLETED
    job_return.return_value = JobFailed(error)


def has_sweep_report(callbacks: Any) -> bool:
    """Whether Hydra's callbacks include ``SweepReport`` (a launcher records only then)."""
    return any(isinstance(c, SweepReport) for c in getattr(callbacks, "callbacks", []) or [])


def _log_files() -> set[str]:
    return {
        h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
    }


def _job_log(config: DictConfig, before: set[str]) -> str | None:
    """The log the job opened (srlm's run.log), else Hydra's job log, else the output dir."""
    opened = sorted(f for f in _log_files() - before if Path(f).exists())
    if opened:
        return opened[-1]
    output_dir = OmegaConf.select(config, "hydra.runtime.output_dir")
    name = OmegaConf.select(config, "hydra.job.name")
    if output_dir and name:
        path = Path(output_dir) / f"{name}.log"
        if path.exists():
            return str(path)
    return output_dir


class SweepReport(Callback):
    """Records each job's outcome and, at the end of a sweep, lists the failed ones and exits 1."""

    def __init__(self) -> None:
        self._logs_before: set[str] = set()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # A sweep dir set by hand may hold an earlier sweep's records.
        folder = records_dir(config.hydra.sweep.dir)
        for path in folder.glob("*.json") if folder.is_dir() else ():
            path.unlink()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._logs_before = _log_files()  # a log opened after this is the job's own

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return  # a single run reports its own error (run.py)
        failed = job_return.status == JobStatus.FAILED
        record: dict[str, Any] = {
            "status": "failed" if failed else "ok",
            "overrides": list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or []),
            "output_dir": OmegaConf.select(config, "hydra.runtime.output_dir"),
        }
        slurm_job = os.environ.get("SLURM_ARRAY_JOB_ID")
        if slurm_job:
            record["slurm_job"] = f"{slurm_job}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
        elif os.environ.get("SLURM_JOB_ID"):
            record["slurm_job"] = os.environ["SLURM_JOB_ID"]
        if failed:
            exc = job_return._return_value
            error = one_line(exc) if isinstance(exc, BaseException) else str(exc)
            record |= {"error": error, "log": _job_log(config, self._logs_before)}
        write_record(config.hydra.sweep.dir, config.hydra.job.num, **record)
        if failed:
            mark_reported(job_return, record["error"])

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = config.hydra.sweep.dir
        records = read_records(sweep_dir)
        lines = failure_lines(records)
        if not lines:
            log.info("sweep: %d jobs done: %s", len(records), sweep_dir)
            return
        sys.stdout.flush()
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.exit(EXIT_FAILED)
